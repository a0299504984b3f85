"""Verification in conversation: identify, choose where the code goes, enter the code.

These actions are the way in, so they run before verification; they show only masked contact
details, and only after the customer has been identified. Slot values are replaced by markers
once checked ("provided", "verified"); the identifier, needed on the next turn, is sealed
(encrypted) until then. No identifier, factor or code stays readable in a slot.

Details given with the request ("acct 7301004821 zip 30309, how far behind am i") are read by
`action_remember_task` in that same turn and sealed into the form's slots, bound to this
conversation and slot; the form validates them on activation exactly as if they had been typed
at its questions. A customer signed in on the website is not asked who they are: the step-up
(actions/runtime.py) fills the first two answers with "provided" and the form asks only where
to send the code.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.runtime import (
    ACCOUNT_SLOT, RESUMABLE_TASKS, TECHNICAL_PROBLEM, call, container, start_verification, step_up_events,
)
from autofinance.domain.parsing import (
    parse_identifier, parse_identity_factor, parse_otp_code, parse_stated_identity,
)
from autofinance.adapters.sealing import seal, unseal
from autofinance.services import identity
from autofinance.services.errors import (
    CodeAlreadyUsed,
    CodeExpired,
    CodeInvalid,
    CodeSendLimitReached,
    NoPendingVerification,
    ServiceError,
    VerificationLocked,
)

logger = logging.getLogger(__name__)

IDENTITY_SLOTS = ("identifier", "identity_factor", "otp_channel", "otp_code")
LOCKED = "locked"
PROVIDED = "provided"
SEALED = "sealed:"
_IDENTIFIER_REFUSED = ("That doesn't look like an account number (10 digits) or an online "
                       "username. Could you check it and send it again?")
_FACTOR_REFUSED = ("Please send your 5-digit ZIP code, your date of birth (like 03/14/1985), "
                   "or the last 4 digits of your SSN.")
_RESEND = re.compile(r"\b(resend|re-send|send (it )?again|new code|didn'?t (get|receive)|never got)\b", re.I)
_EMAIL = re.compile(r"\b(e-?mail|mail|inbox)\b", re.I)
_SMS = re.compile(r"\b(text|sms|phone|mobile|cell|txt)\b", re.I)


def _stop_form(dispatcher: CollectingDispatcher, message: str) -> dict[str, Any]:
    """Ends the form without verifying: every slot gets a marker, the submit step explains."""
    dispatcher.utter_message(text=message)
    return {slot: LOCKED for slot in IDENTITY_SLOTS}


def client_key(tracker: Tracker) -> Optional[str]:
    """The channel's keyed hash of the client's address (message metadata `client_key`, set
    server-side by our channels); None when the channel gives none."""
    key = (tracker.latest_message.get("metadata") or {}).get("client_key")
    return key if isinstance(key, str) and key else None


def parse_channel(text: str, entity_value: Optional[str]) -> Optional[str]:
    if entity_value in ("email", "sms"):
        return entity_value
    if _EMAIL.search(text or ""):
        return "email"
    if _SMS.search(text or ""):
        return "sms"
    return None


class ActionRememberTask(Action):
    """Remembers what the customer asked for, to do it once they are verified."""

    def name(self) -> str:
        return "action_remember_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        task = intent if intent in RESUMABLE_TASKS else None
        start = await start_verification(tracker, dispatcher)
        if start is None:  # blocked: the customer was told why; the form must not start
            return [SlotSet("pending_task", None), *details.capture_events(tracker),
                    FollowupAction("action_listen")]
        prefilled = start or stated_identity_events(tracker)
        return [SlotSet("pending_task", task), *prefilled, *details.capture_events(tracker)]


def _entities(tracker: Tracker) -> dict[str, str]:
    """The first value of each entity of the latest message."""
    found: dict[str, str] = {}
    for entity in tracker.latest_message.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if isinstance(name, str) and isinstance(value, (str, int)) and name not in found:
            found[name] = str(value)
    return found


def stated_identity_events(tracker: Tracker) -> list[EventType]:
    """The identity form's slots for a request that may carry its own details: each detail
    given, sealed for this conversation and slot, or None (asked by the form). The rest of the
    form starts empty, so an earlier, unfinished verification never carries over."""
    stated = parse_stated_identity(tracker.latest_message.get("text") or "", _entities(tracker))
    values = {
        "identifier": _seal_stated(tracker, "identifier", stated.identifier[1]) if stated.identifier else None,
        "identity_factor": _seal_stated(tracker, "identity_factor", stated.factor[1]) if stated.factor else None,
    }
    # Rasa validates every form slot set since the customer's message, None included: only
    # what changes is set (the validators take None for "nothing given").
    return [SlotSet(slot, values.get(slot)) for slot in (*IDENTITY_SLOTS, "masked_email", "masked_phone")
            if values.get(slot) is not None or tracker.get_slot(slot) is not None]


def _seal_stated(tracker: Tracker, slot: str, value: str) -> str:
    """A detail kept for the form, readable only by this conversation's form, for this slot,
    for the sealing lifetime (15 minutes)."""
    payload = json.dumps({"stated": slot, "conversation": tracker.sender_id, "value": value})
    return seal(payload, container().settings.secret_pepper)


def _unseal_stated(tracker: Tracker, slot: str, sealed: Any) -> Optional[str]:
    """The detail `_seal_stated` kept for this conversation and slot; None for anything else
    (another conversation's or slot's value, an expired or forged one, plain text)."""
    opened = unseal(sealed if isinstance(sealed, str) else None, container().settings.secret_pepper)
    try:
        payload = json.loads(opened) if opened is not None else None
    except ValueError:
        return None
    if (not isinstance(payload, dict) or payload.get("stated") != slot
            or payload.get("conversation") != tracker.sender_id
            or not isinstance(payload.get("value"), str)):
        return None
    return payload["value"]


def _identifier_in(tracker: Tracker, slot: Any) -> Optional[str]:
    """The identifier the form's slot holds sealed (as its validation sealed it, or as given
    with the request), or None."""
    stated = _unseal_stated(tracker, "identifier", slot)
    if stated is not None:
        parsed = parse_identifier(stated)
        return parsed[1] if parsed else None
    opened = unseal(slot if isinstance(slot, str) else None, container().settings.secret_pepper)
    if opened is None or opened.startswith("{"):  # a detail sealed for another conversation
        return None
    return opened


def _is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def _typed(tracker: Tracker, value: Any) -> bool:
    """Whether `value` is what the customer just typed (the form's from_text answer), rather
    than a marker an action set."""
    return str(value).strip() == (tracker.latest_message.get("text") or "").strip()


def _marker(tracker: Tracker, value: Any) -> bool:
    """"provided" set by the step-up (never what the customer typed)."""
    return value == PROVIDED and not _typed(tracker, value)


async def _start_again(dispatcher: CollectingDispatcher, tracker: Tracker, cleared: dict[str, Any],
                       message: str, signed_in_message: str) -> dict[str, Any]:
    """After the pending verification ended (expired, used, replaced): a customer signed in on
    the website steps up again, so only the code is asked; anyone else gets `cleared`."""
    try:
        prefilled = await step_up_events(tracker)
    except VerificationLocked as error:
        return _stop_form(dispatcher, error.message)
    except Exception:  # noqa: BLE001 - the whole form still works
        logger.exception("restarting the step-up failed")
        prefilled = None
    if prefilled is None:
        dispatcher.utter_message(text=message)
        return cleared
    dispatcher.utter_message(text=signed_in_message)
    return {event["name"]: event["value"] for event in prefilled}


class ValidateIdentityForm(FormValidationAction):
    """Checks each answer of the identity form against the identity service."""

    def name(self) -> str:
        return "validate_identity_form"

    async def validate_identifier(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:  # cleared before the form started: nothing to check
            return {"identifier": None}
        if _marker(tracker, value):
            return {"identifier": PROVIDED}
        text = _unseal_stated(tracker, "identifier", value) if _is_sealed(value) else str(value)
        parsed = parse_identifier(text) if text is not None else None
        if parsed is None:
            dispatcher.utter_message(text=_IDENTIFIER_REFUSED)
            return {"identifier": None}
        sealed = seal(parsed[1], container().settings.secret_pepper)
        kept = tracker.get_slot("identity_factor")
        if not _is_sealed(kept) or "identity_factor" in tracker.slots_to_validate():
            return {"identifier": sealed}
        # A factor given before the identifier (kept sealed): check the pair now, as if the
        # factor had been typed after this answer.
        factor = _unseal_stated(tracker, "identity_factor", kept)
        parsed_factor = parse_identity_factor(factor) if factor is not None else None
        if parsed_factor is None:  # expired: ask for it
            return {"identifier": sealed, "identity_factor": None}
        return {"identifier": sealed,
                **await self._identify(parsed[1], parsed_factor[1], dispatcher, tracker)}

    async def validate_identity_factor(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"identity_factor": None}
        if _marker(tracker, value) and tracker.get_slot("identifier") == PROVIDED:
            return {"identity_factor": PROVIDED}
        text = _unseal_stated(tracker, "identity_factor", value) if _is_sealed(value) else str(value)
        parsed = parse_identity_factor(text) if text is not None else None
        if parsed is None:
            dispatcher.utter_message(text=_FACTOR_REFUSED)
            return {"identity_factor": None}
        slot = tracker.get_slot("identifier")
        if slot is None:  # given before the identifier: kept sealed until it comes
            return {"identity_factor": _seal_stated(tracker, "identity_factor", parsed[1])}
        identifier = _identifier_in(tracker, slot)
        if identifier is None:  # expired or tampered with: ask again rather than guess
            dispatcher.utter_message(text="Sorry, let's start from your account number or username again.")
            return {"identifier": None, "identity_factor": None}
        return await self._identify(identifier, parsed[1], dispatcher, tracker)

    async def _identify(self, identifier: str, factor: str, dispatcher: CollectingDispatcher,
                        tracker: Tracker) -> dict[str, Any]:
        """Checks an identifier and a factor with the identity service (its limits count)."""
        pepper = container().settings.secret_pepper
        try:
            options = await call(
                identity.identify, tracker.sender_id, identifier, factor, pepper, container().uow(),
                client_key=client_key(tracker),
            )
        except VerificationLocked as error:
            return _stop_form(dispatcher, error.message)
        except ServiceError as error:  # IdentificationFailed: same answer, account or not
            dispatcher.utter_message(text=error.message)
            return {"identifier": None, "identity_factor": None}
        return {
            "identifier": PROVIDED,
            "identity_factor": PROVIDED,
            "masked_email": options.email_masked,
            "masked_phone": options.phone_masked,
            # identified by an account number: that account is the one to talk about
            **({ACCOUNT_SLOT: str(options.account_id)} if options.account_id is not None else {}),
        }

    async def validate_otp_channel(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"otp_channel": None}
        if value == LOCKED:
            return {"otp_channel": LOCKED}
        channel = parse_channel(str(value), next(tracker.get_latest_entity_values("otp_channel"), None))
        if channel is None:
            dispatcher.utter_message(text="Should I send the code by email or by text message?")
            return {"otp_channel": None}
        try:
            sent = await call(
                identity.send_code, tracker.sender_id, channel, container().settings.secret_pepper,
                container().uow(),
            )
        except (CodeSendLimitReached, VerificationLocked) as error:
            return _stop_form(dispatcher, error.message)
        except NoPendingVerification as error:
            return await _start_again(
                dispatcher, tracker, {"identifier": None, "identity_factor": None, "otp_channel": None},
                error.message, "Sorry, that took too long. Let's send you a new code.")
        where = "email" if sent.channel == "email" else "text"
        dispatcher.utter_message(text=f"I've sent a 6-digit code by {where} to {sent.destination_masked}.")
        return {"otp_channel": channel}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"otp_code": None}
        if value == LOCKED:
            return {"otp_code": LOCKED}
        text = str(value)
        if _RESEND.search(text):
            dispatcher.utter_message(text="No problem, I'll send a new code.")
            return {"otp_code": None, "otp_channel": None}
        code = parse_otp_code(text)
        if code is None:
            dispatcher.utter_message(
                text="The code is 6 digits. Please type it as you received it, or say "
                "\"resend\" for a new one."
            )
            return {"otp_code": None}
        try:
            verified = await call(
                identity.verify_code, tracker.sender_id, code, container().settings.secret_pepper,
                container().uow(), channel=tracker.get_latest_input_channel() or "unknown",
            )
        except CodeInvalid as error:
            dispatcher.utter_message(text=error.message)
            return {"otp_code": None}
        except (CodeExpired, CodeAlreadyUsed, NoPendingVerification) as error:
            return await _start_again(dispatcher, tracker, {slot: None for slot in IDENTITY_SLOTS},
                                      f"{error.message} Let's start again.", error.message)
        except VerificationLocked as error:
            return _stop_form(dispatcher, error.message)
        return {"otp_code": "verified", "customer_first_name": verified.first_name}


class ActionAskOtpChannel(Action):
    """Offers the two masked destinations for the code, as buttons."""

    def name(self) -> str:
        return "action_ask_otp_channel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        email, phone = tracker.get_slot("masked_email"), tracker.get_slot("masked_phone")
        dispatcher.utter_message(
            text=f"Thanks. Where should I send your verification code: by email to {email}, "
            f"or by text to {phone}?",
            buttons=[
                {"title": f"Email {email}", "payload": '/inform{"otp_channel":"email"}'},
                {"title": f"Text {phone}", "payload": '/inform{"otp_channel":"sms"}'},
            ],
        )
        return []


class ActionIdentitySubmit(Action):
    """Ends verification: confirms with the store, then clears the form for next time."""

    def name(self) -> str:
        return "action_identity_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        cleared = [SlotSet(slot, None) for slot in (*IDENTITY_SLOTS, "masked_email", "masked_phone")]
        verified = None
        if tracker.get_slot("otp_code") == "verified":
            try:
                verified = await call(
                    identity.require_verified, tracker.sender_id, "read", container().uow(),
                    channel=tracker.get_latest_input_channel(),
                )
            except ServiceError:
                verified = None
            except Exception:  # noqa: BLE001
                logger.exception("confirming verification failed")
                dispatcher.utter_message(text=TECHNICAL_PROBLEM)
        if verified is None:
            dispatcher.utter_message(response="utter_handoff_offer")
            return [*cleared, SlotSet("verified", False), SlotSet("pending_task", None)]
        name = tracker.get_slot("customer_first_name") or "there"
        dispatcher.utter_message(text=f"Thank you, {name}, you're verified.")
        return [*cleared, SlotSet("verified", True)]
