"""Verification details given with the request count: the identity form starts with them and
asks only for what is missing, checking them exactly as if they had been typed at its questions.

`Conversation` drives the actions the way Rasa does: the request runs `action_remember_task`,
then the identity form activates and Rasa validates the slots already filled (a temporary
tracker ending with `requested_slot`, the form's `ActionExecuted` and one `SlotSet` per
prefilled slot); each answer then fills the requested slot from its text. It keeps every event
as Rasa would store it, for the redaction checks in tests/security.
"""
from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from sqlalchemy import func, select

from actions.identity import (
    IDENTITY_SLOTS, ActionAskOtpChannel, ActionIdentitySubmit, ActionRememberTask,
    ValidateIdentityForm,
)
from autofinance.adapters.store.models import AttemptCounter, CountedAttempt, OutboxMessage
from autofinance.bootstrap import Container
from autofinance.services import identity
from autofinance.services.outbox import newest_messages
from tests.actions.conftest import domain

FORM = "identity_form"
ASKS = {"identifier": "utter_ask_identifier", "identity_factor": "utter_ask_identity_factor",
        "otp_code": "utter_ask_otp_code"}


class Conversation:
    """One conversation through the identity form, driven as Rasa drives the actions."""

    def __init__(self, sender: str, metadata: Optional[dict[str, Any]] = None,
                 channel: Optional[str] = None) -> None:
        self.sender, self.metadata, self.channel = sender, metadata or {}, channel
        self.slots: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []  # as Rasa would store them (before redaction)
        self.active = False
        self.requested: Optional[str] = None
        self.said: list[str] = []  # what the bot said in the latest turn

    # --- driving ---------------------------------------------------------------------------

    async def ask(self, text: str, intent: str = "check_balance",
                  entities: Optional[list[dict[str, Any]]] = None, action: Any = None) -> str:
        """A request: by default one while not verified (the rules run `action_remember_task`,
        then the identity form); else `action`, and the form if it asks for it."""
        self.said = []
        message = self._user(text, intent, entities)
        action = action or ActionRememberTask()
        events = await self._run(action, message, action.name())
        followups = [e.get("name") for e in events if e.get("event") == "followup"]
        if "action_listen" in followups or (
                not isinstance(action, ActionRememberTask) and FORM not in followups):
            return self.latest
        self.events += [{"event": "action", "name": FORM}, {"event": "active_loop", "name": FORM}]
        self.active = True
        prefilled = {slot: self.slots[slot] for slot in IDENTITY_SLOTS if self.slots.get(slot) is not None}
        header = [{"event": "slot", "name": "requested_slot", "value": None},
                  {"event": "action", "name": FORM}]
        if prefilled:  # FormAction.activate: the slots already filled
            await self._run(ValidateIdentityForm(), message, None, extra=[
                *header, *({"event": "slot", "name": k, "value": v} for k, v in prefilled.items())])
        else:  # FormAction.do: every form slot set since the customer's message, None too
            since = self.events[max(i for i, e in enumerate(self.events) if e["event"] == "user"):]
            candidates = {e["name"]: e["value"] for e in since
                          if e["event"] == "slot" and e["name"] in IDENTITY_SLOTS}
            if candidates:
                await self._run(ValidateIdentityForm(), message, None, extra=[
                    *header, *({"event": "slot", "name": k, "value": v} for k, v in candidates.items())])
        await self._request_next(message)
        return self.latest

    async def answer(self, text: str, entities: Optional[list[dict[str, Any]]] = None) -> str:
        """An answer to the form's question: it fills the requested slot, then validation."""
        assert self.active and self.requested, "the form is not asking anything"
        self.said = []
        message = self._user(text, "inform", entities)
        slot = self.requested
        entity = next((e["value"] for e in entities or [] if e.get("entity") == slot), None)
        candidate = {"event": "slot", "name": slot, "value": entity or text}
        self.events.append({"event": "action", "name": FORM})
        await self._run(ValidateIdentityForm(), message, None, extra=[candidate])
        await self._request_next(message)
        return self.latest

    async def verify_with_code(self) -> str:
        """Chooses email, enters the code sent there, and submits: what the bot said last."""
        if self.requested == "otp_channel":
            await self.answer("email", [{"entity": "otp_channel", "value": "email"}])
        await self.answer(self.latest_code())
        assert not self.active, self.latest
        return self.latest

    def latest_code(self) -> str:
        from actions.runtime import container
        [message] = newest_messages(container().uow(), container().settings.secret_pepper, 1, kind="otp")
        return re.search(r"\b(\d{6})\b", message.body).group(1)

    @property
    def latest(self) -> str:
        return "\n".join(self.said)

    # --- Rasa's part -----------------------------------------------------------------------

    def _user(self, text: str, intent: str, entities: Optional[list[dict[str, Any]]]) -> dict[str, Any]:
        message = {"intent": {"name": intent, "confidence": 1.0}, "entities": entities or [],
                   "text": text, "metadata": dict(self.metadata)}
        self.events.append({"event": "user", "text": text, "parse_data": message,
                            "input_channel": self.channel, "metadata": dict(self.metadata)})
        return message

    def _tracker(self, message: dict[str, Any], extra: list[dict[str, Any]]) -> Tracker:
        slots = dict(self.slots)
        for event in extra:
            if event["event"] == "slot":
                slots[event["name"]] = event["value"]
        return Tracker(sender_id=self.sender, slots=slots, latest_message=message,
                       events=[*self.events, *extra], paused=False, followup_action=None,
                       active_loop={"name": FORM} if self.active else {},
                       latest_action_name="action_listen")

    async def _run(self, action: Any, message: dict[str, Any], name: Optional[str],
                   extra: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
        from rasa_sdk.executor import CollectingDispatcher
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, self._tracker(message, extra or []), domain())
        if name:
            self.events.append({"event": "action", "name": name})
        for said in dispatcher.messages:
            text = said.get("text") or said.get("response") or ""
            self.said.append(text)
            self.events.append({"event": "bot", "text": text, "data": {}})
        for event in events:
            self.events.append(dict(event))
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        return events

    async def _request_next(self, message: dict[str, Any]) -> None:
        missing = next((slot for slot in IDENTITY_SLOTS if self.slots.get(slot) is None), None)
        self.requested = missing
        self.events.append({"event": "slot", "name": "requested_slot", "value": missing})
        if missing == "otp_channel":
            await self._run(ActionAskOtpChannel(), message, "action_ask_otp_channel")
        elif missing:
            self.said.append(ASKS[missing])
            self.events.append({"event": "bot", "text": ASKS[missing], "data": {}})
        else:  # the form is done: it deactivates and the submit step runs
            self.active = False
            self.events.append({"event": "active_loop", "name": None})
            await self._run(ActionIdentitySubmit(), message, "action_identity_submit")


def raw_slot_values(conversation: Conversation) -> list[str]:
    """Every value an identity slot holds now that is not a marker or sealed."""
    return [str(value) for slot, value in conversation.slots.items()
            if slot in IDENTITY_SLOTS and value is not None
            and value not in ("provided", "verified", "locked", "email", "sms")
            and not str(value).startswith("sealed:")]


def failures_counted(store: Container) -> int:
    with store.uow() as uow:
        return uow.session.scalar(
            select(func.count()).select_from(CountedAttempt).join(
                AttemptCounter, CountedAttempt.counter_id == AttemptCounter.id).where(
                AttemptCounter.scope == "identify_conversation")) or 0


CHANNEL_QUESTION = "Where should I send your verification code: by email to m****@example.com"


# --- everything up front: straight to the code --------------------------------------------

@pytest.mark.parametrize("text, intent, entities", [
    ("acct 7301004821 zip 30309, how far behind am i", "past_due", []),
    ("Hi, I'm mlopez, born 1985-03-14. Can I get my payoff amount", "payoff_quote", []),
    ("I'm locked out, username mlopez, last 4 of my social 4821, what's my balance",
     "check_balance", []),
    ("my account is 7301004821 and my dob is 03/14/1985, next payment?", "next_payment", []),
    ("balance for 7301 004 821 please, zip code is 30309", "check_balance", []),
    ("whats my balance 7301004821 30309", "check_balance",  # what the NLU found counts too
     [{"entity": "account_number", "value": "7301004821"}, {"entity": "zip_code", "value": "30309"}]),
], ids=["acct-zip", "username-born", "username-last4", "account-dob", "spaced-account", "entities"])
async def test_details_given_with_the_request_skip_to_the_code(
        store: Container, text: str, intent: str, entities: list[dict[str, Any]]) -> None:
    chat = Conversation("upfront-1")
    said = await chat.ask(text, intent, entities)
    assert chat.requested == "otp_channel"
    assert CHANNEL_QUESTION in said
    assert "utter_ask_identifier" not in said and "utter_ask_identity_factor" not in said
    assert chat.slots["pending_task"] == intent
    assert chat.slots.get("identifier") == chat.slots.get("identity_factor") == "provided"
    assert raw_slot_values(chat) == []
    assert "you're verified" in await chat.verify_with_code()
    assert chat.slots["verified"] is True
    assert identity.require_verified("upfront-1", "full", store.uow()).first_name == "Maria"


async def test_the_code_is_never_skipped(store: Container) -> None:
    chat = Conversation("upfront-code")
    await chat.ask("acct 7301004821 zip 30309, what's my balance")
    said = await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    assert chat.requested == "otp_code" and "I've sent a 6-digit code by email" in said
    with pytest.raises(identity.NotVerified):
        identity.require_verified("upfront-code", "read", store.uow())
    await chat.answer("000000" if chat.latest_code() != "000000" else "111111")
    assert chat.requested == "otp_code" and chat.active


# --- partial details ----------------------------------------------------------------------

async def test_only_an_account_number_asks_for_the_factor_next(store: Container) -> None:
    chat = Conversation("upfront-id")
    said = await chat.ask("7301004821 what's my balance")
    assert chat.requested == "identity_factor" and said.endswith("utter_ask_identity_factor")
    assert chat.slots.get("identifier").startswith("sealed:") and raw_slot_values(chat) == []
    said = await chat.answer("30309")
    assert chat.requested == "otp_channel" and CHANNEL_QUESTION in said
    assert "you're verified" in await chat.verify_with_code()


async def test_only_a_factor_asks_for_the_identifier_and_keeps_the_factor(store: Container) -> None:
    """Decision: the factor is kept (sealed, 15 minutes) and checked once the identifier
    comes, as if it had been typed right after it; the customer is not asked for it twice."""
    chat = Conversation("upfront-factor")
    said = await chat.ask("zip 30309, what do I owe?")
    assert chat.requested == "identifier" and said.endswith("utter_ask_identifier")
    assert chat.slots.get("identity_factor").startswith("sealed:") and raw_slot_values(chat) == []
    said = await chat.answer("7301004821")
    assert chat.requested == "otp_channel" and CHANNEL_QUESTION in said
    assert "you're verified" in await chat.verify_with_code()


async def test_a_kept_factor_that_does_not_match_the_identifier_is_refused_and_both_asked_again(
        store: Container) -> None:
    chat = Conversation("upfront-factor-wrong")
    await chat.ask("zip 99999, what do I owe?")
    said = await chat.answer("7301004821")
    assert identity.IdentificationFailed.message in said
    assert chat.requested == "identifier"
    assert chat.slots.get("identifier") is None and chat.slots.get("identity_factor") is None
    assert failures_counted(store) == 1


async def test_a_request_without_details_asks_everything_as_before(store: Container) -> None:
    chat = Conversation("upfront-none")
    said = await chat.ask("how far behind am i", "past_due")
    assert chat.requested == "identifier" and said.endswith("utter_ask_identifier")
    assert "utter_need_verification" in said


@pytest.mark.parametrize("text", [
    "what's my balance 30309",  # a bare number with no label is nothing
    "pay $300 on friday",
    "pay 300 on friday",
    "can I pay $3000 towards the 1234 plan",
    "I'm Maria, what is my balance",  # a name, not a username
    "I'm late, can I still pay",
    "call me at 404-555-0101 about my balance",
    "my ssn is 123-45-6789, balance?",  # a full SSN is never trimmed to its last four
])
async def test_requests_that_carry_no_clear_details_start_with_an_empty_form(
        store: Container, text: str) -> None:
    chat = Conversation("upfront-nothing")
    await chat.ask(text, "make_payment" if "pay" in text else "check_balance")
    assert chat.requested == "identifier"
    assert chat.slots.get("identifier") is None and chat.slots.get("identity_factor") is None
    assert failures_counted(store) == 0


async def test_an_amount_the_nlu_mistook_for_a_zip_is_not_a_factor(store: Container) -> None:
    chat = Conversation("upfront-amount")
    await chat.ask("pay $30309 from checking", "make_payment",
                   [{"entity": "zip_code", "value": "30309"}])
    assert chat.slots.get("identity_factor") is None and failures_counted(store) == 0


# --- wrong details: the same answers and the same counting as at the questions ---------------

async def test_a_wrong_factor_up_front_is_refused_like_a_typed_one_and_counted(store: Container) -> None:
    chat = Conversation("upfront-wrong")
    said = await chat.ask("acct 7301004821 zip 99999, how far behind am i", "past_due")
    typed = Conversation("typed-wrong")
    await typed.ask("how far behind am i", "past_due")
    await typed.answer("7301004821")
    said_typed = await typed.answer("99999")
    assert identity.IdentificationFailed.message in said and identity.IdentificationFailed.message in said_typed
    assert chat.requested == "identifier" and chat.slots.get("identifier") is None
    assert failures_counted(store) == 2  # one per conversation, as typed
    assert raw_slot_values(chat) == []


async def test_an_unknown_account_up_front_gets_the_same_answer_as_a_wrong_factor(store: Container) -> None:
    wrong = Conversation("upfront-a")
    unknown = Conversation("upfront-b")
    said_wrong = await wrong.ask("acct 7301004821 zip 99999, balance")
    said_unknown = await unknown.ask("acct 7309999999 zip 30309, balance")
    assert said_wrong == said_unknown


async def test_five_wrong_factors_up_front_lock_the_conversation_as_typed_ones_do(store: Container) -> None:
    for n in range(5):
        chat = Conversation("upfront-lock")
        said = await chat.ask(f"acct 7301004821 zip {10000 + n}, balance")
    assert identity.VerificationLocked.message in said
    chat = Conversation("upfront-lock")
    said = await chat.ask("acct 7301004821 zip 30309, balance")  # even the right one now
    assert identity.VerificationLocked.message in said
    assert "Where should I send" not in said


async def test_an_unclear_identifier_up_front_is_asked_for_and_the_factor_kept(store: Container) -> None:
    chat = Conversation("upfront-bad")
    said = await chat.ask("username x, zip 30309 balance")  # too short to be a username
    assert chat.requested == "identifier"  # the factor is kept for after it
    assert chat.slots.get("identity_factor").startswith("sealed:")
    assert "utter_ask_identifier" in said


async def test_remember_task_starts_a_clean_form(store: Container) -> None:
    chat = Conversation("upfront-clean")
    chat.slots.update({"otp_channel": "email", "otp_code": "locked", "masked_email": "x***@evil.com"})
    await chat.ask("acct 7301004821, balance")
    assert chat.slots.get("otp_channel") is None and chat.slots.get("otp_code") is None
    assert chat.slots.get("masked_email") is None and chat.requested == "identity_factor"


async def test_remember_task_also_keeps_the_task_details(store: Container) -> None:
    chat = Conversation("upfront-details")
    await chat.ask("pay $300 on friday, acct 7301004821 zip 30309", "make_payment")
    assert str(chat.slots.get("task_details") or "").startswith("sealed:")
    with store.uow() as uow:  # nothing sent before the customer chose where
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_a_request_without_details_clears_an_unfinished_verification_silently(store: Container) -> None:
    chat = Conversation("upfront-stale")
    chat.slots.update({"identifier": "provided", "otp_channel": "email"})
    said = await chat.ask("what's my balance")
    assert said.split("\n") == ["utter_need_verification", "utter_ask_identifier"]
    assert chat.slots.get("identifier") is None and chat.slots.get("otp_channel") is None
