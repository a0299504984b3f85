"""New ways to pay in conversation: a bank account given here, a debit card by a secure link.

The service (autofinance/services/funding_sources.py) holds the checks and the limits. The form
asks for the routing number, the account number and checking or savings, checks each as it
comes and seals both numbers at once, so neither stays readable in a slot (the tracker store
also redacts the account number's answer). The summary shows them masked, and nothing is saved
until the customer says yes. A bank account asked for at a payment's or autopay's account
question (or with the request: "pay from a new checking account") is then used by that task,
which resumes without asking anything twice. Card numbers are refused here: the channels never
pass one on (rasa_ext/limits.py), and a single-use link to the card page is emailed instead.
Every sentence is a response in domain.yml.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.forms import TaskFormValidation
from actions.autopay import named_autopay_values
from actions.payments import SOURCE_ID_PREFIX, named_payment_values
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.adapters.sealing import seal, unseal
from autofinance.services import autopay, funding_sources, identity, payments
from autofinance.services.errors import InvalidBankDetail, NewSourceLimitReached, ServiceError

BANK_SLOTS = ("bank_routing", "bank_account_number", "bank_account_kind", "bank_account_confirmed")
TASK_FORMS = {"payment_form": "payment", "autopay_form": "autopay"}
SOURCE_SLOT = {"payment": "payment_source", "autopay": "autopay_source"}
_AUTOPAY = re.compile(r"\bauto\s?-?pay|\bautomatic|\brecurring\b", re.IGNORECASE)
_PAY = re.compile(r"\bpa(?:y|ying|yment)\b", re.IGNORECASE)


_NEW_CARD = re.compile(r"\b(?:new|another|different|add|adding|second)\b", re.IGNORECASE)


async def _saved_debit_card(customer_id: int) -> Optional[int]:
    """The id of the customer's saved debit card, when there is exactly one."""
    options = await call(payments.payment_options, customer_id, container().uow(), lender_today())
    cards = [source.id for source in options.funding_sources if source.kind == "debit_card"]
    return cards[0] if len(cards) == 1 else None


def task_for(tracker: Tracker, request_text: str) -> Optional[str]:
    """The task the new account is for: the payment or autopay form under way, or the one the
    request names ("pay from a new checking account"); None for an account added on its own."""
    form = TASK_FORMS.get(tracker.active_loop.get("name") or "")
    if form:
        return form
    if _AUTOPAY.search(request_text):
        return "autopay"
    return "payment" if _PAY.search(request_text) else None


def _conversation(tracker: Tracker) -> str:
    return funding_sources.conversation_key(tracker.sender_id, container().settings.secret_pepper)


def _sealed(tracker: Tracker, slot: str) -> Optional[str]:
    return unseal(tracker.get_slot(slot), container().settings.secret_pepper)


def _resume(task: Optional[str], tracker: Tracker) -> list[EventType]:
    """Back to the task the account was for, with what its request said ("pay $50 on friday
    from a new checking account": the $50 and the Friday; the account is the one just added,
    or asked again). The form checks each value like any answer."""
    if not task:
        return details.consumed(tracker)
    request = details.sealed_request(tracker)
    named: dict[str, str] = {}
    if request is not None:
        named = (named_payment_values(request.text, request.entities, [], []) if task == "payment"
                 else named_autopay_values(request.entities, request.text))
        named.pop(SOURCE_SLOT[task], None)
    return [*details.consumed(tracker), *(SlotSet(slot, value) for slot, value in named.items()
                                          if tracker.get_slot(slot) is None),
            FollowupAction(f"{task}_form")]


class ActionStartBankAccount(AccountAction):
    """Starts the form afresh if the limits allow another account, else says why (and a task
    under way asks its account question again)."""

    required_level = "full"

    def name(self) -> str:
        return "action_start_bank_account"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        request = details.task_request(tracker)
        task = task_for(tracker, request.text)
        # "pay $50 from a new checking account": the request stays sealed until the payment
        # starts after the account is added, with the $50 (a task under way has its details)
        keep_request = task is not None and not tracker.active_loop.get("name")
        events: list[EventType] = [*([] if keep_request else details.consumed(tracker)),
                                   *(SlotSet(slot, None) for slot in BANK_SLOTS),
                                   SlotSet("bank_account_for", task)]
        try:
            await call(funding_sources.check_new_source_allowed, customer.customer_id, _conversation(tracker),
                       container().uow())
        except NewSourceLimitReached as refused:
            dispatcher.utter_message(response=f"utter_bank_account_limit_{refused.scope}")
            return [*events, SlotSet("bank_account_allowed", False), *_resume(task, tracker)]
        except ServiceError as refused:  # a frozen account, an account paid off
            dispatcher.utter_message(text=refused.message)
            return [*events, SlotSet("bank_account_allowed", False), *_resume(task, tracker)]
        try:  # "a new checking account": the kind is said already
            events.append(SlotSet("bank_account_kind", funding_sources.check_account_kind(request.text)))
        except InvalidBankDetail:
            pass
        return [*events, SlotSet("bank_account_allowed", True)]


class ValidateBankAccountForm(TaskFormValidation):
    """Checks each detail as it is given; both numbers are sealed as soon as they pass."""

    required_level = "full"
    confirmation_slot = "bank_account_confirmed"

    def name(self) -> str:
        return "validate_bank_account_form"

    async def _number(self, slot: str, value: Any, check: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        pepper = container().settings.secret_pepper
        if unseal(str(value), pepper) is not None:  # already checked and sealed
            return {slot: value}
        try:
            return {slot: seal(check(str(value)), pepper)}
        except InvalidBankDetail as error:
            dispatcher.utter_message(response=f"utter_bank_invalid_{error.reason}")
            return {slot: None}

    async def validate_bank_routing(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        return await self._number("bank_routing", value, funding_sources.check_routing_number, dispatcher)

    async def validate_bank_account_number(self, value: Any, dispatcher: CollectingDispatcher,
                                           tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return await self._number("bank_account_number", value, funding_sources.check_account_number, dispatcher)

    async def validate_bank_account_kind(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> dict[str, Any]:
        try:
            return {"bank_account_kind": funding_sources.check_account_kind(str(value))}
        except InvalidBankDetail as error:
            dispatcher.utter_message(response=f"utter_bank_invalid_{error.reason}")
            return {"bank_account_kind": None}


class ActionAskBankAccountConfirmed(AccountAction):
    """The summary the customer says yes to: both numbers masked."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_bank_account_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        routing, number = _sealed(tracker, "bank_routing") or "", _sealed(tracker, "bank_account_number") or ""
        dispatcher.utter_message(response="utter_ask_bank_account_confirmed",
                                 kind=tracker.get_slot("bank_account_kind"), last4=number[-4:],
                                 routing=funding_sources.mask_routing(routing))
        return []


class ActionSubmitBankAccount(AccountAction):
    """Saves exactly the confirmed account (once), then hands it to the task it was for."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_bank_account"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in BANK_SLOTS]
        task = tracker.get_slot("bank_account_for")
        routing, number = _sealed(tracker, "bank_routing"), _sealed(tracker, "bank_account_number")
        if tracker.get_slot("bank_account_confirmed") is not True:
            dispatcher.utter_message(response="utter_bank_account_not_added")
            return [*cleared, *_resume(task, tracker)]
        if not (routing and number):  # sealed values last 15 minutes
            dispatcher.utter_message(response="utter_bank_account_details_expired")
            return [*cleared, *_resume(task, tracker)]
        try:
            added = await call(funding_sources.add_bank_account, customer.customer_id, routing, number,
                               str(tracker.get_slot("bank_account_kind")), _conversation(tracker),
                               container().uow(), container().settings.secret_pepper)
        except NewSourceLimitReached as refused:
            dispatcher.utter_message(response=f"utter_bank_account_limit_{refused.scope}")
            return [*cleared, *_resume(task, tracker)]
        except ServiceError as error:
            dispatcher.utter_message(text=error.message)
            return [*cleared, *_resume(task, tracker)]
        standalone = "" if task else "_standalone"
        response = "utter_bank_account_added" if added.created else "utter_bank_account_already_saved"
        dispatcher.utter_message(response=response + standalone, account=added.masked_name,
                                 email=added.email_masked)
        if not task:
            return cleared
        # checked again by the task's form, like any answer: "source:<id>" names it exactly
        events = [*cleared, SlotSet(SOURCE_SLOT[task], f"{SOURCE_ID_PREFIX}{added.source_id}")]
        if task == "autopay" and tracker.get_slot("autopay_enrolled") is None:  # asked with the request
            status = await call(autopay.autopay_status, customer.customer_id, container().uow(),
                                lender_today())
            events.append(SlotSet("autopay_enrolled", status.enrolled))
        return [*events, *_resume(task, tracker)]


class ActionSendCardLink(AccountAction):
    """A debit card is added only on the secure card page: a single-use link by email."""

    required_level = "full"

    def name(self) -> str:
        return "action_send_card_link"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        paying = tracker.active_loop.get("name") == "payment_form"
        saved = await _saved_debit_card(customer.customer_id) if paying else None
        if saved is not None and not _NEW_CARD.search(tracker.latest_message.get("text") or ""):
            # "no wait, use the debit card" with one on file: that card (one of the customer's
            # own saved sources, as the form keeps a checked one: its id), the summary again
            dispatcher.utter_message(response="utter_change_noted")
            return [SlotSet("payment_source", str(saved)), SlotSet("payment_confirmed", None)]
        settings = container().settings
        try:
            sent = await call(funding_sources.send_card_link, customer.customer_id, container().uow(),
                              settings.public_base_url, settings.secret_pepper)
        except NewSourceLimitReached:
            dispatcher.utter_message(response="utter_bank_account_limit_customer")
            return details.consumed(tracker)
        except ServiceError as error:
            dispatcher.utter_message(text=error.message)
            return details.consumed(tracker)
        dispatcher.utter_message(response="utter_card_link_sent", destination=sent.destination_masked,
                                 minutes=sent.expires_in_minutes)
        return details.consumed(tracker)


class ActionRefuseCardNumber(Action):
    """A card number was typed (the channel kept it out): say we never take one here, and how a
    card is added. Public: it reads no account data. In the middle of a task, the task's
    question follows (data/rules/funding_sources.yml)."""

    def name(self) -> str:
        return "action_refuse_card_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        in_task = bool(tracker.active_loop.get("name"))
        dispatcher.utter_message(response="utter_card_number_refused_in_task" if in_task else "utter_card_number_refused")
        return []
