"""Verification in conversation, leaving a task, not understanding, hand-off, a new session."""
from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from actions.conversation import ActionCancelTask, ActionHandleMisunderstanding, ActionSessionStart
from actions.handoff import ActionHandoff
from actions.identity import ValidateIdentityForm
from autofinance.adapters.notify import readable_body
from autofinance.bootstrap import Container
from autofinance.config import Settings
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.models import HandoffTicket, OutboxMessage, VerifiedSession
from tests.actions.conftest import make_tracker, run, texts, verify


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def _answer(slot: str, value: str, slots: dict[str, Any] | None = None,
                  entities: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], str]:
    tracker = make_tracker("web-1", {"requested_slot": slot, slot: value, **(slots or {})}, intent="inform",
                           text=value, entities=entities, active_loop="identity_form")
    tracker.events.append({"event": "slot", "name": slot, "value": value})
    events, messages = await run(ValidateIdentityForm(), tracker)
    return _slots(events), texts(messages)


async def test_the_identity_form_verifies_maria_and_keeps_no_secret_in_slots(store: Container) -> None:
    slots, _ = await _answer("identifier", "my account is 7301004821")
    sealed = slots["identifier"]
    assert sealed.startswith("sealed:") and "7301004821" not in sealed
    slots, _ = await _answer("identity_factor", "30309", {"identifier": sealed})
    assert slots["identifier"] == "provided" and slots["identity_factor"] == "provided"
    assert slots["masked_email"] == "m****@example.com"
    slots, said = await _answer("otp_channel", "email please", entities=[{"entity": "otp_channel", "value": "email"}])
    assert slots["otp_channel"] == "email" and "m****@example.com" in said
    with store.uow() as uow:
        message = uow.session.scalars(select(OutboxMessage)).first()
        code = re.search(r"\d{6}", readable_body(message, store.settings.secret_pepper)).group(0)
    slots, _ = await _answer("otp_code", code)
    assert slots["otp_code"] == "verified" and slots["customer_first_name"] == "Maria"
    assert code not in str(slots)


def _sealed(value: str) -> str:
    return seal(value, Settings().secret_pepper)


async def test_a_wrong_factor_and_an_unknown_account_get_the_same_answer(store: Container) -> None:
    wrong, said_wrong = await _answer("identity_factor", "99999", {"identifier": _sealed("7301004821")})
    unknown, said_unknown = await _answer("identity_factor", "99999", {"identifier": _sealed("7309999999")})
    assert said_wrong == said_unknown and wrong == unknown
    assert wrong["identifier"] is None and "masked_email" not in wrong


async def test_a_tampered_identifier_is_asked_for_again(store: Container) -> None:
    slots, said = await _answer("identity_factor", "30309", {"identifier": "7301004821"})
    assert slots["identifier"] is None and "start from your account number" in said


async def test_a_wrong_code_is_refused_with_the_tries_left(store: Container) -> None:
    await _answer("identity_factor", "30309", {"identifier": _sealed("7301004821")})
    await _answer("otp_channel", "text me", entities=[{"entity": "otp_channel", "value": "sms"}])
    slots, said = await _answer("otp_code", "000000")
    assert slots["otp_code"] is None and "4 tries left" in said


async def test_cancelling_the_payment_form_says_nothing_was_paid_and_clears_it(store: Container) -> None:
    tracker = make_tracker(slots={"payment_amount": "100.00"}, intent="cancel", active_loop="payment_form")
    events, messages = await run(ActionCancelTask(), tracker)
    assert messages[0]["response"] == "utter_payment_cancelled"
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    assert _slots(events)["payment_amount"] is None


def _fallback_events(count: int) -> list[dict[str, Any]]:
    event = {"event": "user", "text": "zzz", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    return [{"event": "user", "parse_data": {"intent": {"name": "greet"}}}] + [event] * count


async def test_misunderstanding_asks_to_rephrase_then_offers_choices_then_hands_off(
    store: Container, agent_online: None
) -> None:
    responses = []
    for count in (1, 2, 3):
        tracker = make_tracker("lost-1", intent="nlu_fallback", events=_fallback_events(count))
        events, messages = await run(ActionHandleMisunderstanding(), tracker)
        responses.append(messages[0].get("response") or messages[0].get("text"))
    assert responses[:2] == ["utter_ask_rephrase_scope", "utter_offer_choices"]
    assert {"event": "pause"} in [{"event": e["event"]} for e in events]
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.reason)) == "misunderstanding"


def _user(intent: str, text: str = "") -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def _taken_back(intent: str, text: str) -> list[dict[str, Any]]:
    """A message Rasa's dialogue fallback answered and took back, as the tracker keeps it."""
    return [_user(intent, text), {"event": "action", "name": "action_default_fallback"},
            {"event": "bot", "text": "Sorry, I didn't quite get that."}, {"event": "rewind"},
            {"event": "action", "name": "action_listen"}]


async def test_stray_messages_count_towards_the_handoff_for_not_understood_ones(
    store: Container, agent_online: None
) -> None:
    events_in = [_user("greet"), *_taken_back("inform", "blorf"), *_taken_back("affirm", "k"),
                 _user("nlu_fallback", "zzz")]
    tracker = make_tracker("stray-3", intent="nlu_fallback", events=events_in)
    events, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert "get a person" in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.reason)) == "misunderstanding"


async def test_a_stray_message_then_a_misunderstood_one_gets_the_choices(store: Container) -> None:
    events_in = [_user("greet"), *_taken_back("inform", "blorf"), _user("nlu_fallback", "zzz")]
    tracker = make_tracker("stray-2", intent="nlu_fallback", events=events_in)
    _, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m.get("response") for m in messages] == ["utter_offer_choices"]


@pytest.mark.parametrize("restart", ["resume", "session_started", "restart"])
async def test_a_hand_back_a_new_session_or_a_restart_starts_the_count_again(
    store: Container, restart: str
) -> None:
    events_in = [_user("nlu_fallback", "zzz"), _user("nlu_fallback", "zzz"), {"event": restart},
                 {"event": "action", "name": "action_listen"}, _user("nlu_fallback", "zzz")]
    tracker = make_tracker("stray-5", intent="nlu_fallback", events=events_in)
    _, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m.get("response") for m in messages] == ["utter_ask_rephrase_scope"]


async def test_an_understood_message_resets_the_misunderstanding_count(store: Container) -> None:
    events_in = [*_taken_back("inform", "blorf"), _user("check_balance", "balance"),
                 {"event": "action", "name": "action_check_balance"}, _user("nlu_fallback", "zzz")]
    tracker = make_tracker("stray-4", intent="nlu_fallback", events=events_in)
    _, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m.get("response") for m in messages] == ["utter_ask_rephrase_scope"]


async def test_not_understood_in_a_task_asks_again_without_the_list_of_what_i_do(store: Container) -> None:
    """In a form the question asked again says what fits; outside one, the scope helps."""
    tracker = make_tracker("in-form", intent="nlu_fallback", active_loop="payment_form",
                           events=[_user("make_payment"), _user("nlu_fallback", "zzz")])
    _, messages = await run(ActionHandleMisunderstanding(), tracker)
    assert [m.get("response") for m in messages] == ["utter_ask_rephrase"]


async def test_handoff_queues_a_ticket_with_a_summary_and_pauses(store: Container, agent_online: None) -> None:
    verify(store, "maria-chat")
    events_in = [{"event": "user", "parse_data": {"intent": {"name": "check_balance"}}},
                 {"event": "action", "name": "action_check_balance"},
                 {"event": "user", "parse_data": {"intent": {"name": "human_handoff"}}}]
    tracker = make_tracker("maria-chat", intent="human_handoff", events=events_in)
    events, messages = await run(ActionHandoff(), tracker)
    assert "connecting you" in texts(messages) and "minutes" in texts(messages)
    assert [(e["event"], e.get("name")) for e in events[-2:]] == [("pause", None), ("action", "action_listen")]
    with store.uow() as uow:
        ticket = uow.session.scalar(select(HandoffTicket))
        assert ticket.customer_id is not None and ticket.priority == 3
        assert "check balance" in ticket.summary and "verified as Maria" in ticket.summary
        assert "saw their balance" in ticket.summary


async def test_a_new_session_ends_verification_and_keeps_a_handed_off_conversation_paused(
    store: Container, agent_online: None,
) -> None:
    verify(store, "maria-chat")
    await run(ActionHandoff(), make_tracker("maria-chat", intent="human_handoff"))
    events, _ = await run(ActionSessionStart(), make_tracker("maria-chat", paused=True))
    assert [e["event"] for e in events] == ["session_started", "slot", "pause", "action"]
    with store.uow() as uow:
        assert uow.session.scalar(select(VerifiedSession.ended_at)) is not None
