"""Setting up or changing autopay in conversation: saved account, day of month, confirmation.

Autopay always takes the monthly payment, so the customer chooses only where from (a saved
source, by its masked name) and when (a day from the 1st to the 28th). Nothing is stored until
they say yes to a summary that shows the amount and the first debit date. A customer already on
autopay is offered a change instead (`autopay_enrolled`), and the service, not the slot, refuses
a second enrolment; the confirmation email goes out with the change, from the service.
"""
from __future__ import annotations

import re

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.answers import answer_second_question
from actions.forms import TaskFormValidation, entity_values
from actions.payments import (NEW_BANK_ACCOUNT_BUTTON, asks_for_new_source, named_source, names_new_source,
                              new_source_first, saved_source_id)
from actions.runtime import AccountAction, call, container, current_customer, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date, mentions_date, parse_day_of_month
from autofinance.services import autopay, identity, payments
from autofinance.services.errors import InvalidAutopayDay, ServiceError

AUTOPAY_SLOTS = ("autopay_source", "autopay_day", "autopay_confirmed", "autopay_enrolled")


def ordinal(day: int) -> str:
    """1 -> '1st', 22 -> '22nd', 13 -> '13th': how a day of the month is said."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _changing(tracker: Tracker) -> bool:
    """Whether the customer agreed to change an existing enrolment (set when the task began)."""
    return tracker.get_slot("autopay_enrolled") is True


async def _setup(customer_id: int) -> autopay.AutopaySetup:
    return await call(autopay.autopay_setup, customer_id, container().uow(), lender_today())


class ActionCheckAutopay(AccountAction):
    """Starts the task: a customer already on autopay hears what it does and is offered a change."""

    required_level = "full"

    def name(self) -> str:
        return "action_check_autopay"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        status = await call(autopay.autopay_status, customer.customer_id, container().uow(),
                            lender_today())
        answering = tracker.latest_message.get("intent", {}).get("name") == "inform"
        request = details.task_request(tracker)
        if names_new_source(request.text):
            return [*new_source_first(request), SlotSet("autopay_enrolled", status.enrolled)]
        named = named_autopay_values(request.entities, request.text)
        if answering:  # "the 3rd" in answer to "change the account or the day?"
            named |= named_autopay_values(entity_values(tracker), tracker.latest_message.get("text") or "")
        setup = await _setup(customer.customer_id)
        if status.enrolled and named.get("autopay_day") and parse_day_of_month(named["autopay_day"]) == \
                status.day_of_month:
            del named["autopay_day"]  # "it comes out on the 1st": that is the day now, not the new one
        if "autopay_source" not in named and (len(setup.source_names) == 1 or (status.enrolled and named)):
            # one account to choose from, or only the day to change: the account stays as it is
            named["autopay_source"] = setup.current.source_masked if status.enrolled else setup.source_names[0]
        prefill = [*details.consumed(tracker), *(SlotSet(slot, value) for slot, value in named.items())]
        if not status.enrolled:
            if _CHANGE_WORDS.search(request.text):
                dispatcher.utter_message(text="Autopay isn't on for your account yet, so there's nothing to "
                                              "change, but I can set it up now.")
            return [*prefill, SlotSet("autopay_enrolled", False)]
        assert status.day_of_month is not None and status.amount is not None
        assert status.next_debit_date is not None
        now = (f"{format_usd(status.amount)} from {status.source_masked} on the "
               f"{ordinal(status.day_of_month)} of every month, next on {format_long_date(status.next_debit_date)}")
        if set(named) - {"autopay_source"}:  # the change is already said: straight to it
            dispatcher.utter_message(text=f"Your autopay now takes {now}. Let's change it.")
            return [*prefill, SlotSet("autopay_enrolled", True), FollowupAction("autopay_form")]
        dispatcher.utter_message(
            text=f"You're already on autopay: {now}. Would you like to change the account or the day "
                 f"(any day from the {ordinal(autopay.FIRST_DAY)} to the {ordinal(autopay.LAST_DAY)})?",
            buttons=[{"title": "Yes, change it", "payload": "/affirm"},
                     {"title": "No, keep it as it is", "payload": "/deny"}],
        )
        return [*prefill, SlotSet("autopay_enrolled", True)]


_CHANGE_WORDS = re.compile(r"\b(change|chnge|move|switch|push|update|different)\b", re.IGNORECASE)


def named_autopay_values(entities: dict[str, str], text: str = "") -> dict[str, str]:
    """The autopay details a message names: the saved account and the day of the month."""
    found: dict[str, str] = {}
    if source := named_source(entities.get("funding_source"), text):
        found["autopay_source"] = source
    if entities.get("date") and parse_day_of_month(entities["date"]) is not None:
        found["autopay_day"] = entities["date"]
    elif mentions_date(text) and parse_day_of_month(text) is not None:
        found["autopay_day"] = text
    return found


class ValidateAutopayForm(TaskFormValidation):
    """Accepts only a saved source of the customer's and a day every month has."""

    required_level = "full"
    confirmation_slot = "autopay_confirmed"

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        if asks_for_new_source(tracker):  # "a different account" names no saved one
            return {}
        return named_autopay_values(entity_values(tracker), tracker.latest_message.get("text") or "")

    def name(self) -> str:
        return "validate_autopay_form"

    async def validate_autopay_source(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        customer_id = current_customer().customer_id
        if (added := await saved_source_id(customer_id, value)) is not None:  # a bank account just added
            return {"autopay_source": added}
        said = str(value)
        if tracker.latest_message.get("intent", {}).get("name") == "affirm":
            setup = await _setup(customer_id)  # "yes": the one it uses now, or the only one
            said = setup.current.source_masked if _changing(tracker) else (
                setup.source_names[0] if len(setup.source_names) == 1 else said)
        option = await call(payments.resolve_funding_source, customer_id, said, container().uow())
        if option is None:
            names = ", ".join((await _setup(customer_id)).source_names)
            dispatcher.utter_message(text=f"Please pick one of your saved accounts: {names}.")
            return {"autopay_source": None}
        return {"autopay_source": str(option.id)}

    async def validate_autopay_day(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        day = parse_day_of_month(str(value))
        if day is None and tracker.latest_message.get("intent", {}).get("name") == "affirm":
            day = (await _setup(current_customer().customer_id)).next_payment_due.day  # the one proposed
            day = day if day <= 28 else None
        if day is None:
            dispatcher.utter_message(text=InvalidAutopayDay.message)
            return {"autopay_day": None}
        return {"autopay_day": str(day)}


class ActionAskAutopaySource(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_autopay_source"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        setup = await _setup(customer.customer_id)
        if _changing(tracker):
            text = (f"Which account should autopay use? It uses {setup.current.source_masked} now; "
                    "pick it again to change only the day.")
        else:
            text = (f"Autopay takes your monthly payment of {format_usd(setup.monthly_payment)} "
                    "automatically each month. Which saved account should it come from?")
        buttons = [{"title": name, "payload": f'/inform{{"funding_source":"{name}"}}'}
                   for name in setup.source_names]
        dispatcher.utter_message(text=text, buttons=[*buttons, NEW_BANK_ACCOUNT_BUTTON])
        return []


class ActionAskAutopayDay(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_ask_autopay_day"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        setup = await _setup(customer.customer_id)
        due_day = setup.next_payment_due.day
        days = [(due_day, "your due date")]
        if _changing(tracker):
            current = setup.current.day_of_month
            if current is not None and current != due_day:
                days.append((current, "as now"))
        buttons = [{"title": f"The {ordinal(day)} ({why})", "payload": f'/inform{{"date":"the {ordinal(day)}"}}'}
                   for day, why in days if day <= 28]
        options = await call(payments.payment_options, customer.customer_id, container().uow(), lender_today())
        source = next((o.masked_name for o in options.funding_sources
                       if str(o.id) == tracker.get_slot("autopay_source")), None)
        lead = f"From {source}, then. " if source else ""
        dispatcher.utter_message(
            text=f"{lead}Which day of the month should it run? Any day from the 1st to the 28th works; your "
            f"payment is due on the {ordinal(due_day)}.",
            buttons=buttons,
        )
        return []


class ActionAskAutopayConfirmed(AccountAction):
    """The summary the customer says yes to: amount, source, day and the first debit date."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_autopay_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        source_id, day = int(tracker.get_slot("autopay_source")), int(tracker.get_slot("autopay_day"))
        plan = await call(autopay.preview_autopay, customer.customer_id, source_id, day, container().uow(),
                          lender_today())
        first, current = format_long_date(plan.first_debit_date), plan.current
        what = (f"autopay of {format_usd(plan.amount)} (your monthly payment) from "
                f"{plan.source_masked} on the {ordinal(plan.day_of_month)} of every month")
        if _changing(tracker) and current.day_of_month is not None:
            text = (f"Please confirm the change: {what}, instead of on the "
                    f"{ordinal(current.day_of_month)} from {current.source_masked}. "
                    f"The next automatic payment would be on {first}.")
            yes, no = "Yes, change it", "No, leave it"
        else:
            text = f"Please confirm: {what}. The first automatic payment would be on {first}."
            yes, no = "Yes, set up autopay", "No, don't"
        if plan.due_before_first_debit is not None:
            text += (f" Your payment due {format_long_date(plan.due_before_first_debit)} comes "
                     "before that, so you'd still need to pay that one yourself.")
        dispatcher.utter_message(text=text + " Shall I go ahead?", buttons=[
            {"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}])
        return []


class ActionSubmitAutopay(AccountAction):
    """Enrols or changes exactly what the customer confirmed, or says plainly nothing changed."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_autopay"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in AUTOPAY_SLOTS]
        if tracker.get_slot("bank_account_for"):  # a new bank account was added for this autopay
            cleared.append(SlotSet("bank_account_for", None))
        changing = _changing(tracker)
        if tracker.get_slot("autopay_confirmed") is not True:
            dispatcher.utter_message(text="Okay, I've left your autopay as it was." if changing else
                                     "Okay, I haven't set up autopay; nothing was changed.")
            return cleared
        source_id, day = int(tracker.get_slot("autopay_source")), int(tracker.get_slot("autopay_day"))
        use_case = autopay.change_autopay if changing else autopay.enrol_autopay
        try:
            status = await call(use_case, customer.customer_id, source_id, day, container().uow(),
                                container().settings.public_base_url, lender_today())
        except ServiceError as error:
            dispatcher.utter_message(text=f"{error.message} Nothing was changed.")
            return cleared
        assert status.amount is not None and status.day_of_month is not None
        assert status.next_debit_date is not None
        done = "Autopay is changed" if changing else "Autopay is set up"
        dispatcher.utter_message(
            text=f"Done! {done}: {format_usd(status.amount)} from {status.source_masked} on the "
            f"{ordinal(status.day_of_month)} of every month, next on "
            f"{format_long_date(status.next_debit_date)}. A confirmation is on its way to your "
            "email. Is there anything else I can help with?"
        )
        return [*cleared, *await answer_second_question(self.name(), dispatcher, tracker, domain, customer,
                                                        asked_for="setup_autopay")]
