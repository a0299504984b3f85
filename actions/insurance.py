"""Insurance in conversation: the policy on file (or its lapse), and a new policy put on file.

The service (autofinance/services/insurance.py) holds the checks; the form asks for the insurer,
the policy number, the start and end dates, checks each as it comes, shows a summary and changes
nothing until the customer says yes. The policy number never stays readable in a slot: it is
sealed as soon as it is checked and shown only as its last four. Every sentence is a response in
domain.yml (`utter_insurance_*`).
"""
from __future__ import annotations

from datetime import date
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.details import consumed
from actions.forms import TaskFormValidation
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.adapters.sealing import seal, unseal
from autofinance.domain.parsing import format_long_date, parse_calendar_date
from autofinance.services import identity, insurance
from autofinance.services.errors import InsuranceUnchanged, InvalidInsuranceDetail

INSURANCE_SLOTS = ("insurer_name", "policy_number", "policy_effective", "policy_expiry", "insurance_confirmed")


def _invalid(dispatcher: CollectingDispatcher, slot: str, error: InvalidInsuranceDetail) -> dict[str, Any]:
    dispatcher.utter_message(response=f"utter_insurance_invalid_{error.reason}")
    return {slot: None}


def _day(value: Optional[str]) -> Optional[date]:
    return date.fromisoformat(value) if value else None


def _policy_number(tracker: Tracker) -> Optional[str]:
    return unseal(tracker.get_slot("policy_number"), container().settings.secret_pepper)


class ActionInsuranceInfo(AnswerAction):
    """"What insurance do you have on file?": the insurer and policy (masked), or that it lapsed."""

    def name(self) -> str:
        return "action_insurance_info"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        policy = await call(insurance.policy_on_file, customer.customer_id, container().uow(), lender_today())
        if policy is None:
            dispatcher.utter_message(response="utter_insurance_none_on_file")
            return consumed(tracker)
        values = {"insurer": policy.insurer, "policy": policy.policy_masked, "vehicle": policy.vehicle,
                  "effective": format_long_date(policy.effective_on),
                  "expires": format_long_date(policy.expires_on)}
        dispatcher.utter_message(response="utter_insurance_lapsed" if policy.lapsed else "utter_insurance_on_file",
                                 **values)
        if policy.gap_coverage:
            dispatcher.utter_message(response="utter_insurance_gap_on_file")
        return consumed(tracker)


class ActionStartInsuranceUpdate(AccountAction):
    """Starts the form afresh, saying which policy the new one replaces."""

    required_level = "full"

    def name(self) -> str:
        return "action_start_insurance_update"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        policy = await call(insurance.policy_on_file, customer.customer_id, container().uow(), lender_today())
        if policy is not None:
            dispatcher.utter_message(response="utter_insurance_update_replaces", insurer=policy.insurer,
                                     policy=policy.policy_masked)
        return [*consumed(tracker), *(SlotSet(slot, None) for slot in INSURANCE_SLOTS)]


class ValidateInsuranceForm(TaskFormValidation):
    """Checks each detail as it is given; a date that clashes with the other is asked again."""

    required_level = "full"
    confirmation_slot = "insurance_confirmed"

    def name(self) -> str:
        return "validate_insurance_form"

    async def validate_insurer_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        try:
            return {"insurer_name": insurance.check_insurer(str(value))}
        except InvalidInsuranceDetail as error:
            return _invalid(dispatcher, "insurer_name", error)

    async def validate_policy_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> dict[str, Any]:
        pepper = container().settings.secret_pepper
        if unseal(str(value), pepper) is not None:  # already checked and sealed
            return {"policy_number": value}
        try:
            return {"policy_number": seal(insurance.check_policy_number(str(value)), pepper)}
        except InvalidInsuranceDetail as error:
            return _invalid(dispatcher, "policy_number", error)

    async def validate_policy_effective(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> dict[str, Any]:
        today = lender_today()
        effective = parse_calendar_date(str(value), today)
        if effective is None:
            return _invalid(dispatcher, "policy_effective", InvalidInsuranceDetail("effective_date"))
        try:
            insurance.check_effective(effective, today)
        except InvalidInsuranceDetail as error:
            return _invalid(dispatcher, "policy_effective", error)
        return {"policy_effective": effective.isoformat()}

    async def validate_policy_expiry(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> dict[str, Any]:
        today = lender_today()
        expiry = parse_calendar_date(str(value), today, future=True) or parse_calendar_date(str(value), today)
        effective = _day(tracker.get_slot("policy_effective"))
        if expiry is None or effective is None:
            return _invalid(dispatcher, "policy_expiry", InvalidInsuranceDetail("expiry_date"))
        try:
            insurance.check_dates(effective, expiry, today)
        except InvalidInsuranceDetail as error:
            return _invalid(dispatcher, "policy_expiry", error)
        return {"policy_expiry": expiry.isoformat()}


class ActionAskInsuranceConfirmed(AccountAction):
    """The summary the customer says yes to; the policy number only by its last four."""

    required_level = "full"

    def name(self) -> str:
        return "action_ask_insurance_confirmed"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        number = _policy_number(tracker) or ""
        dispatcher.utter_message(
            response="utter_ask_insurance_confirmed", insurer=tracker.get_slot("insurer_name"),
            policy=f"****{number.replace('-', '')[-4:]}",
            effective=format_long_date(date.fromisoformat(tracker.get_slot("policy_effective"))),
            expires=format_long_date(date.fromisoformat(tracker.get_slot("policy_expiry"))))
        return []


class ActionSubmitInsuranceUpdate(AccountAction):
    """Puts exactly the confirmed policy on file, or says plainly that nothing was changed."""

    required_level = "full"

    def name(self) -> str:
        return "action_submit_insurance_update"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in INSURANCE_SLOTS]
        number = _policy_number(tracker)
        effective, expiry = _day(tracker.get_slot("policy_effective")), _day(tracker.get_slot("policy_expiry"))
        if tracker.get_slot("insurance_confirmed") is not True or not (number and effective and expiry):
            dispatcher.utter_message(response="utter_insurance_not_updated")
            return cleared
        try:
            updated = await call(insurance.update_policy, customer.customer_id, tracker.get_slot("insurer_name"),
                                 number, effective, expiry, container().uow(),
                                 container().settings.secret_pepper, lender_today())
        except InsuranceUnchanged:
            dispatcher.utter_message(response="utter_insurance_unchanged")
            return cleared
        except InvalidInsuranceDetail as error:  # a day passed since the dates were checked
            dispatcher.utter_message(response=f"utter_insurance_invalid_{error.reason}")
            dispatcher.utter_message(response="utter_insurance_not_updated")
            return cleared
        dispatcher.utter_message(response="utter_insurance_updated", insurer=updated.insurer,
                                 policy=updated.policy_masked, expires=format_long_date(updated.expires_on),
                                 email=updated.email_masked)
        return cleared
