"""A total loss in conversation: the payoff for the insurer, GAP, and a specialist's case.

The figures come first, from the store; the case (a `total_loss` ticket, an email with the
figures for the insurer, an audit row) is opened only after a yes. Every sentence is a response
in domain.yml (`utter_total_loss_*`).
"""
from __future__ import annotations

import re

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.details import consumed, task_request
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import identity, total_loss

OFFERED_SLOT = "total_loss_offered"
_STOLEN = re.compile(r"\b(stol(?:e|en)|steal|theft|thief|thieves|jacked|carjack\w*)\b", re.IGNORECASE)


class ActionTotalLossInfo(AccountAction):
    """The payoff the insurer pays, what GAP covers (if the contract has it), and the offer of a case."""

    required_level = "full"

    def name(self) -> str:
        return "action_total_loss_info"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        info = await call(total_loss.total_loss_info, customer.customer_id, container().uow(), lender_today())
        quote = info.payoff
        dispatcher.utter_message(response=f"utter_total_loss_payoff_{info.product}", vehicle=info.vehicle,
                                 amount=format_usd(quote.amount), good_through=format_long_date(quote.good_through),
                                 per_diem=format_usd(quote.per_diem), quote=quote.quote_number)
        if _STOLEN.search(task_request(tracker).text):
            dispatcher.utter_message(response="utter_total_loss_stolen")
        dispatcher.utter_message(response="utter_total_loss_gap" if info.gap_coverage else "utter_total_loss_no_gap")
        dispatcher.utter_message(response="utter_total_loss_offer_case")
        return [*consumed(tracker), SlotSet(OFFERED_SLOT, True)]


class ActionOpenTotalLossCase(AccountAction):
    """Opens the case after a yes to the offer; after a no or "cancel", says nothing was opened."""

    required_level = "full"

    def name(self) -> str:
        return "action_open_total_loss_case"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(OFFERED_SLOT, None)]
        said_yes = tracker.latest_message.get("intent", {}).get("name") == "affirm"
        if not said_yes or tracker.get_slot(OFFERED_SLOT) is not True:
            dispatcher.utter_message(response="utter_total_loss_case_not_opened")
            return cleared
        case = await call(total_loss.open_total_loss_case, customer.customer_id, tracker.sender_id,
                          tracker.get_latest_input_channel() or "unknown", container().uow(), lender_today())
        dispatcher.utter_message(response="utter_total_loss_case_opened", ticket=case.ticket_number,
                                 email=case.email_masked)
        return cleared
