"""Hand-off when nobody can answer, the follow-up choice, the hand-back and a guarded restart."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from actions import runtime
from actions.conversation import ActionRestart, ActionSessionStart
from actions.handoff import ActionHandoff, ActionHandoffReturn, ActionRecordFollowup
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import AuditLog, ConversationStart, HandoffTicket, StaffUser
from autofinance.services import handoff
from tests.actions.conftest import make_tracker, run, texts, verify


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


async def test_with_no_agent_signed_in_the_ticket_waits_and_a_follow_up_is_offered(store: Container) -> None:
    events, messages = await run(ActionHandoff(), make_tracker("nobody-1", intent="human_handoff"))
    assert "No one from our support team is available" in texts(messages)
    assert [b["title"] for b in messages[0]["buttons"]] == ["Email me", "Call me back"]
    assert "pause" not in _kinds(events)  # the assistant keeps answering until someone claims it
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.status)) == "queued"


async def test_outside_support_hours_the_customer_learns_when_the_team_is_back(
    store: Container, agent_online: None,
) -> None:
    local_now = datetime.now(timezone.utc).astimezone(ZoneInfo(store.settings.lender_timezone))
    other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(local_now.weekday() + 2) % 7]
    closed = Container(replace(store.settings, support_hours=f"{other_day} 09:00-17:00"), store.engine)
    runtime.set_container(closed)
    events, messages = await run(ActionHandoff(), make_tracker("late-1", intent="human_handoff"))
    assert "We're back" in texts(messages) and "at 9:00 AM" in texts(messages)
    assert "pause" not in _kinds(events)


async def test_a_verified_customer_picks_email_and_sees_the_masked_address(store: Container) -> None:
    verify(store, "maria-chat")
    await run(ActionHandoff(), make_tracker("maria-chat", intent="human_handoff"))
    tracker = make_tracker("maria-chat", {"followup_method": "email"}, intent="request_followup")
    events, messages = await run(ActionRecordFollowup(), tracker)
    assert "m****@example.com" in texts(messages) and "lopez@" not in texts(messages)
    assert {"event": "slot", "name": "followup_method", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.followup)) == "email"
        assert uow.session.scalar(select(AuditLog.action).where(
            AuditLog.action == "handoff_followup_requested")) is not None


async def test_an_unverified_customer_is_told_no_contact_on_file_can_be_used(store: Container) -> None:
    await run(ActionHandoff(), make_tracker("anon-9", intent="human_handoff"))
    _, messages = await run(ActionRecordFollowup(),
                            make_tracker("anon-9", {"followup_method": "call"}, intent="request_followup"))
    assert "couldn't verify you" in texts(messages) and "1-800-555-0199" in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.followup)) == "call"


async def test_a_follow_up_without_a_waiting_ticket_or_method_changes_nothing(store: Container) -> None:
    _, messages = await run(ActionRecordFollowup(),
                            make_tracker("none-1", {"followup_method": "email"}, intent="request_followup"))
    assert "don't have a request waiting" in texts(messages)
    _, messages = await run(ActionRecordFollowup(), make_tracker("none-1", intent="request_followup"))
    assert "email or a phone call" in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(HandoffTicket)) == 0


async def test_the_hand_back_asks_for_more_and_clears_the_half_done_task(store: Container) -> None:
    slots = {"verified": True, "customer_first_name": "Maria", "pending_task": "make_payment",
             "payment_amount": "100", "requested_slot": "payment_date"}
    events, messages = await run(ActionHandoffReturn(),
                                 make_tracker("maria-chat", slots, intent="EXTERNAL_handoff_resolved"))
    assert texts(messages) == "Is there anything else I can help with?"
    cleared = {e["name"] for e in events if e["event"] == "slot" and e["value"] is None}
    assert cleared == {"pending_task", "payment_amount", "requested_slot"}
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]


async def test_restart_while_an_agent_owns_the_conversation_keeps_it_paused(
    store: Container, agent_online: None,
) -> None:
    await run(ActionHandoff(), make_tracker("held-1", intent="human_handoff"))
    events, messages = await run(ActionRestart(), make_tracker("held-1", intent="restart", paused=True))
    assert _kinds(events) == ["pause", "followup"] and messages == []
    assert events[-1]["name"] == "action_listen"  # no further step: Rasa's fallback would rewind


async def test_restart_without_a_person_starts_over(store: Container) -> None:
    events, _ = await run(ActionRestart(), make_tracker("free-1", intent="restart"))
    assert _kinds(events) == ["restart"]
    # a waiting ticket while the assistant still answers (nobody was online) does not block it
    await run(ActionHandoff(), make_tracker("free-1", intent="human_handoff"))
    events, _ = await run(ActionRestart(), make_tracker("free-1", intent="restart"))
    assert _kinds(events) == ["restart"]


async def test_a_new_session_is_counted_and_a_waiting_unpaused_ticket_does_not_silence_it(
    store: Container,
) -> None:
    await run(ActionHandoff(), make_tracker("queued-1", intent="human_handoff"))
    events, _ = await run(ActionSessionStart(), make_tracker("queued-1", paused=False))
    assert "pause" not in _kinds(events)
    with store.uow() as uow:
        started = uow.session.scalars(select(ConversationStart)).all()
        assert [s.conversation_id for s in started] == ["queued-1"]
        assert started[0].started_at > datetime.now(timezone.utc) - timedelta(minutes=1)


async def test_yes_to_a_lease_end_specialist_files_a_lease_end_ticket(store: Container) -> None:
    events = [{"event": "user", "text": "lease options", "parse_data": {"intent": {"name": "lease_end_options"}}},
              {"event": "action", "name": "action_lease_end_options"},
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": "yes", "parse_data": {"intent": {"name": "affirm"}}}]
    await run(ActionHandoff(), make_tracker("lease-1", intent="affirm", text="yes", events=events))
    await run(ActionHandoff(), make_tracker("other-1", intent="affirm", text="yes"))
    with store.uow() as uow:
        reasons = dict(uow.session.execute(select(HandoffTicket.conversation_id, HandoffTicket.reason)).all())
    assert reasons == {"lease-1": "lease_end", "other-1": "customer_request"}


async def test_when_staffing_cannot_be_worked_out_the_ticket_is_kept_and_nothing_promised(
    store: Container, agent_online: None,
) -> None:
    runtime.set_container(Container(replace(store.settings, lender_timezone="Nowhere/Atlantis"),
                                    store.engine))
    events, messages = await run(ActionHandoff(), make_tracker("unsure-1", intent="human_handoff"))
    assert "No one from our support team is available right now. Your request is saved" in texts(messages)
    assert "pause" not in _kinds(events)
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.conversation_id)) == "unsure-1"


async def test_when_the_ticket_cannot_be_opened_the_customer_gets_the_apology(
    store: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT INTO handoff_tickets", {}, Exception("disk I/O error"))

    monkeypatch.setattr(handoff, "request_handoff", broken)
    events, messages = await run(ActionHandoff(), make_tracker("broken-1", intent="human_handoff"))
    assert texts(messages) == runtime.TECHNICAL_PROBLEM and events == []


def _claim(store: Container, conversation_id: str) -> None:
    """The demo agent holds the conversation's ticket, as the console's claim leaves it."""
    with store.uow() as uow:
        agent = uow.session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.agent"))
        ticket = uow.session.scalar(select(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id))
        ticket.status, ticket.assigned_staff_id = "claimed", agent
        ticket.claimed_at = datetime.now(timezone.utc)
        uow.commit()


async def test_a_claimed_ticket_keeps_restart_silent_even_when_the_tracker_lost_its_pause(
    store: Container,
) -> None:
    await run(ActionHandoff(), make_tracker("claimed-1", intent="human_handoff"))  # nobody online
    _claim(store, "claimed-1")
    events, messages = await run(ActionRestart(), make_tracker("claimed-1", intent="restart"))
    assert _kinds(events) == ["pause", "followup"] and messages == []
    events, messages = await run(ActionSessionStart(), make_tracker("claimed-1"))
    assert _kinds(events) == ["session_started", "slot", "pause", "action"] and messages == []


async def test_once_the_ticket_is_resolved_restart_starts_over_again(store: Container) -> None:
    await run(ActionHandoff(), make_tracker("done-1", intent="human_handoff"))
    _claim(store, "done-1")
    with store.uow() as uow:
        uow.session.scalar(select(HandoffTicket)).status = "resolved"
        uow.commit()
    events, _ = await run(ActionRestart(), make_tracker("done-1", intent="restart", paused=True))
    assert _kinds(events) == ["restart"]


async def test_when_the_store_is_down_a_paused_conversation_stays_paused(
    store: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("SELECT handoff_tickets", {}, Exception("disk I/O error"))

    monkeypatch.setattr(handoff, "assistant_must_stay_silent", broken)
    events, messages = await run(ActionRestart(), make_tracker("down-1", intent="restart", paused=True))
    assert _kinds(events) == ["pause", "followup"] and messages == []
    events, _ = await run(ActionSessionStart(), make_tracker("down-1", paused=True))
    assert "pause" in _kinds(events)
