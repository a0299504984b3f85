"""Statements and autopay cancellation in conversation."""
from __future__ import annotations

import re

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.answers import AnswerAction
from actions.runtime import AccountAction, call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import autopay, documents, identity

# account numbers, codes and full dates (a birth date) in the request: never a statement's year
# account numbers, codes, full dates (a birth date) and any 4 digits that are not a year of this
# century (SSN digits) in the request: never a statement's year
_NOT_A_STATEMENT = re.compile(r"\d{5,}|\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"
                              r"|\b(?!20\d\d\b)\d{4}\b")
YES_NO = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
STATEMENT_CHOICES = [{"title": "The latest statement", "payload": "the latest statement"},
                     {"title": "My contract", "payload": "my contract"}]


class ActionSendStatement(AnswerAction):
    """Emails a signed link to the statement named (the latest if none); never shown in the chat."""

    def name(self) -> str:
        return "action_send_statement"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        settings = container().settings
        intent = tracker.latest_message.get("intent", {}).get("name")
        latest = tracker.latest_message.get("text") or ""
        # "March" in answer to "which would you like?" names it; else the request that began the task
        request = latest if details.action_before_message(tracker) == self.name() else \
            details.task_request(tracker).text or latest
        asked = _NOT_A_STATEMENT.sub(" ", request)
        if intent == "affirm":
            asked = "latest"  # "yes" to the latest one, offered first below
        requested = await call(documents.send_requested_document, customer.customer_id, asked, container().uow(),
                               settings.public_base_url, settings.secret_pepper,
                               settings.lender_timezone)
        first = requested.oldest_statement
        oldest = f"Statements from {first} onward" if first else "No monthly statements yet"
        sent = requested.sent
        if sent is None and first is None:
            dispatcher.utter_message(text="There are no monthly statements on your account yet. I can email "
                                          "you your contract: just say \"the contract\".")
            return details.consumed(tracker)
        if requested.undecided:
            dispatcher.utter_message(text=f"Sure. {oldest} are available, and your contract. Which would "
                                          "you like? Tell me the month, or pick one below.", buttons=STATEMENT_CHOICES)
            return details.consumed(tracker)
        if sent is None:
            dispatcher.utter_message(text=f"I can't find that one. {oldest} are available, and your contract. "
                                          "Which would you like?", buttons=STATEMENT_CHOICES)
            return details.consumed(tracker)
        what = sent.label if requested.is_contract else f"{sent.label} statement"
        dispatcher.utter_message(
            text=f"I've emailed a link to your {what} to {sent.destination_masked}; it works for "
            f"{sent.expires_in_hours} hours. {oldest} and your contract are available too: just tell me "
            "which one (for example \"March\" or \"the contract\")."
        )
        return details.consumed(tracker)


class ActionConfirmCancelAutopay(AccountAction):
    """Reads back what autopay does now and asks before stopping it."""

    required_level = "full"

    def name(self) -> str:
        return "action_confirm_cancel_autopay"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        status = await call(autopay.autopay_status, customer.customer_id, container().uow(), lender_today())
        if not status.enrolled:
            dispatcher.utter_message(text="Autopay isn't on for your account, so there's nothing to cancel.")
            return []
        dispatcher.utter_message(
            text=f"Autopay takes {format_usd(status.amount)} from {status.source_masked} on day "
            f"{status.day_of_month} of each month; the next debit is {format_long_date(status.next_debit_date)}. "
            "Cancel it? You'd then need to pay each month yourself.",
            buttons=YES_NO,
        )
        return []


class ActionCancelAutopay(AccountAction):
    required_level = "full"

    def name(self) -> str:
        return "action_cancel_autopay"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        cancelled = await call(autopay.cancel_autopay, customer.customer_id, container().uow(),
                               container().settings.public_base_url, lender_today())
        dispatcher.utter_message(
            text=f"Done: autopay from {cancelled.source_masked} is cancelled and a confirmation is on its "
            f"way to your email. Your next payment of {format_usd(cancelled.amount)} is due "
            f"{format_long_date(cancelled.next_payment_due)}; I can take it now if you like."
        )
        return []
