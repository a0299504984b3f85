"""Which account, for a customer with several (a loan and a lease, say).

The first account question of a session asks which one (`runtime.ask_which_account`, buttons
with the masked number and the vehicle); the answer, a button or words ("the lease", "the
Camry", "my other car"), comes here. The choice holds for the session, and saying another
account at any time switches to it. The store decides what a choice may name: only an open
account of the verified customer (`accounts.accounts_in_play`).
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import ANSWERS, AnswerAction, account_action
from actions.runtime import (
    ACCOUNT_RESUME_SLOT, ACCOUNT_SLOT, AccountAction, account_buttons, account_choice, call, container,
)
from autofinance.services import accounts, identity

logger = logging.getLogger(__name__)

# Actions the dialogue's rules take further once they have run (a form, a yes or no): after the
# choice they run as the next action. Any other account action runs here, in this turn. A test
# keeps this list equal to the rules that begin with an action (data/rules).
CONTINUED_BY_RULES = frozenset({
    "action_check_autopay", "action_check_scheduled_payments", "action_confirm_cancel_autopay",
    "action_hardship_options", "action_interest_statement", "action_lease_buyout",
    "action_lease_end_options", "action_offer_fee_waiver", "action_offer_statement_delivery",
    "action_payoff_quote", "action_request_hardship", "action_send_statement", "action_start_bank_account",
    "action_start_due_date_change", "action_start_insurance_update", "action_start_lease_extension",
    "action_start_payment", "action_total_loss_info",
    "autopay_form", "bank_account_form", "cancel_payment_form", "contact_form", "due_date_form",
    "insurance_form", "lease_extension_form", "payment_form",
})
_ANSWER_ACTIONS = frozenset(ANSWERS.values())


def _said_ref(tracker: Tracker) -> Optional[str]:
    """The account id a button sent (`account_ref`), if any: checked against the store later."""
    value = next(tracker.get_latest_entity_values("account_ref"), None)
    return str(value) if value is not None else None


def _last_answer(tracker: Tracker) -> Optional[str]:
    """The account answer given last in this session, to give again for the account switched to
    ("what's my balance" ... "and my other car?")."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return None
        name = event.get("name") if event.get("event") == "action" else None
        if name in _ANSWER_ACTIONS:
            return name
    return None


class ActionSwitchAccount(AccountAction):
    """Takes the account the customer chose or named, then goes on with what they asked."""

    def name(self) -> str:
        return "action_switch_account"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                           customer: identity.VerifiedCustomer) -> list[EventType]:
        current = account_choice(tracker).account_id
        in_play = await call(accounts.accounts_in_play, customer.customer_id, current, container().uow())
        if not in_play.several:
            only = in_play.current
            dispatcher.utter_message(response="utter_only_one_account", account=only.described if only else "")
            return [SlotSet(ACCOUNT_RESUME_SLOT, None)]
        ref = _said_ref(tracker)
        if ref is not None:  # a button (or a typed payload): only one of this customer's open accounts
            chosen = next((o for o in in_play.options if str(o.account_id) == ref), None)
            if chosen is None:
                logger.warning("an account choice that is not the customer's was refused")
        else:
            chosen = accounts.match_account(tracker.latest_message.get("text") or "", in_play)
        if chosen is None:
            dispatcher.utter_message(response="utter_ask_account_choice_again",
                                     buttons=account_buttons(in_play.options))
            return [SlotSet(ACCOUNT_SLOT, str(in_play.chosen.account_id) if in_play.chosen else None)]
        events: list[EventType] = [SlotSet(ACCOUNT_SLOT, str(chosen.account_id)),
                                   SlotSet(ACCOUNT_RESUME_SLOT, None)]
        dispatcher.utter_message(response="utter_account_switched", account=chosen.described)
        return events + await self._go_on(dispatcher, tracker, domain, customer, chosen)

    async def _go_on(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer, chosen: accounts.AccountOption) -> list[EventType]:
        """What the customer asked before the question, or the last answer again for this account."""
        pending = tracker.get_slot(ACCOUNT_RESUME_SLOT)
        name = pending if isinstance(pending, str) else _last_answer(tracker)
        if name in CONTINUED_BY_RULES:
            return [FollowupAction(name)]
        action = account_action(name) if name else None
        if action is None or action.name() == self.name():
            dispatcher.utter_message(response="utter_ask_about_account")
            return []
        slots: dict[str, Any] = tracker.slots
        slots[ACCOUNT_SLOT] = str(chosen.account_id)  # this turn's own copy: the chosen account
        with accounts.choosing(accounts.AccountChoice(chosen.account_id)):
            if isinstance(action, AnswerAction):
                return await action.answer(dispatcher, tracker, domain, customer)
            return await action.run_verified(dispatcher, tracker, domain, customer)
