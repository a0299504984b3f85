"""Changing the monthly due date in conversation, as a routine request.

The service decides who may (current on payments, once in 12 months) and which days (1-28,
within 15 days). The form asks for the day, shows what the move means (the next due date and, on
a loan, the extra interest), and changes nothing until the customer says yes; the confirmation
email goes out with the change, from the service. Autopay keeps its own day, and the customer is
told how to move it too.
"""
from __future__ import annotations

import re

from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.autopay import ordinal
from actions.details import TaskRequest, action_before_message, consumed, task_request
from actions.forms import TaskFormValidation
from actions.runtime import AccountAction, call, container, current_customer, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, mentions_date, parse_day_of_month
from autofinance.services import due_date, identity
from autofinance.services.errors import InvalidDueDay, ServiceError

DUE_DATE_SLOTS = ("new_due_day", "due_date_confirmed", "due_date_change_allowed")
# What the due-date change says; `str.format` fills the figures.
TEXT = {
    "ask_day": "Your payment is due on the {current} of each month. You can move it to any day from the "
               "{earliest} to the {latest}. Which day would you like?",
    "ask_autopay_day": " Your autopay runs on the {autopay}: shall I move your due date to the {autopay} "
                       "to match?",
    "confirm": "Please confirm: your payment moves from the {old} to the {new} of each month, so your next "
               "payment of {amount} is due {due}.",
    "extra_interest": " Because that payment comes later, {interest} more interest adds up on your loan.",
    "same_amount": " Your payment amount stays the same. Shall I make the change?",
    "done": "Done: your payment is now due on the {new} of each month, and your next payment of {amount} "
            "is due {due}. A confirmation is on its way to your email.",
    "autopay_note": " Your autopay still runs on the {autopay}; say 'change my autopay' to move it.",
    "anything_else": " Is there anything else I can help with?",
    "not_changed": "Okay, I've left your due date as it is; nothing was changed.",
    "not_changed_after_error": "{error} Nothing was changed.",
}
CONFIRM_BUTTONS = [{"title": "Yes, change it", "payload": "/affirm"},
                   {"title": "No, keep it", "payload": "/deny"}]
# every refusal mentions a hardship specialist, so each offers the way there
HARDSHIP_BUTTONS = [{"title": "I need help with payments", "payload": "/hardship_help"}]


async def _eligibility(customer_id: int) -> due_date.DueDateEligibility:
    return await call(due_date.due_date_change_eligibility, customer_id, container().uow(), lender_today())


def _proposed_day(eligibility: due_date.DueDateEligibility) -> Optional[int]:
    """The day the question suggests: autopay's, when the due date could move to it."""
    day = eligibility.autopay_day
    if day is None or day == eligibility.current_day:
        return None
    return day if eligibility.earliest_day <= day <= eligibility.latest_day else None


_DUE_WORDS = re.compile(r"\b(due|payment date|bill date)\b", re.IGNORECASE)
_DAY_MENTION = re.compile(r"\b(?:the\s+)?\d{1,2}(?:st|nd|rd|th)\b|\bthe\s+\d{1,2}\b", re.IGNORECASE)


def _named_day(request: TaskRequest) -> Optional[int]:
    """The day the request asks for: "from the 15th to the 25th" means the 25th, and "my pension
    comes on the 3rd, so a due date of the 20th is hard; make it the 5th" means the 5th: the
    day after the last "to", else the last day named."""
    text = request.text
    tail = text.rsplit(" to ", 1)[-1] if " to " in text else ""
    for part in (tail, text):
        days = [parse_day_of_month(m.group(0)) for m in _DAY_MENTION.finditer(part)]
        days = [day for day in days if day is not None]
        if days:
            return days[0] if part is tail else days[-1]
    if tail and len(tail.split()) <= 3 and (bare := parse_day_of_month(tail)):
        return bare  # "move it to 25"
    named = request.entity("date")
    return parse_day_of_month(named) if named else None


class ActionStartDueDateChange(AccountAction):
    """Starts the task only if the customer may change the date, with the day if they named one."""

    required_level = "full"

    def name(self) -> str:
        return "action_start_due_date_change"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if action_before_message(tracker) == "action_submit_autopay" and not _DUE_WORDS.search(text):
            return [FollowupAction("action_check_autopay")]  # "move it to the 25th": the autopay just set up
        eligibility = await _eligibility(customer.customer_id)
        if not eligibility.eligible:
            dispatcher.utter_message(text=eligibility.reason, buttons=HARDSHIP_BUTTONS)
            return [SlotSet("due_date_change_allowed", False), *consumed(tracker)]
        events: list[EventType] = [SlotSet("due_date_change_allowed", True), *consumed(tracker)]
        request = task_request(tracker)
        day = _named_day(request) if request.intent == "change_due_date" else None
        if day is None:
            return events
        try:  # a day the form would refuse is said now and asked again, never prefilled
            await call(due_date.preview_due_date_change, customer.customer_id, day, container().uow(),
                       lender_today())
        except ServiceError as refused:
            dispatcher.utter_message(text=refused.message)
            return events
        return events + [SlotSet("new_due_day", str(day))]


class ValidateDueDateForm(TaskFormValidation):
    """Accepts only a day the service would move the due date to; "yes" takes the suggested day."""

    required_level = "full"
    confirmation_slot = "due_date_confirmed"

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        """A day named at any step ("make it the 20th instead")."""
        said = next(tracker.get_latest_entity_values("date"), None)
        text = tracker.latest_message.get("text") or ""
        if said is None and mentions_date(text):
            said = text
        return {"new_due_day": said} if said and parse_day_of_month(said) is not None else {}

    def name(self) -> str:
        return "validate_due_date_form"

    async def validate_new_due_day(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        customer_id = current_customer().customer_id
        day = parse_day_of_month(next(tracker.get_latest_entity_values("date"), None) or str(value))
        if day is None and tracker.latest_message.get("intent", {}).get("name") == "affirm":
            day = _proposed_day(await _eligibility(customer_id))
        if day is None:
            dispatcher.utter_message(text=InvalidDueDay.message)
            return {"new_due_day": None}
        try:
            await call(due_date.preview_due_date_change, customer_id, day, container().uow(), lender_today())
        except ServiceError as refused:
            dispatcher.utter_message(text=refused.message)
            return {"new_due_day": None}
        return {"new_due_day": str(day)}


class ActionAskNewDueDay(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_new_due_day"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        eligibility = await _eligibility(customer.customer_id)
        text = TEXT["ask_day"].format(current=ordinal(eligibility.current_day),
                                      earliest=ordinal(eligibility.earliest_day),
                                      latest=ordinal(eligibility.latest_day))
        proposed = _proposed_day(eligibility)
        if proposed is None:
            dispatcher.utter_message(text=text)
            return []
        dispatcher.utter_message(
            text=text + TEXT["ask_autopay_day"].format(autopay=ordinal(proposed)),
            buttons=[{"title": f"Yes, the {ordinal(proposed)}",
                      "payload": f'/inform{{"date":"the {ordinal(proposed)}"}}'}],
        )
        return []


class ActionAskDueDateConfirmed(AccountAction):
    """The summary the customer says yes to: the move, the next due date and any extra interest."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_due_date_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        preview = await call(due_date.preview_due_date_change, customer.customer_id,
                             int(tracker.get_slot("new_due_day")), container().uow(), lender_today())
        text = TEXT["confirm"].format(old=ordinal(preview.current_day), new=ordinal(preview.new_day),
                                      amount=format_usd(preview.payment_amount),
                                      due=format_long_date(preview.next_due_date))
        if preview.extra_interest > 0:
            text += TEXT["extra_interest"].format(interest=format_usd(preview.extra_interest))
        dispatcher.utter_message(text=text + TEXT["same_amount"], buttons=CONFIRM_BUTTONS)
        return []


class ActionSubmitDueDateChange(AccountAction):
    """Makes exactly the confirmed change, or says plainly that nothing was changed."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_due_date_change"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in DUE_DATE_SLOTS]
        if tracker.get_slot("due_date_confirmed") is not True:
            dispatcher.utter_message(text=TEXT["not_changed"])
            return cleared
        try:
            changed = await call(due_date.change_due_date, customer.customer_id,
                                 int(tracker.get_slot("new_due_day")), container().uow(),
                                 container().settings.public_base_url, lender_today())
        except ServiceError as error:
            dispatcher.utter_message(text=TEXT["not_changed_after_error"].format(error=error.message))
            return cleared
        text = TEXT["done"].format(new=ordinal(changed.new_day), amount=format_usd(changed.payment_amount),
                                   due=format_long_date(changed.next_due_date))
        if changed.autopay_day is not None:
            text += TEXT["autopay_note"].format(autopay=ordinal(changed.autopay_day))
        dispatcher.utter_message(text=text + TEXT["anything_else"])
        return cleared
