"""Verification in conversation: identify, choose where the code goes, enter the code.

These actions are the way in, so they run before verification; they show only masked contact
details, and only after the customer has been identified. Slot values are replaced by markers
once checked ("provided", "verified"); the identifier, needed on the next turn, is sealed
(encrypted) until then. No identifier, factor or code stays readable in a slot.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import RESUMABLE_TASKS, TECHNICAL_PROBLEM, call, container
from autofinance.domain.parsing import parse_identifier, parse_identity_factor, parse_otp_code
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
        dispatcher.utter_message(response="utter_need_verification")
        return [SlotSet("pending_task", intent if intent in RESUMABLE_TASKS else None)]


class ValidateIdentityForm(FormValidationAction):
    """Checks each answer of the identity form against the identity service."""

    def name(self) -> str:
        return "validate_identity_form"

    async def validate_identifier(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        parsed = parse_identifier(str(value))
        if parsed is None:
            dispatcher.utter_message(
                text="That doesn't look like an account number (10 digits) or an online "
                "username. Could you check it and send it again?"
            )
            return {"identifier": None}
        return {"identifier": seal(parsed[1], container().settings.secret_pepper)}

    async def validate_identity_factor(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        parsed = parse_identity_factor(str(value))
        if parsed is None:
            dispatcher.utter_message(
                text="Please send your 5-digit ZIP code, your date of birth (like 03/14/1985), "
                "or the last 4 digits of your SSN."
            )
            return {"identity_factor": None}
        pepper = container().settings.secret_pepper
        identifier = unseal(tracker.get_slot("identifier"), pepper)
        if identifier is None:  # expired or tampered with: ask again rather than guess
            dispatcher.utter_message(text="Sorry, let's start from your account number or username again.")
            return {"identifier": None, "identity_factor": None}
        try:
            options = await call(
                identity.identify, tracker.sender_id, identifier, parsed[1], pepper, container().uow(),
                client_key=client_key(tracker),
            )
        except VerificationLocked as error:
            return _stop_form(dispatcher, error.message)
        except ServiceError as error:  # IdentificationFailed: same answer, account or not
            dispatcher.utter_message(text=error.message)
            return {"identifier": None, "identity_factor": None}
        return {
            "identifier": "provided",
            "identity_factor": "provided",
            "masked_email": options.email_masked,
            "masked_phone": options.phone_masked,
        }

    async def validate_otp_channel(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
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
            dispatcher.utter_message(text=error.message)
            return {"identifier": None, "identity_factor": None, "otp_channel": None}
        where = "email" if sent.channel == "email" else "text"
        dispatcher.utter_message(text=f"I've sent a 6-digit code by {where} to {sent.destination_masked}.")
        return {"otp_channel": channel}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
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
            dispatcher.utter_message(text=f"{error.message} Let's start again.")
            return {slot: None for slot in IDENTITY_SLOTS}
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
