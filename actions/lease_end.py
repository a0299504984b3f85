"""Lease end in conversation: the choices with their figures, and a request to extend.

Buying or returning the car is arranged by a lease-end specialist, so those choices lead to a
person. An extension is requested here: how many months, a summary, a yes, then the service
records the request and emails a receipt. Nothing on the lease changes until a specialist
confirms, and the customer is told so before and after.
"""
from __future__ import annotations

import re

from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.answers import AnswerAction
from actions.forms import TaskFormValidation, entity_values
from actions.runtime import AccountAction, call, container, current_customer, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, parse_months, your_account
from autofinance.services import identity, lease_end
from autofinance.services.errors import InvalidExtensionLength, NotALease, ServiceError

EXTENSION_SLOTS = ("extension_months", "extension_confirmed", "lease_extension_allowed")
LEASE_END_BUTTONS = [
    {"title": "Yes, connect me", "payload": "/affirm"},
    {"title": "Extend my lease", "payload": "/extend_lease"},
    {"title": "Not now", "payload": "/deny"},
]


async def _options(customer_id: int) -> lease_end.LeaseEndOptions:
    return await call(lease_end.lease_end_options, customer_id, container().uow(), lender_today())


_MONTHS_SAID = re.compile(r"\bmonths?\b", re.I)


def _span(months: int) -> str:
    return "1 month" if months == 1 else f"{months} months"


class ActionLeaseEndOptions(AnswerAction):
    """Buy, return or extend, each with what it costs for this lease."""

    def name(self) -> str:
        return "action_lease_end_options"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        try:
            options = await _options(customer.customer_id)
        except NotALease as error:
            dispatcher.utter_message(text=f"{error.message} If you'd like to pay your loan off, ask me for a "
                                          "payoff quote.")
            return []
        back = options.return_info
        buyout = await call(lease_end.lease_buyout, customer.customer_id, container().uow(), lender_today())
        dispatcher.utter_message(
            text=f"{your_account(options.vehicle, 'lease')} ends {format_long_date(options.maturity_date)} "
            f"({options.days_left} days from now). Your options:\n"
            f"- Buy it: {format_usd(buyout.total)}: the {format_usd(buyout.residual_value)} residual value, "
            f"{buyout.remaining_payments} remaining payments of {format_usd(buyout.monthly_payment)} "
            f"({format_usd(buyout.remaining_payments_total)}) and the {format_usd(buyout.purchase_option_fee)} "
            "purchase-option fee. A specialist arranges the purchase and the title with you; you can pay "
            "from a saved bank account or with a loan from us.\n"
            f"- Return it: book an inspection within {back.inspection_window_days} days of the end; excess "
            f"miles cost {format_usd(back.excess_mileage_rate)} each, and the disposition fee is "
            f"{format_usd(back.disposition_fee)}. {back.disposition_fee_waiver}\n"
            f"- Extend it month to month, up to {options.extension_months_available} months, at "
            f"{format_usd(options.monthly_payment)} a month: I can send that request for you now.\n"
            "Would you like a lease-end specialist to help you buy or return it?",
            buttons=LEASE_END_BUTTONS,
        )
        return []


class ActionStartLeaseExtension(AccountAction):
    """Starts the request: only for a lease, and with the months if the customer already said them."""

    required_level = "full"

    def name(self) -> str:
        return "action_start_lease_extension"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        try:
            await _options(customer.customer_id)
        except NotALease as error:
            dispatcher.utter_message(text=f"{error.message} Is there anything else I can help with?")
            return [SlotSet("lease_extension_allowed", False)]
        events: list[EventType] = [*details.consumed(tracker), SlotSet("lease_extension_allowed", True)]
        events += [SlotSet(slot, value) for slot, value in
                   named_extension_values(details.task_request(tracker).text).items()]
        return events


def named_extension_values(text: str, pressed: Optional[str] = None) -> dict[str, str]:
    """The length a message names, when it says months ("2 months", "by three months"), or the
    button pressed (by number on SMS: "4" is the fourth button, 6 months)."""
    if pressed and pressed.isdigit():
        return {"extension_months": f"{pressed} months"}
    if _MONTHS_SAID.search(text) and parse_months(text) is not None:
        return {"extension_months": text}
    return {}


class ValidateLeaseExtensionForm(TaskFormValidation):
    required_level = "full"
    confirmation_slot = "extension_confirmed"

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        return named_extension_values(tracker.latest_message.get("text") or "",
                                      entity_values(tracker).get("months"))

    def name(self) -> str:
        return "validate_lease_extension_form"

    async def validate_extension_months(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        months = parse_months(str(value))
        if months is None or not 1 <= months <= lease_end.MAX_EXTENSION_MONTHS:
            dispatcher.utter_message(text=InvalidExtensionLength.message)
            return {"extension_months": None}
        return {"extension_months": str(months)}


class ActionAskExtensionMonths(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_extension_months"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        options = await _options(customer.customer_id)
        dispatcher.utter_message(
            text=f"Your lease ends {format_long_date(options.maturity_date)}. By how many months would you "
            f"like to extend it? From 1 to {options.extension_months_available}, month to month at "
            f"{format_usd(options.monthly_payment)} a month.",
            buttons=[{"title": _span(n), "payload": f'/inform{{"months":"{n}"}}'} for n in (1, 2, 3, 6)],
        )
        return []


class ActionAskExtensionConfirmed(AccountAction):
    """The summary the customer says yes to, saying plainly that a specialist still decides."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_extension_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        preview = await call(lease_end.preview_lease_extension, customer.customer_id,
                             int(tracker.get_slot("extension_months")), container().uow())
        dispatcher.utter_message(
            text=f"Please confirm: a request to extend your lease by {_span(preview.months)}, month to month "
            f"at {format_usd(preview.monthly_payment)} a month, to "
            f"{format_long_date(preview.requested_maturity_date)}. A lease-end "
            "specialist reviews it and contacts you; until then nothing on your lease changes. "
            "Shall I send the request?",
            buttons=[{"title": "Yes, send it", "payload": "/affirm"},
                     {"title": "No, don't", "payload": "/deny"}],
        )
        return []


class ActionSubmitLeaseExtension(AccountAction):
    """Sends exactly the confirmed request, or says plainly that nothing was sent."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_lease_extension"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in EXTENSION_SLOTS]
        if tracker.get_slot("extension_confirmed") is not True:
            dispatcher.utter_message(response="utter_lease_extension_stopped")
            return cleared
        try:
            requested = await call(lease_end.request_lease_extension, current_customer().customer_id,
                                   int(tracker.get_slot("extension_months")), container().uow(),
                                   container().settings.public_base_url, lender_today())
        except ServiceError as error:
            dispatcher.utter_message(text=f"{error.message} Nothing was sent.")
            return cleared
        if requested.created:
            text = f"{requested.message} I've emailed you a receipt."
        else:
            text = (f"You already sent this request today (reference {requested.reference}), so I haven't "
                    "sent it twice. A lease-end specialist will contact you.")
        dispatcher.utter_message(text=f"{text} Is there anything else I can help with?")
        return cleared
