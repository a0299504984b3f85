"""A customer signed in on the website who asks for a change is not asked who they are: the
assistant offers the masked email and phone on file, sends the code, checks it, and the
conversation is verified at 'full'. Anyone else (no token, an expired, forged or someone
else's token) identifies with the whole form, as before."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

import pytest
from sqlalchemy import select, text

from actions.autopay import ActionCheckAutopay, ValidateAutopayForm
from actions.runtime import STEP_UP_MESSAGE
from autofinance.adapters.portal_tokens import issue_token
from autofinance.adapters.store.models import Account, Customer, OutboxMessage, VerifiedSession
from autofinance.bootstrap import Container
from autofinance.domain.clock import utcnow
from autofinance.services import identity
from tests.actions.conftest import make_tracker, run, texts
from tests.actions.test_identity_upfront import Conversation, raw_slot_values

STEP_UP_QUESTION = ("Where should I send your verification code: by email to m****@example.com, "
                    "or by text to ***-***-0101?")


def _maria(store: Container) -> int:
    with store.uow() as uow:
        return uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301004821"))


def _signed_in(store: Container, customer_id: Optional[int] = None, token: Optional[str] = None,
               sender: Optional[str] = None) -> Conversation:
    """Maria's widget conversation with a portal token (hers unless told otherwise)."""
    maria = _maria(store)
    token = token if token is not None else issue_token(customer_id or maria, "Maria", store.settings)
    return Conversation(sender or f"portal-{maria}", metadata={"portal_token": token}, channel="socketio")


def _session(store: Container, sender: str) -> Optional[tuple[str, str]]:
    with store.uow() as uow:
        row = uow.session.scalars(select(VerifiedSession).where(
            VerifiedSession.conversation_id == sender, VerifiedSession.ended_at.is_(None))).first()
        return (row.method, row.level) if row else None


async def test_a_signed_in_customer_asking_for_a_change_is_asked_only_where_to_send_the_code(
        store: Container) -> None:
    chat = _signed_in(store)
    said = await chat.ask("set up autopay please", "setup_autopay", action=ActionCheckAutopay())

    assert STEP_UP_MESSAGE in said and STEP_UP_QUESTION in said
    assert "utter_ask_identifier" not in said and "utter_ask_identity_factor" not in said
    assert chat.requested == "otp_channel" and chat.slots["pending_task"] == "setup_autopay"
    assert chat.slots.get("identifier") == chat.slots.get("identity_factor") == "provided"
    assert _session(store, chat.sender) == ("portal", "read")

    said = await chat.answer("text me", [{"entity": "otp_channel", "value": "sms"}])
    assert "I've sent a 6-digit code by text to ***-***-0101" in said
    assert "you're verified" in await chat.verify_with_code()

    assert chat.slots["verified"] is True and raw_slot_values(chat) == []
    assert _session(store, chat.sender) == ("otp", "full")
    assert identity.verify_conversation(chat.sender, "full", "socketio", None, store.uow()).level == "full"
    _, messages = await run(ActionCheckAutopay(), _autopay_tracker(chat))
    assert "verify" not in texts(messages).lower()  # the task now runs


def _autopay_tracker(chat: Conversation) -> Any:
    tracker = make_tracker(chat.sender, {"verified": True}, intent="setup_autopay", channel="socketio")
    tracker.latest_message["metadata"] = dict(chat.metadata)
    return tracker


async def test_the_code_goes_to_the_contacts_on_file_never_to_what_the_customer_types(
        store: Container) -> None:
    chat = _signed_in(store)
    await chat.ask("change my email to thief@evil.example and set up autopay", "setup_autopay",
                   [{"entity": "email", "value": "thief@evil.example"}], action=ActionCheckAutopay())
    await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    with store.uow() as uow:
        sent_to = [m.to for m in uow.session.scalars(select(OutboxMessage))]
    assert sent_to == ["maria.lopez@example.com"]


async def test_a_signed_in_customer_who_is_not_marked_verified_also_gets_only_the_code(
        store: Container) -> None:
    """The rules send an unverified-looking conversation to action_remember_task: the portal
    token still spares the customer the identity questions."""
    chat = _signed_in(store)
    said = await chat.ask("acct 7309999999 zip 99999, set up autopay", "setup_autopay")
    assert STEP_UP_QUESTION in said and chat.requested == "otp_channel"
    assert "don't match" not in said  # the typed details are ignored, not checked
    assert "you're verified" in await chat.verify_with_code()


async def test_a_form_that_needs_full_verification_steps_up_a_signed_in_customer(store: Container) -> None:
    chat = _signed_in(store)
    tracker = make_tracker(chat.sender, {"verified": True, "requested_slot": "autopay_day"},
                           intent="inform", text="the 15th", active_loop="autopay_form",
                           channel="socketio")
    tracker.latest_message["metadata"] = dict(chat.metadata)
    events, messages = await run(ValidateAutopayForm(), tracker)

    assert STEP_UP_MESSAGE in texts(messages)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["identifier"] == slots["identity_factor"] == "provided"
    assert slots["masked_email"] == "m****@example.com" and slots["masked_phone"] == "***-***-0101"
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert events[-1] == {"event": "followup", "name": "identity_form", "timestamp": None}


@pytest.mark.parametrize("case", ["no-token", "expired", "forged", "another-customers-token",
                                  "someone-elses-conversation"])
async def test_without_a_valid_portal_sign_in_the_whole_form_is_asked(store: Container, case: str) -> None:
    maria = _maria(store)
    tokens = {
        "no-token": "",
        "expired": issue_token(maria, "Maria", store.settings, now=utcnow() - timedelta(hours=2)),
        "forged": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
        "another-customers-token": issue_token(maria + 1, "James", store.settings),
        "someone-elses-conversation": issue_token(maria, "Maria", store.settings),
    }
    sender = "web-attacker" if case == "someone-elses-conversation" else None
    chat = _signed_in(store, token=tokens[case], sender=sender)
    said = await chat.ask("set up autopay", "setup_autopay", action=ActionCheckAutopay())

    assert STEP_UP_MESSAGE not in said and "utter_need_verification" in said
    assert chat.requested == "identifier" and chat.slots.get("masked_email") is None
    with store.uow() as uow:
        assert uow.session.scalars(select(OutboxMessage)).all() == []


async def test_a_signed_in_customer_locked_by_wrong_codes_is_told_and_no_form_starts(
        store: Container) -> None:
    maria = _maria(store)
    with store.uow() as uow:
        uow.session.get(Customer, maria).verification_locked_until = utcnow() + timedelta(minutes=10)
        uow.commit()
    chat = _signed_in(store)
    said = await chat.ask("set up autopay", "setup_autopay", action=ActionCheckAutopay())

    assert identity.VerificationLocked.message in said
    assert not chat.active and chat.slots["pending_task"] is None


async def test_wrong_codes_after_a_step_up_are_refused_with_the_tries_left(store: Container) -> None:
    chat = _signed_in(store)
    await chat.ask("set up autopay", "setup_autopay", action=ActionCheckAutopay())
    await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    code = chat.latest_code()
    said = await chat.answer(f"{(int(code) + 1) % 1_000_000:06d}")
    assert "4 tries left" in said and chat.requested == "otp_code"
    assert _session(store, chat.sender) == ("portal", "read")


async def test_typing_provided_is_not_a_step_up(store: Container) -> None:
    """The "provided" markers count only when an action set them, never as typed answers."""
    chat = Conversation("typed-markers")
    await chat.ask("what's my balance")
    said = await chat.answer("provided")  # a username nobody has: asked for the factor next
    assert chat.requested == "identity_factor" and chat.slots.get("identifier").startswith("sealed:")
    said = await chat.answer("provided")
    assert "ZIP code" in said and chat.requested == "identity_factor"


async def test_an_expired_step_up_code_starts_a_new_step_up_not_the_whole_form(store: Container) -> None:
    chat = _signed_in(store)
    await chat.ask("set up autopay", "setup_autopay", action=ActionCheckAutopay())
    await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    with store.uow() as uow:  # the code's five minutes pass
        uow.session.execute(text("UPDATE verification_challenges SET expires_at = :t"),
                            {"t": utcnow() - timedelta(seconds=1)})
        uow.commit()
    said = await chat.answer(chat.latest_code())
    assert "need a new code" in said and STEP_UP_QUESTION in said
    assert "account number" not in said
    assert chat.requested == "otp_channel"
    assert "you're verified" in await chat.verify_with_code()
