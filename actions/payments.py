"""A one-time payment in conversation: amount, date, saved funding source, confirmation.

Nothing is stored until the customer confirms the summary; the payment service is idempotent on
a key fixed when the form starts, so a repeated confirmation cannot pay twice.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any, Optional, Union

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.answers import answer_second_question
from actions.forms import TaskFormValidation, entity_spans, entity_values
from actions.runtime import AccountAction, call, container, current_customer, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import (AmountChoice, format_long_date, mentions_date, parse_amount,
                                        parse_amount_choice, parse_date)
from autofinance.services import identity, payments
from autofinance.services.errors import AmountOverPayoff, InvalidAmount, InvalidPaymentDate, ServiceError

PAYMENT_SLOTS = ("payment_amount", "payment_date", "payment_source", "payment_confirmed", "payment_attempt")
CHOICE_LABELS = {"monthly_payment": "your monthly payment", "past_due": "the past-due amount",
                 "payoff": "the full payoff"}


def payment_key(conversation_id: str, attempt: str) -> str:
    """One key per payment form run: a repeated confirmation replays, never pays again."""
    return hashlib.sha256(f"{conversation_id}:{attempt}".encode()).hexdigest()


def _day_label(day: date, today: date) -> str:
    return f"{format_long_date(day)} (today)" if day == today else format_long_date(day)


async def _options(customer_id: int) -> payments.PaymentOptions:
    return await call(payments.payment_options, customer_id, container().uow(), lender_today())


def _wanted_amount(value: Any) -> Optional[Union[AmountChoice, Decimal]]:
    """What the customer asked to pay: a named amount or a figure; None if unclear."""
    said = str(value)
    if said in payments.AMOUNT_CHOICES:
        return said  # type: ignore[return-value]
    choice = parse_amount_choice(said)
    if choice is not None:
        return choice if choice in payments.AMOUNT_CHOICES else None
    return parse_amount(said)


SOURCE_WORDS = re.compile(r"\b(?:checking|savings|debit card)\b", re.IGNORECASE)
_SOURCE_WITH_DIGITS = re.compile(r"\b(?:checking|savings|debit card|card)\b[^.,;]{0,20}?(?<!\d)\d{4}(?!\d)",
                                 re.IGNORECASE)
_AMOUNT_AFTER_PAY = re.compile(r"\bpay(?:ing)?\s+(\$?\d[\d,]*(?:\.\d{1,2})?)(?!\d|\s*(?:st|nd|rd|th)\b|/)",
                               re.IGNORECASE)


def named_payment_values(text: str, entities: dict[str, str],
                         date_spans: list[tuple[int, int]], amount_spans: list[tuple[int, int]]
                         ) -> dict[str, str]:
    """The payment details a message names: amount (or a named amount), date, saved account.
    A figure inside a date ("the 15th") is a date, not an amount."""
    found: dict[str, str] = {}
    choice = entities.get("amount_choice") or parse_amount_choice(text)
    inside_date = any(ds <= a_start and a_end <= de for a_start, a_end in amount_spans
                      for ds, de in date_spans)
    figure = entities.get("amount") if entities.get("amount") and not inside_date else None
    if figure is None and (said := _AMOUNT_AFTER_PAY.search(text)):  # "pay 100 tmrw", untagged
        figure = said.group(1)
    if entities.get("amount_choice"):  # a button pressed
        found["payment_amount"] = entities["amount_choice"]
    elif figure and ("$" in figure or not choice):  # "$406.20 ... so it doesn't count as late"
        found["payment_amount"] = figure
    elif choice:
        found["payment_amount"] = choice
    if entities.get("date"):
        found["payment_date"] = entities["date"]
    elif mentions_date(text) and parse_date(text, date.today()) is not None:
        found["payment_date"] = text  # the tagger missed it ("on friday"); the validator reads it
    if source := named_source(entities.get("funding_source"), text):
        found["payment_source"] = source
    return found


def named_source(entity: Optional[str], text: str) -> Optional[str]:
    """The saved account a message names: the tagged words when they say which ("my checking",
    "card ending 1111"), else the kind of account in the text ("switch it to my checking then",
    or a tag of just "my")."""
    if entity and (SOURCE_WORDS.search(entity) or re.search(r"\d{4}", entity) or "card" in entity.lower()):
        return entity
    with_digits = _SOURCE_WITH_DIGITS.search(text)  # "checking ending 2244": the digits must fit too
    if with_digits:
        return with_digits.group(0)
    said = SOURCE_WORDS.search(text)
    return said.group(0) if said else entity


# "pay it" right after an answer that named one amount: that amount
_PAY_IT = re.compile(r"\bpay\s+(?:it|that|this)\b(?!\s+off)|\bpay\s+(?:that|the)\s+amount\b", re.IGNORECASE)
ANSWERED_AMOUNT = {"action_next_payment": "monthly_payment", "action_past_due": "past_due"}


def amount_referred_to(tracker: Tracker, text: str) -> Optional[str]:
    """The amount "pay it" means when the answer just before named one ("your next payment of
    $452.18 is due..." -> the monthly payment); None when the words or the answer say no amount."""
    if not _PAY_IT.search(text) or tracker.latest_message.get("text") != text:
        return None  # a request from before verification: the answer before it is not known here
    return ANSWERED_AMOUNT.get(details.action_before_message(tracker) or "")


NEW_SOURCE_INTENTS = frozenset({"add_bank_account", "add_debit_card"})
NEW_BANK_ACCOUNT_BUTTON = {"title": "A new bank account", "payload": "/add_bank_account"}


# "from a new checking account", "a different bank account", "another account that isn't saved"
_NEW_SOURCE_WORDS = re.compile(
    r"\b(?:new|different|another)\s+(?:bank\s+|checking\s+|savings\s+)*(?:account|acct|checking|savings)\b",
    re.IGNORECASE)


def names_new_source(text: str) -> bool:
    """Whether a request names a bank account that is not saved yet ("pay $50 from a new
    checking account"): the account is added first, then the task goes on."""
    return bool(_NEW_SOURCE_WORDS.search(text))


def new_source_first(request: details.TaskRequest) -> list[EventType]:
    """The request kept for its task, and the new bank account's questions first."""
    return [*details.kept(request), FollowupAction("action_start_bank_account")]


def asks_for_new_source(tracker: Tracker) -> bool:
    """Whether the latest message asks for a way to pay that is not saved yet."""
    return (tracker.latest_message.get("intent") or {}).get("name") in NEW_SOURCE_INTENTS


SOURCE_ID_PREFIX = "source:"  # a source named by its id: the one a new bank account just became


async def saved_source_id(customer_id: int, value: Any) -> Optional[str]:
    """The id in "source:<id>" when it is one of the customer's active saved sources, else None."""
    said = str(value)
    if not said.startswith(SOURCE_ID_PREFIX):
        return None
    ids = {str(o.id) for o in (await _options(customer_id)).funding_sources}
    wanted = said[len(SOURCE_ID_PREFIX):]
    return wanted if wanted in ids else None


class ActionStartPayment(AccountAction):
    """Starts the form with what the first request already said ("pay $250 friday from checking").

    The values go in as the customer wrote them; the form's validation then checks them like any
    answer, so a bad amount or date is refused and asked again, never stored.
    """

    required_level = "full"

    def name(self) -> str:
        return "action_start_payment"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        request = details.task_request(tracker)
        if names_new_source(request.text):
            return new_source_first(request)
        prefill = named_payment_values(request.text, request.entities, [], [])
        if "payment_amount" not in prefill and (referred := amount_referred_to(tracker, request.text)):
            prefill["payment_amount"] = referred
        sources = (await _options(customer.customer_id)).funding_sources
        if "payment_source" not in prefill and len(sources) == 1:
            prefill["payment_source"] = sources[0].masked_name  # nothing to choose
        return [*details.consumed(tracker), *(SlotSet(slot, value) for slot, value in prefill.items())]


class ValidatePaymentForm(TaskFormValidation):
    """Checks each answer as it comes, so the summary only ever shows an acceptable payment."""

    required_level = "full"
    confirmation_slot = "payment_confirmed"
    stop_intents = frozenset({"deny", "cancel_payment"})  # "wait, cancel that payment"

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        if asks_for_new_source(tracker):  # "a new checking account" names no saved one
            return {}
        return named_payment_values(tracker.latest_message.get("text") or "", entity_values(tracker),
                                    entity_spans(tracker, "date"), entity_spans(tracker, "amount"))

    def name(self) -> str:
        return "validate_payment_form"

    async def validate_payment_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        wanted = _wanted_amount(value)
        attempt = {"payment_attempt": tracker.get_slot("payment_attempt") or uuid.uuid4().hex}
        if wanted is None:
            dispatcher.utter_message(text="Sorry, I didn't catch the amount. How much would you like to pay, for example $250?")
            return {"payment_amount": None, **attempt}
        try:
            amount = await call(payments.resolve_amount, current_customer().customer_id, wanted,
                                container().uow(), lender_today())
        except (InvalidAmount, AmountOverPayoff) as refused:
            dispatcher.utter_message(text=refused.message)
            return {"payment_amount": None, **attempt}
        return {"payment_amount": str(amount), **attempt}

    async def validate_payment_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        today = lender_today()
        affirmed = tracker.latest_message.get("intent", {}).get("name") == "affirm"
        day = today if affirmed and tracker.get_slot("requested_slot") == "payment_date" else parse_date(str(value), today)
        if day is None:
            dispatcher.utter_message(text="Sorry, I didn't catch the date. You can say \"today\", \"Friday\" or a date like 12/15.")
            return {"payment_date": None}
        try:
            payments.check_payment_date(day, today)
        except InvalidPaymentDate as refused:
            dispatcher.utter_message(text=refused.message)
            return {"payment_date": None}
        return {"payment_date": day.isoformat()}

    async def validate_payment_source(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        customer_id = current_customer().customer_id
        if (added := await saved_source_id(customer_id, value)) is not None:  # a bank account just added
            return {"payment_source": added}
        option = await call(payments.resolve_funding_source, customer_id, str(value), container().uow())
        if option is None:
            names = ", ".join(o.masked_name for o in (await _options(customer_id)).funding_sources)
            dispatcher.utter_message(text=f"Please pick one of your saved accounts: {names}.")
            return {"payment_source": None}
        return {"payment_source": str(option.id)}


class ActionAskPaymentAmount(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_payment_amount"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        options = await _options(customer.customer_id)
        buttons = [{"title": f"Monthly payment {format_usd(options.monthly_payment)}",
                    "payload": '/inform{"amount_choice":"monthly_payment"}'}]
        if options.past_due_amount > 0:
            buttons.append({"title": f"Past due {format_usd(options.past_due_amount)}",
                            "payload": '/inform{"amount_choice":"past_due"}'})
        buttons.append({"title": f"Payoff {format_usd(options.payoff_amount)}",
                        "payload": '/inform{"amount_choice":"payoff"}'})
        dispatcher.utter_message(
            text="How much would you like to pay? Pick one below or type an amount.", buttons=buttons
        )
        return []


class ActionAskPaymentDate(AccountAction):
    """Asks when, proposing today: "yes" takes it (see validate_payment_date)."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_payment_date"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        today = lender_today()
        amount = tracker.get_slot("payment_amount")
        what = f"the {format_usd(Decimal(amount))} payment" if amount else "the payment"
        dispatcher.utter_message(
            text=f"When should {what} be made? I can make it today, {format_long_date(today)}, or on "
            "any date up to 30 days from now (for example \"Friday\" or \"the 15th\").",
            buttons=[{"title": "Today", "payload": '/inform{"date":"today"}'}])
        return []


class ActionAskPaymentSource(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_payment_source"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        options = await _options(customer.customer_id)
        buttons = [
            {"title": o.masked_name + (f" ({format_usd(o.fee)} fee)" if o.fee else ""),
             "payload": f'/inform{{"funding_source":"{o.masked_name}"}}'}
            for o in options.funding_sources
        ]
        dispatcher.utter_message(text="Which saved account should I use?",
                                 buttons=[*buttons, NEW_BANK_ACCOUNT_BUTTON])
        return []


class ActionAskPaymentConfirmed(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_payment_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        options = await _options(customer.customer_id)
        source = next(o for o in options.funding_sources if str(o.id) == tracker.get_slot("payment_source"))
        amount = Decimal(tracker.get_slot("payment_amount"))
        day = date.fromisoformat(tracker.get_slot("payment_date"))
        what = next((f" ({label})" for label, figure in (
            ("your full payoff", options.payoff_amount), ("the past-due amount", options.past_due_amount),
            ("your monthly payment", options.monthly_payment)) if figure > 0 and amount == figure), "")
        text = (f"Please confirm: pay {format_usd(amount)}{what} from {source.masked_name} on "
                f"{_day_label(day, lender_today())}.")
        if source.fee:
            text += (f" Debit card payments have a {format_usd(source.fee)} convenience fee, so "
                     f"{format_usd(amount + source.fee)} will be charged in total.")
        dispatcher.utter_message(text=text + " Shall I go ahead?", buttons=[
            {"title": "Yes, make the payment", "payload": "/affirm"},
            {"title": "No, don't pay", "payload": "/deny"},
        ])
        return []


class ActionSubmitPayment(AccountAction):
    """Stores the confirmed payment (once), or says plainly that nothing was paid."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_payment"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in PAYMENT_SLOTS]
        if tracker.get_slot("bank_account_for"):  # a new bank account was added for this payment
            cleared.append(SlotSet("bank_account_for", None))
        if tracker.get_slot("payment_confirmed") is not True:
            dispatcher.utter_message(response="utter_payment_cancelled")
            return cleared
        try:
            receipt = await call(
                payments.schedule_payment, customer.customer_id,
                Decimal(tracker.get_slot("payment_amount")),
                date.fromisoformat(tracker.get_slot("payment_date")),
                int(tracker.get_slot("payment_source")),
                payment_key(tracker.sender_id, tracker.get_slot("payment_attempt")),
                container().uow(), container().settings.public_base_url, lender_today(),
            )
        except ServiceError as error:
            dispatcher.utter_message(text=f"{error.message} No payment was made.")
            return cleared
        when = "today" if receipt.status == "pending" else f"for {format_long_date(receipt.pay_on)}"
        fee = f" plus a {format_usd(receipt.fee)} fee" if receipt.fee else ""
        dispatcher.utter_message(
            text=f"Done! Your payment of {format_usd(receipt.amount)}{fee} from {receipt.source_masked} "
            f"is scheduled {when}. Your confirmation number is {receipt.confirmation_number}, and "
            "a confirmation is on its way to your email. Is there anything else I can help with?"
        )
        return [*cleared, *await answer_second_question(self.name(), dispatcher, tracker, domain, customer,
                                                        asked_for="make_payment")]
