"""Cancelling a scheduled one-time payment in conversation: pick it, confirm, it is cancelled.

Only payments scheduled for a later day can be cancelled (one being processed today cannot be
recalled), so only those are offered; the service checks again when cancelling. The customer
picks by button (the confirmation number) or by the date, amount or number they type.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.forms import TaskFormValidation
from actions.runtime import AccountAction, call, container, current_customer, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, parse_amount, parse_date
from autofinance.services import identity, payments
from autofinance.services.accounts import PaymentLine
from autofinance.services.errors import ServiceError

CANCEL_PAYMENT_SLOTS = ("payment_to_cancel", "cancel_payment_confirmed", "payments_scheduled")


def describe(line: PaymentLine) -> str:
    """'$100.00 from checking ****6789 on December 5, 2026 (confirmation MP...)'."""
    return (f"{format_usd(line.amount)} from {line.method} on {format_long_date(line.date)} "
            f"(confirmation {line.confirmation_number})")


async def _upcoming(customer_id: int) -> tuple[list[PaymentLine], list[PaymentLine]]:
    """(cancellable, already being processed): the service's own rule for what can be cancelled."""
    today = lender_today()
    lines = await call(payments.scheduled_payments, customer_id, container().uow(), today)
    cancellable = [line for line in lines if payments.cancellable(line.status, line.date, today)]
    return cancellable, [line for line in lines if line not in cancellable]


def pick_payment(lines: list[PaymentLine], said: str, intent: Optional[str], today: date) -> Optional[PaymentLine]:
    """The one payment the customer means, by confirmation number, date or amount; None if unsure."""
    if len(lines) == 1 and intent == "affirm":
        return lines[0]
    upper = said.upper()
    day, amount = parse_date(said, today), parse_amount(said)
    for fits in ([line for line in lines if re.search(rf"\b{line.confirmation_number}\b", upper)],
                 [line for line in lines if line.date == day],
                 [line for line in lines if line.amount == amount]):
        if len(fits) == 1:
            return fits[0]
    return None


class ActionCheckScheduledPayments(AccountAction):
    """Starts the task; with nothing that can be cancelled, says so and why, and stops there."""

    required_level = "full"

    def name(self) -> str:
        return "action_check_scheduled_payments"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cancellable, processing = await _upcoming(customer.customer_id)
        if cancellable:
            request = details.task_request(tracker)
            named = cancellable[0] if len(cancellable) == 1 else pick_payment(
                cancellable, request.entity("confirmation_number") or request.text, None, lender_today())
            prefill = [SlotSet("payment_to_cancel", named.confirmation_number)] if named else []
            return [*details.consumed(tracker), *prefill, SlotSet("payments_scheduled", True)]
        if processing:
            text = ("A payment that is already being processed can't be cancelled: "
                    + "; ".join(describe(line) for line in processing)
                    + ". You have no other scheduled payments.")
        else:
            text = "You don't have any scheduled payments, so there's nothing to cancel."
        dispatcher.utter_message(text=text + " If you meant autopay, say \"cancel autopay\". Is there "
                                 "anything else I can help with?")
        return [SlotSet("payments_scheduled", False)]


class ValidateCancelPaymentForm(TaskFormValidation):
    required_level = "full"
    confirmation_slot = "cancel_payment_confirmed"

    def name(self) -> str:
        return "validate_cancel_payment_form"

    async def validate_payment_to_cancel(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        cancellable, _ = await _upcoming(current_customer().customer_id)
        said = next(tracker.get_latest_entity_values("confirmation_number"), None) or str(value)
        intent = tracker.latest_message.get("intent", {}).get("name")
        line = pick_payment(cancellable, said, intent, lender_today())
        if line is None:
            dispatcher.utter_message(text="Sorry, I couldn't tell which payment you mean. Please pick one "
                                          "of the buttons, or tell me its date or confirmation number.")
            return {"payment_to_cancel": None}
        return {"payment_to_cancel": line.confirmation_number}


class ActionAskPaymentToCancel(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_payment_to_cancel"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cancellable, _ = await _upcoming(customer.customer_id)
        buttons = [{"title": describe(line),
                    "payload": f'/inform{{"confirmation_number":"{line.confirmation_number}"}}'}
                   for line in cancellable]
        dispatcher.utter_message(text="Which scheduled payment should I cancel?", buttons=buttons)
        return []


class ActionAskCancelPaymentConfirmed(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_cancel_payment_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        number = tracker.get_slot("payment_to_cancel")
        cancellable, _ = await _upcoming(customer.customer_id)
        line = next((line for line in cancellable if line.confirmation_number == number), None)
        what = describe(line) if line else f"with confirmation {number}"
        dispatcher.utter_message(
            text=f"Please confirm: cancel your payment of {what}? It won't be taken from your account.",
            buttons=[{"title": "Yes, cancel it", "payload": "/affirm"},
                     {"title": "No, keep it", "payload": "/deny"}],
        )
        return []


class ActionSubmitCancelPayment(AccountAction):
    """Cancels the confirmed payment, or says plainly that it stays scheduled."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_cancel_payment"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in CANCEL_PAYMENT_SLOTS]
        if tracker.get_slot("cancel_payment_confirmed") is not True:
            dispatcher.utter_message(text="Okay, I haven't cancelled anything; the payment stays scheduled. "
                                          "Is there anything else I can help with?")
            return cleared
        try:
            cancelled = await call(payments.cancel_payment, customer.customer_id,
                                   tracker.get_slot("payment_to_cancel"), container().uow(), lender_today())
        except ServiceError as error:
            dispatcher.utter_message(text=f"{error.message} Nothing was cancelled.")
            return cleared
        dispatcher.utter_message(
            text=f"Done: your payment of {format_usd(cancelled.amount)} from {cancelled.source_masked} "
            f"on {format_long_date(cancelled.pay_on)} is cancelled (confirmation "
            f"{cancelled.confirmation_number}), and a confirmation is on its way to your email. "
            "Is there anything else I can help with?"
        )
        return cleared
