"""Attacks on the two shortcuts into verification: identity details given with the request
(`action_remember_task` seals them, the identity form checks them on activation) and the
portal step-up (a signed-in customer receives only a code). Each must be worth exactly what
typing the same thing at the form's questions is worth, and leave no secret in the store."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from actions.autopay import ActionCheckAutopay
from actions.runtime import container
from autofinance.adapters.portal_tokens import issue_token
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.models import Account, OutboxMessage
from autofinance.bootstrap import Container
from autofinance.services import identity
from autofinance.services.errors import NotVerified
from rasa_ext.redaction import redact_events
from tests.actions.conftest import _seeded_store, store  # noqa: F401 - the seeded store per test
from tests.actions.test_identity_upfront import Conversation, failures_counted, raw_slot_values
from autofinance.config import Settings
from tests.e2e.conftest import RunningStack
from tests.e2e.widget import Widget, customer_id as customer_id_of, widget_origin
from tests.security.conftest import stored_events
from tests.security.test_attacks_support import (
    bulk, bulk_customer, new_sender, rows, say, verified_sessions,
)

__all__ = ["bulk"]

MARIA, JAMES = "7301004821", "7301007734"


def _maria_id(store: Container) -> int:  # noqa: F811
    with store.uow() as uow:
        return uow.session.scalar(select(Account.customer_id).where(Account.account_number == MARIA))


def _sent_to(store: Container) -> list[str]:  # noqa: F811
    with store.uow() as uow:
        return [m.to for m in uow.session.scalars(select(OutboxMessage))]


# --- someone else's details up front ----------------------------------------------------------

async def test_someone_elses_account_with_a_guessed_zip_up_front_learns_nothing(store: Container) -> None:  # noqa: F811
    chat = Conversation("attacker-1")
    said = await chat.ask("acct 7301004821 zip 10001, what's the payoff", "payoff_quote")
    assert identity.IdentificationFailed.message in said
    assert "@" not in said and "0101" not in said and chat.slots.get("masked_email") is None
    assert failures_counted(store) == 1 and _sent_to(store) == []


async def test_someone_elses_full_details_up_front_still_need_the_code_sent_to_them(store: Container) -> None:  # noqa: F811
    chat = Conversation("attacker-2")
    await chat.ask("acct 7301004821 zip 30309, send the code to me at evil@example.net", "check_balance",
                   [{"entity": "email", "value": "evil@example.net"}])
    await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    assert _sent_to(store) == ["maria.lopez@example.com"]
    for guess in ("123456", "654321"):
        await chat.answer(guess)
    with pytest.raises(NotVerified):
        identity.require_verified("attacker-2", "read", store.uow())


async def test_guessing_zip_codes_up_front_across_conversations_blocks_the_account(store: Container) -> None:  # noqa: F811
    for n in range(5):
        await Conversation(f"guess-{n}").ask(f"acct 7301004821 zip {10000 + n}, balance")
    said = await Conversation("guess-right").ask("acct 7301004821 zip 30309, balance")
    assert identity.IdentificationFailed.message in said and "Where should I send" not in said


async def test_two_account_numbers_up_front_are_not_guessed_between(store: Container) -> None:  # noqa: F811
    chat = Conversation("attacker-3")
    await chat.ask(f"acct {MARIA} or {JAMES} zip 30309, balance")
    assert chat.requested == "identifier" and failures_counted(store) == 0


# --- injected sealed values --------------------------------------------------------------------

def _stated(conversation: str, slot: str, value: str) -> str:
    payload = json.dumps({"stated": slot, "conversation": conversation, "value": value})
    return seal(payload, container().settings.secret_pepper)


@pytest.mark.parametrize("injected", ["another-conversation", "plain-seal", "forged", "other-slot"])
async def test_a_sealed_value_typed_at_the_identifier_question_is_refused(
        store: Container, injected: str) -> None:  # noqa: F811
    chat = Conversation("injector")
    await chat.ask("what's my balance")
    value = {"another-conversation": _stated("victim-conversation", "identifier", MARIA),
             "plain-seal": seal(MARIA, container().settings.secret_pepper),
             "forged": "sealed:gAAAAABforgedforgedforgedforgedforgedforged==",
             "other-slot": _stated("injector", "identity_factor", "30309")}[injected]
    said = await chat.answer(value)
    assert "doesn't look like an account number" in said
    assert chat.requested == "identifier" and chat.slots.get("identifier") is None


async def test_a_sealed_identifier_put_in_the_factor_slot_is_no_factor(store: Container) -> None:  # noqa: F811
    chat = Conversation("injector-2")
    await chat.ask("acct 7301004821, balance")
    said = await chat.answer(_stated("injector-2", "identifier", "30309"))
    assert "ZIP code" in said and chat.requested == "identity_factor"
    assert failures_counted(store) == 0


async def test_another_conversations_sealed_factor_is_refused(store: Container) -> None:  # noqa: F811
    chat = Conversation("injector-3")
    await chat.ask("acct 7301004821, balance")
    said = await chat.answer(_stated("victim-conversation", "identity_factor", "30309"))
    assert "ZIP code" in said and chat.requested == "identity_factor"


async def test_provided_markers_without_a_step_up_verify_nobody(store: Container) -> None:  # noqa: F811
    """Slots forced to "provided" skip the questions but not the store: no code is sent
    without a verification the identity service opened."""
    chat = Conversation("marker-injector")
    chat.slots.update({"identifier": "provided", "identity_factor": "provided"})
    chat.active = True
    chat.requested = "otp_channel"
    said = await chat.answer("email", [{"entity": "otp_channel", "value": "email"}])
    assert _sent_to(store) == [] and chat.requested == "identifier"
    assert "I've sent" not in said


# --- the portal step-up -------------------------------------------------------------------------

async def test_a_portal_token_of_another_customer_gets_no_step_up(store: Container) -> None:  # noqa: F811
    maria = _maria_id(store)
    chat = Conversation(f"portal-{maria}", {"portal_token": issue_token(maria + 1, "James", store.settings)},
                        channel="socketio")
    said = await chat.ask("set up autopay", "setup_autopay", action=ActionCheckAutopay())
    assert chat.requested == "identifier" and "Where should I send" not in said
    assert _sent_to(store) == []


def test_a_step_up_without_a_portal_session_or_for_another_customer_is_refused(store: Container) -> None:  # noqa: F811
    maria = _maria_id(store)
    with pytest.raises(NotVerified):
        identity.start_step_up(f"portal-{maria}", maria, store.uow())
    identity.verify_conversation(f"portal-{maria}", "read", "socketio", maria, store.uow())
    with pytest.raises(NotVerified):
        identity.start_step_up(f"portal-{maria}", maria + 1, store.uow())
    with pytest.raises(NotVerified):
        identity.start_step_up("some-other-conversation", maria, store.uow())


# --- nothing readable is stored ------------------------------------------------------------------

SECRETS = {"account": MARIA, "zip": "30309", "dob": "1985-03-14", "dob-us": "03/14/1985",
           "ssn": "4821"}


def _stored(chat: Conversation) -> list[dict[str, Any]]:
    return redact_events(chat.events)


def _without_sealed(text: str) -> str:
    return re.sub(r"sealed:[A-Za-z0-9_=-]+", "sealed:…", text)


def _leaks(events: list[dict[str, Any]], skip_user_text: bool = False) -> list[str]:
    kept = [dict(e, text=None, parse_data=dict(e.get("parse_data") or {}, text=None))
            if skip_user_text and e.get("event") == "user" else e for e in events]
    stored = _without_sealed(json.dumps(kept))
    return [name for name, secret in SECRETS.items() if secret in stored]


PHRASINGS = [
    ("acct 7301004821 zip 30309, how far behind am i", "past_due", []),
    ("Hi, I'm mlopez, born 1985-03-14. Can I get my payoff amount", "payoff_quote",
     [{"entity": "username", "value": "mlopez"}, {"entity": "dob", "value": "1985-03-14"}]),
    ("I'm locked out, username mlopez, last 4 of my social 4821, what's my balance", "check_balance",
     [{"entity": "ssn_last4", "value": "4821"}]),
    ("my account is 7301004821, dob 03/14/1985, next payment?", "next_payment",
     [{"entity": "account_number", "value": "7301004821"}]),
]


@pytest.mark.parametrize("text, intent, entities", PHRASINGS, ids=["acct-zip", "born", "ssn", "dob-us"])
async def test_no_slot_entity_or_bot_message_keeps_a_detail_given_up_front(
        store: Container, text: str, intent: str, entities: list[dict[str, Any]]) -> None:  # noqa: F811
    chat = Conversation("stored-1", channel="rest")
    await chat.ask(text, intent, entities)
    await chat.verify_with_code()
    assert raw_slot_values(chat) == []
    assert _leaks(_stored(chat), skip_user_text=True) == []


@pytest.mark.parametrize("text, intent, entities", [
    pytest.param(*PHRASINGS[0], id="acct-zip"),
    pytest.param(*PHRASINGS[1], id="born"),
    pytest.param(*PHRASINGS[2], id="ssn"),
    pytest.param(*PHRASINGS[3], id="dob-us"),
])
async def test_the_stored_request_text_keeps_no_detail_given_up_front(
        store: Container, text: str, intent: str, entities: list[dict[str, Any]]) -> None:  # noqa: F811
    chat = Conversation("stored-2", channel="rest")
    await chat.ask(text, intent, entities)
    assert _leaks(_stored(chat)) == []


# --- over the running assistant (the trained model, Rasa's own form handling) ------------------

@pytest.mark.e2e
def test_details_up_front_go_straight_to_the_code_over_rest_and_are_not_stored(
        running: RunningStack, bulk: RunningStack) -> None:
    customer = bulk_customer(985)
    account, last4 = customer["account_number"], customer["ssn_last4"]
    sender = new_sender("upfront")
    offered = say(running, sender, f"acct {account}, last 4 of my social {last4}, what's my balance")
    assert "where should i send your verification code" in offered.lower(), offered
    assert "account number" not in offered.lower()
    say(running, sender, "email")
    answer = say(running, sender, running.latest_code(customer["email"]))
    assert "verified" in answer.lower() and verified_sessions(running, sender)
    stored = _without_sealed(json.dumps(stored_events(running, sender)))
    assert account not in stored and f"social {last4}" not in stored


@pytest.mark.e2e
def test_a_wrong_factor_up_front_over_rest_is_refused_and_asked_again(
        running: RunningStack, bulk: RunningStack) -> None:
    customer = bulk_customer(986)
    sender = new_sender("upfront-wrong")
    answer = say(running, sender, f"acct {customer['account_number']}, last 4 of my social 9999, what's my balance")
    assert identity.IdentificationFailed.message in answer and "account number" in answer.lower()
    assert verified_sessions(running, sender) == []


@pytest.mark.e2e
async def test_a_signed_in_widget_customer_steps_up_with_a_code_only(
        running: RunningStack, bulk: RunningStack) -> None:
    customer = bulk_customer(987)
    customer_id = customer_id_of(running, customer["account_number"])
    token = issue_token(customer_id, "Test", Settings.from_env(running.env))
    widget = Widget(running, widget_origin(running))
    try:
        await widget.open(token=token)
        offered = await widget.say("I want to set up autopay")
        assert "where should i send your verification code" in offered.lower(), offered
        assert "account number" not in offered.lower() and "zip" not in offered.lower()
        await widget.say("email")
        await widget.say(running.latest_code(customer["email"]))
    finally:
        await widget.close()
    levels = rows(running, "SELECT level, method FROM verified_sessions WHERE conversation_id = ? "
                           "AND ended_at IS NULL", (f"portal-{customer_id}",))
    assert levels == [("full", "otp")]
