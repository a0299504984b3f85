"""Changing the due date in conversation: only when allowed, only a valid day, only after a yes."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select, update

from actions.details import capture_events
from actions.due_date import (
    ActionAskDueDateConfirmed,
    ActionAskNewDueDay,
    ActionStartDueDateChange,
    ActionSubmitDueDateChange,
    ValidateDueDateForm,
)
from actions.runtime import lender_today
from autofinance.adapters.store.models import Account, AuditLog, AutopayEnrolment, OutboxMessage
from autofinance.bootstrap import Container
from autofinance.domain.calendar import next_due
from autofinance.domain.parsing import format_long_date
from autofinance.services import due_date
from autofinance.services.errors import DueDateMoveTooFar, InvalidDueDay
from tests.actions.conftest import make_tracker, run, texts, verify

VERIFIED = {"verified": True}
CLEARED = {"new_due_day": None, "due_date_confirmed": None, "due_date_change_allowed": None}


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _due_day(store: Container, account_number: str) -> int:
    with store.uow() as uow:
        return uow.session.scalar(select(Account.payment_due_day).where(
            Account.account_number == account_number))


def _changes(store: Container) -> tuple[int, int]:
    """(confirmation emails, audit records) of due-date changes."""
    with store.uow() as uow:
        emails = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "due_date_changed"))
        audits = uow.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "due_date_changed"))
        return emails, audits


def _set_autopay_day(store: Container, day: int) -> None:
    with store.uow() as uow:
        uow.session.execute(update(AutopayEnrolment).values(day_of_month=day))
        uow.commit()


async def _validate(chat: str, said: str, intent: str = "inform") -> tuple[Any, str]:
    tracker = make_tracker(chat, {**VERIFIED, "requested_slot": "new_due_day", "new_due_day": said},
                           intent=intent, text=said, active_loop="due_date_form")
    tracker.events.append({"event": "slot", "name": "new_due_day", "value": said})
    events, messages = await run(ValidateDueDateForm(), tracker)
    return _slots(events)["new_due_day"], texts(messages)


# --- starting -----------------------------------------------------------------------------------


async def test_maria_naming_a_day_starts_the_form_with_that_day(store: Container) -> None:
    verify(store, "maria-chat")
    for said in ("can you move my due date to the 25th", "change my due date from the 15th to the 25th",
                 "I get paid on the 25th, can my payment be due then?"):
        tracker = make_tracker("maria-chat", VERIFIED, intent="change_due_date", text=said)
        events, messages = await run(ActionStartDueDateChange(), tracker)
        assert _slots(events) == {"due_date_change_allowed": True, "new_due_day": "25"}, said
        assert messages == []


async def test_the_day_said_before_verification_is_still_used(store: Container) -> None:
    verify(store, "maria-chat")
    [sealed] = capture_events(make_tracker("maria-chat", intent="change_due_date",
                                           text="please move my due date to the 20th"))
    tracker = make_tracker("maria-chat", {**VERIFIED, "task_details": sealed["value"]}, intent="inform",
                           text="123456")
    events, _ = await run(ActionStartDueDateChange(), tracker)
    assert _slots(events) == {"due_date_change_allowed": True, "task_details": None, "new_due_day": "20"}


async def test_without_a_day_the_form_asks_for_one(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", VERIFIED, intent="change_due_date", text="change my due date")
    events, messages = await run(ActionStartDueDateChange(), tracker)
    assert _slots(events) == {"due_date_change_allowed": True}
    assert messages == []


async def test_a_day_too_far_in_the_request_is_refused_and_not_kept(store: Container) -> None:
    verify(store, "james-chat", "7301007734", "94107")  # due on the 1st: the 16th at the latest
    tracker = make_tracker("james-chat", VERIFIED, intent="change_due_date",
                           text="move my due date to the 20th")
    events, messages = await run(ActionStartDueDateChange(), tracker)
    assert _slots(events) == {"due_date_change_allowed": True}
    assert texts(messages) == DueDateMoveTooFar.message


async def test_dana_behind_on_payments_is_told_why_and_the_form_does_not_start(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "1990-07-22")
    tracker = make_tracker("dana-chat", VERIFIED, intent="change_due_date", text="move my due date to the 10th")
    events, messages = await run(ActionStartDueDateChange(), tracker)
    assert _slots(events) == {"due_date_change_allowed": False}
    assert texts(messages) == due_date.PAST_DUE
    assert messages[0]["buttons"] == [{"title": "I need help with payments", "payload": "/hardship_help"}]


async def test_a_customer_not_verified_is_verified_first_with_the_task_kept(store: Container) -> None:
    events, messages = await run(ActionStartDueDateChange(),
                                 make_tracker("stranger", intent="change_due_date", text="move my due date"))
    assert texts(messages) == "utter_need_verification"
    assert _slots(events)["pending_task"] == "change_due_date"


# --- the day ------------------------------------------------------------------------------------


async def test_the_day_is_read_as_customers_say_it(store: Container) -> None:
    verify(store, "maria-chat")
    for said in ("25", "the 25th", "25th of the month", "on the twenty-fifth"):
        assert await _validate("maria-chat", said) == ("25", ""), said


async def test_a_day_outside_1_to_28_is_refused(store: Container) -> None:
    verify(store, "maria-chat")
    for said in ("the 31st", "29", "0", "someday", "the 30th of the month"):
        assert await _validate("maria-chat", said) == (None, InvalidDueDay.message), said


async def test_a_move_beyond_15_days_or_to_the_same_day_is_refused_with_the_services_message(
    store: Container,
) -> None:
    verify(store, "james-chat", "jchen", "94107")
    assert await _validate("james-chat", "the 20th") == (None, DueDateMoveTooFar.message)
    assert await _validate("james-chat", "the 1st") == (None, due_date.SAME_DAY)
    assert await _validate("james-chat", "the 16th") == ("16", "")


async def test_the_question_names_the_current_day_and_the_possible_days(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionAskNewDueDay(), make_tracker("maria-chat", VERIFIED))
    assert texts(messages) == ("Your payment is due on the 15th of each month. You can move it to any day "
                               "from the 1st to the 28th. Which day would you like?")
    assert not messages[0].get("buttons")


async def test_yes_takes_the_autopay_day_the_question_suggested(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _set_autopay_day(store, 10)
    _, messages = await run(ActionAskNewDueDay(), make_tracker("james-chat", VERIFIED))
    assert texts(messages) == ("Your payment is due on the 1st of each month. You can move it to any day "
                               "from the 1st to the 16th. Which day would you like? Your autopay runs on "
                               "the 10th: shall I move your due date to the 10th to match?")
    assert messages[0]["buttons"] == [{"title": "Yes, the 10th", "payload": '/inform{"date":"the 10th"}'}]
    assert await _validate("james-chat", "yes", intent="affirm") == ("10", "")


async def test_yes_without_a_suggested_day_asks_again(store: Container) -> None:
    verify(store, "maria-chat")
    assert await _validate("maria-chat", "yes", intent="affirm") == (None, InvalidDueDay.message)


# --- confirming and changing -------------------------------------------------------------------


async def test_the_summary_gives_the_move_the_next_due_date_and_the_extra_interest(store: Container) -> None:
    verify(store, "maria-chat")
    moved = next_due(lender_today(), 15).replace(day=25)
    _, messages = await run(ActionAskDueDateConfirmed(),
                            make_tracker("maria-chat", {**VERIFIED, "new_due_day": "25"}))
    assert texts(messages) == (
        "Please confirm: your payment moves from the 15th to the 25th of each month, so your next payment "
        f"of $452.18 is due {format_long_date(moved)}. Because that payment comes later, $27.71 more "
        "interest adds up on your loan. Your payment amount stays the same. Shall I make the change?")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]


async def test_a_lease_summary_has_no_interest(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionAskDueDateConfirmed(),
                            make_tracker("james-chat", {**VERIFIED, "new_due_day": "10"}))
    assert "from the 1st to the 10th" in texts(messages) and "interest" not in texts(messages)


async def test_without_a_yes_nothing_is_changed(store: Container) -> None:
    verify(store, "maria-chat")
    for confirmed in (False, None):
        slots = {**VERIFIED, "new_due_day": "25", "due_date_confirmed": confirmed,
                 "due_date_change_allowed": True}
        events, messages = await run(ActionSubmitDueDateChange(), make_tracker("maria-chat", slots))
        assert texts(messages) == "Okay, I've left your due date as it is; nothing was changed."
        assert _slots(events) == CLEARED
    assert _due_day(store, "7301004821") == 15 and _changes(store) == (0, 0)


async def test_a_confirmed_change_is_made_emailed_and_audited(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {**VERIFIED, "new_due_day": "25", "due_date_confirmed": True, "due_date_change_allowed": True}
    events, messages = await run(ActionSubmitDueDateChange(), make_tracker("maria-chat", slots))
    moved = next_due(lender_today(), 15).replace(day=25)
    assert texts(messages) == (
        f"Done: your payment is now due on the 25th of each month, and your next payment of $452.18 is due "
        f"{format_long_date(moved)}. A confirmation is on its way to your email. Is there anything else I "
        "can help with?")
    assert _slots(events) == CLEARED
    assert _due_day(store, "7301004821") == 25 and _changes(store) == (1, 1)


async def test_james_is_told_his_autopay_still_runs_on_its_own_day(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    slots = {**VERIFIED, "new_due_day": "10", "due_date_confirmed": True}
    _, messages = await run(ActionSubmitDueDateChange(), make_tracker("james-chat", slots))
    assert "Your autopay still runs on the 1st; say 'change my autopay' to move it." in texts(messages)


async def test_a_refused_change_says_why_and_that_nothing_changed(store: Container) -> None:
    verify(store, "maria-chat")
    with store.uow() as uow:
        uow.session.execute(update(Account).where(Account.account_number == "7301004821").values(
            last_due_date_change_on=date.fromordinal(lender_today().toordinal() - 30)))
        uow.commit()
    slots = {**VERIFIED, "new_due_day": "25", "due_date_confirmed": True}
    events, messages = await run(ActionSubmitDueDateChange(), make_tracker("maria-chat", slots))
    assert texts(messages) == f"{due_date.NO_REPEAT} Nothing was changed."
    assert _slots(events) == CLEARED and _due_day(store, "7301004821") == 15 and _changes(store) == (0, 0)


def test_the_day_asked_for_is_the_new_one_not_the_old_one_or_a_payday() -> None:
    from actions.details import TaskRequest  # noqa: PLC0415
    from actions.due_date import _named_day  # noqa: PLC0415

    def day(text: str) -> object:
        return _named_day(TaskRequest("change_due_date", text, {}))

    assert day("please move my payment due date from the 15th to the 28th") == 28
    assert day("my pension comes on the 3rd, so the 20th doesn't work; I'd like it due on the 5th") == 5
    assert day("move it to 25") == 25
    assert day("change my due date") is None


async def test_move_it_right_after_autopay_is_set_up_moves_the_autopay(store: Container) -> None:
    verify(store, "maria-chat")
    done = [{"event": "action", "name": "action_submit_autopay"}, {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "oh wait, can you move it to the 25th?",
             "parse_data": {"intent": {"name": "change_due_date"}, "entities": []}}]
    tracker = make_tracker("maria-chat", {"verified": True}, intent="change_due_date",
                           text="oh wait, can you move it to the 25th?", events=done)
    events, _ = await run(ActionStartDueDateChange(), tracker)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_check_autopay"]
    tracker.latest_message["text"] = "and can you move my due date to the 25th?"
    events, _ = await run(ActionStartDueDateChange(), tracker)
    assert not [e for e in events if e["event"] == "followup"]
