"""SMS keywords and answers to a reminder, as the action server runs them."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from actions.details import TaskRequest, task_request
from actions.reminders import ActionReminderCall, ActionReminderReply, ActionSmsKeyword
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import Account, Customer, HandoffTicket, Reminder
from autofinance.domain.reminders import ReminderPolicy
from autofinance.services import reminder_replies, reminders
from tests.actions.conftest import make_tracker, run

PRIYA_MOBILE = "+17205550164"


def _priya_texted(store: Container) -> None:
    """Priya chose texts; her payment reminder (due in 1 to 5 days) goes by SMS now."""
    with store.uow() as uow:
        customer_id = uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301002290"))
        uow.session.execute(update(Customer).where(Customer.id == customer_id).values(
            reminder_channel="sms", sms_consent_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        uow.commit()
    always = replace(ReminderPolicy(), text_hours=(0, 24 * 60), kinds=("payment_due",))
    reminders.send_due_reminders(store.uow(), always, store.settings.lender_timezone, "https://x")


async def test_stop_on_sms_unsubscribes_with_the_carrier_answer(store: Container) -> None:
    tracker = make_tracker(PRIYA_MOBILE, intent="EXTERNAL_sms_stop", text="/EXTERNAL_sms_stop", channel="twilio")
    with store.uow() as uow:
        uow.session.execute(update(Customer).where(Customer.mobile == PRIYA_MOBILE).values(
            sms_consent_at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
        uow.commit()

    _, messages = await run(ActionSmsKeyword(), tracker)

    assert messages[0]["response"] == "utter_sms_stop"
    with store.uow() as uow:
        assert uow.session.scalar(select(Customer.sms_consent_at).where(Customer.mobile == PRIYA_MOBILE)) is None


async def test_the_keyword_intents_do_nothing_off_sms(store: Container) -> None:
    tracker = make_tracker(PRIYA_MOBILE, intent="EXTERNAL_sms_stop", channel="rest")

    events, messages = await run(ActionSmsKeyword(), tracker)

    assert messages == [] and len(events) == 3  # the task under way still ends


async def test_pay_now_names_the_reminder_and_goes_on_to_the_payment(store: Container) -> None:
    _priya_texted(store)
    tracker = make_tracker(PRIYA_MOBILE, intent="EXTERNAL_reminder_pay", channel="twilio")

    events, messages = await run(ActionReminderReply(), tracker)

    assert messages == [{**messages[0], "response": "utter_reminder_pay", "topic": "payment reminder"}]
    assert {"event": "slot", "name": "pending_task", "value": "make_payment"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    with store.uow() as uow:
        answered = uow.session.scalars(select(Reminder.kind).where(Reminder.answered_at.is_not(None))).all()
    assert answered == ["payment_due"]


async def test_pay_now_starts_the_payment_with_the_amount_the_reminder_was_about(store: Container) -> None:
    """"PAY NOW" to a payment reminder: the payment form opens on the monthly payment (once
    verified), not on "how much would you like to pay?"."""
    _priya_texted(store)
    events, _ = await run(ActionReminderReply(), make_tracker(PRIYA_MOBILE, intent="EXTERNAL_reminder_pay",
                                                              channel="twilio"))
    sealed = next(e["value"] for e in events if e.get("name") == "task_details")
    assert "monthly_payment" not in sealed  # sealed, like any request kept across verification
    after = make_tracker(PRIYA_MOBILE, {"task_details": sealed}, intent="inform", text="123456", events=[])
    assert task_request(after) == TaskRequest("make_payment", "", {"amount_choice": "monthly_payment"})


@pytest.mark.parametrize("context, asked", [
    ({"rule": "payment_due", "amount": "389.90"}, {"amount_choice": "monthly_payment"}),
    ({"rule": "payment_missed", "amount": "812.40"}, {"amount_choice": "past_due"}),
    ({"rule": "payoff_expiring", "amount": "18448.26"}, {"amount_choice": "payoff"}),
    ({"rule": "payment_returned", "amount": "389.90"}, {"amount": "$389.90"}),
    ({"rule": "lease_ending"}, {}),
    ({"rule": "insurance_lapsed"}, {}),
])
def test_what_pay_now_pays_for_each_reminder(context: dict[str, str], asked: dict[str, str]) -> None:
    assert reminder_replies.payment_asked(context) == asked


async def test_paid_without_a_reminder_still_goes_on_to_the_payment_history(store: Container) -> None:
    tracker = make_tracker(PRIYA_MOBILE, intent="EXTERNAL_reminder_paid", channel="twilio")

    events, messages = await run(ActionReminderReply(), tracker)

    assert messages[0]["response"] == "utter_paid_without_reminder"
    assert events[0]["value"] == "payment_history"


async def test_call_me_queues_a_call_back_to_the_number_on_file(store: Container) -> None:
    _priya_texted(store)

    _, messages = await run(ActionReminderCall(), make_tracker(
        PRIYA_MOBILE, intent="EXTERNAL_reminder_call", channel="twilio"))

    with store.uow() as uow:
        ticket = uow.session.scalars(select(HandoffTicket)).one()
        assert (ticket.followup, ticket.customer_id is not None) == ("call", True)
        assert messages[0] == {**messages[0], "response": "utter_reminder_call", "phone": "***-***-0164",
                               "ticket": ticket.ticket_number}


async def test_call_me_with_no_reminder_is_the_answer_to_a_waiting_ticket(store: Container) -> None:
    events, _ = await run(ActionReminderCall(), make_tracker(
        "+15550000000", intent="EXTERNAL_reminder_call", channel="twilio"))

    assert [(e["event"], e.get("name") or e.get("value")) for e in events] == [
        ("slot", "followup_method"), ("followup", "action_record_followup")]
