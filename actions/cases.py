"""Fraud reports and hardship help: the cases a person follows up, opened in conversation."""
from __future__ import annotations

import logging
import re
from typing import Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.autopay import ordinal
from actions.answers import SECOND_TASKS, also_asked, answer_second_question
from actions.handoff import handoff_events
from actions.runtime import AccountAction, TECHNICAL_PROBLEM, call, container, lender_today
from autofinance.domain.parsing import mentions_date, parse_choice_number
from autofinance.services import fraud, hardship, identity
from autofinance.services.errors import ServiceError

logger = logging.getLogger(__name__)

FRAUD_SLOTS = ("fraud_description", "fraud_when")
HARDSHIP_REASON_INTENTS = {"hardship_help"}


MIN_DESCRIPTION_WORDS = 8  # "I want to report fraud" says nothing of what happened
_WHEN_WORDS = re.compile(r"\b(yesterday|today|tonight|this (?:morning|afternoon|evening|week)|last "
                         r"(?:night|week|month)|\d+ (?:days?|weeks?) ago|ago|just now|earlier)\b", re.IGNORECASE)


def fraud_details(text: str) -> dict[str, str]:
    """What a report already says: what happened (when it says more than "report fraud") and
    when (a day or a time in words)."""
    found: dict[str, str] = {}
    if len(text.split()) >= MIN_DESCRIPTION_WORDS:
        found["fraud_description"] = text
    when = next((clause.strip() for clause in re.split(r"[.;!?]", text)
                 if mentions_date(clause) or _WHEN_WORDS.search(clause)), None)
    if when:
        found["fraud_when"] = when  # the sentence that says when, not the whole report
    return found


class ActionStartFraudReport(Action):
    """Starts a report with what the customer already said; asks only what is missing."""

    def name(self) -> str:
        return "action_start_fraud_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        found = fraud_details(tracker.latest_message.get("text") or "")
        questions = 2 - len(found)
        dispatcher.utter_message(response=("utter_fraud_empathy_no_question", "utter_fraud_empathy_one_question",
                                           "utter_fraud_empathy")[questions])
        return [SlotSet(slot, value) for slot, value in found.items()]


class ActionSubmitFraudReport(Action):
    """Anyone may report fraud. Only a verified reporter's report locks and freezes the account
    (so nobody can lock someone else out); every report reaches the fraud team first in line."""

    def name(self) -> str:
        return "action_submit_fraud_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        cleared: list[EventType] = [SlotSet(slot, None) for slot in FRAUD_SLOTS]
        verified: Optional[identity.VerifiedCustomer] = None
        try:
            verified = await call(identity.require_verified, tracker.sender_id, "full", container().uow(),
                                  channel=tracker.get_latest_input_channel())
        except ServiceError:
            verified = None  # unverified (or portal only): the report still goes in, freezing nothing
        try:
            report = await call(
                fraud.report_fraud, tracker.sender_id, tracker.get_slot("fraud_description") or "",
                tracker.get_slot("fraud_when") or "", verified.customer_id if verified else None,
                verified is not None, container().uow(),
            )
        except ServiceError as error:
            dispatcher.utter_message(text=error.message)
            return cleared
        except Exception:  # noqa: BLE001
            logger.exception("could not open a fraud case")
            dispatcher.utter_message(text=TECHNICAL_PROBLEM)
            return cleared + await handoff_events(dispatcher, tracker, "fraud")
        text = f"I've opened fraud case {report.case_number}."
        if report.locked_online_access:
            text += " To protect you, I've locked your online access and paused new payments."
        if report.cancelled_payments:
            text += f" I cancelled {len(report.cancelled_payments)} recent scheduled payment(s)."
        dispatcher.utter_message(text=f"{text} {report.advice}")
        return cleared + await handoff_events(dispatcher, tracker, "fraud")


class ActionHardshipOptions(AccountAction):
    """Says which hardship options the account qualifies for, and what each one means."""

    def name(self) -> str:
        return "action_hardship_options"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        # "how far behind am I, and do you have a hardship program?": the question first, then the
        # options (a task asked alongside waits: the options' buttons are the next step)
        asked = [] if also_asked(tracker) in SECOND_TASKS else await answer_second_question(
            self.name(), dispatcher, tracker, domain, customer, asked_for="hardship_help")
        options = await call(hardship.hardship_options, customer.customer_id, container().uow(), lender_today())
        lines = []
        if options.extension.eligible:
            lines.append(f"A payment extension: {options.extension.consequence}")
        else:
            lines.append(f"A payment extension isn't available: {options.extension.reason}")
        if options.due_date_change.eligible:
            lines.append(f"A due-date change (to a day between the {ordinal(options.earliest_due_day)} and "
                         f"the {ordinal(options.latest_due_day)}): {options.due_date_change.consequence} "
                         "A specialist can set it up with you.")
        else:
            lines.append(f"A due-date change isn't available: {options.due_date_change.reason}")
        lines.append("Or talk it through with a hardship specialist.")
        buttons = [CHOICE_BUTTONS[choice] for choice in
                   offered_choices(options.extension.eligible, options.due_date_change.eligible)]
        dispatcher.utter_message(text="Here's what I can offer:\n- " + "\n- ".join(lines), buttons=buttons)
        return asked


CHOICE_BUTTONS = {
    "extension": {"title": "Ask for a payment extension",
                  "payload": '/inform{"hardship_option":"extension"}'},
    "due_date": {"title": "Change my due date", "payload": '/inform{"hardship_option":"due_date"}'},
    "specialist": {"title": "Talk to a specialist", "payload": "/human_handoff"},
}
# what a typed reply says, for each choice
CHOICE_WORDS = {"extension": ("exten", "more time", "push", "defer", "skip", "postpone"),
                "due_date": ("due date", "due day", "payment date", "date change", "different day"),
                "specialist": ("specialist", "person", "someone", "human", "agent", "talk", "call")}


def offered_choices(extension_eligible: bool, due_date_eligible: bool = False) -> list[str]:
    """The choices `action_hardship_options` offers, in the order of its lines and buttons (SMS
    numbers them: a typed "2" is the second)."""
    return ((["extension"] if extension_eligible else []) + (["due_date"] if due_date_eligible else [])
            + ["specialist"])


_CHANGE_OF_MIND = re.compile(r"\b(no|actually|wait|sorry|instead|rather|scratch)\b")


def typed_choice(text: str, choices: list[str]) -> Optional[str]:
    """The choice a typed reply makes: the number of its button, or the words of one; when
    several are named, the last one if the customer changed their mind on the way ("the due
    date change. no wait, the extension"), else none ("extension or a specialist?")."""
    number = parse_choice_number(text, len(choices))
    if number is not None:
        return choices[number - 1]
    lowered = text.lower()
    said = sorted((max(lowered.rfind(word) for word in CHOICE_WORDS[choice]), choice) for choice in choices)
    said = [(at, choice) for at, choice in said if at >= 0]
    if len(said) == 1:
        return said[0][1]
    if len(said) > 1 and _CHANGE_OF_MIND.search(lowered[said[0][0]:said[-1][0]]):
        return said[-1][1]  # "the due date change. no wait, the extension": the last one said
    return None


class ActionRequestHardship(AccountAction):
    """Opens the hardship case for the option the customer picked."""

    required_level = "full"

    def name(self) -> str:
        return "action_request_hardship"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        option = next(tracker.get_latest_entity_values("hardship_option"), None)
        if option is None:  # typed, not pressed: "2", "the first one", "a specialist please"
            offered = await call(hardship.hardship_options, customer.customer_id, container().uow(),
                                 lender_today())
            option = typed_choice(tracker.latest_message.get("text") or "",
                                  offered_choices(offered.extension.eligible, offered.due_date_change.eligible))
        if option is None:
            dispatcher.utter_message(text="Sorry, I didn't catch which one you'd like. Pick one "
                                          "below, or reply with its number.")
            return [FollowupAction("action_hardship_options")]
        if option == "specialist":  # as its button does: a person now
            return await handoff_events(dispatcher, tracker, "hardship")
        reason = next((e.get("text") for e in reversed(tracker.events)
                       if e.get("event") == "user" and (e.get("parse_data") or {}).get("intent", {})
                       .get("name") in HARDSHIP_REASON_INTENTS), "") or "asked in chat"
        if option == "due_date":  # the options say a specialist sets it up: a case for one
            option, reason = "specialist", f"due-date change: {reason}"
        request = await call(hardship.request_hardship, customer.customer_id, option, reason,
                             container().uow(), lender_today())
        dispatcher.utter_message(
            text=f"{request.message} Your case number is {request.case_number}. "
            "Would you like to talk to a hardship specialist now?",
            buttons=[{"title": "Yes, connect me", "payload": "/affirm"},
                     {"title": "No, thanks", "payload": "/deny"}],
        )
        return []
