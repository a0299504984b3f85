"""Year-end interest for taxes in conversation: the figure in chat, the statement by email.

The year is the one named ("for 2024"), this one for "so far this year", else last year. A lease
customer hears why there is no interest statement; a year without posted payments is said so,
and nothing is emailed for it.
"""
from __future__ import annotations

from datetime import date

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import AnswerAction
from actions.details import action_before_message, consumed, task_request
from actions.runtime import call, container, lender_today
from autofinance.domain.money import format_usd
from autofinance.domain.parsing import format_long_date
from autofinance.services import documents, identity, tax_documents
from autofinance.services.errors import NoInterestStatement, UnknownDocument

TEXT = {
    "paid": "In {year}{so_far}, your {payments} posted payments paid {interest} in interest and "
            "{principal} toward your balance. I've emailed your {year} interest statement to {email}; "
            "the link works for {hours} hours.",
    "so_far": " so far (through {through})",
    "none": "There are no posted payments on your loan in {year}, so no interest was paid that year.",
    "this_year_too": " For {this_year} so far, just say \"this year\".",
    "not_yet": "Your loan started after {year}, so there's no interest statement for that year.",
    "advice": " This is for your records and your tax preparer, not tax advice.",
}


class ActionInterestStatement(AnswerAction):
    """The interest paid in a year and its statement by signed link (none for a lease)."""

    def name(self) -> str:
        return "action_interest_statement"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                     customer: identity.VerifiedCustomer) -> list[EventType]:
        today = lender_today()
        latest = tracker.latest_message.get("text") or ""
        # "this year then" in answer to the last answer names the year; else the request that began it
        asked = latest if action_before_message(tracker) == self.name() else task_request(tracker).text or latest
        year = tax_documents.statement_year(asked, today)
        settings = container().settings
        try:
            figures, sent = await call(documents.send_interest_statement, customer.customer_id, year,
                                       container().uow(), settings.public_base_url,
                                       settings.secret_pepper, settings.lender_timezone)
        except NoInterestStatement as lease:
            dispatcher.utter_message(text=lease.message)
            return consumed(tracker)
        except UnknownDocument:
            dispatcher.utter_message(text=TEXT["not_yet"].format(year=year))
            return consumed(tracker)
        if sent is None:  # no posted payments that year: nothing to send
            text = TEXT["none"].format(year=year)
            if year < today.year:
                text += TEXT["this_year_too"].format(this_year=today.year)
            dispatcher.utter_message(text=text)
            return consumed(tracker)
        so_far = TEXT["so_far"].format(through=format_long_date(figures.through)) \
            if figures.through < date(year, 12, 31) else ""
        dispatcher.utter_message(text=TEXT["paid"].format(
            year=year, so_far=so_far, payments=figures.payments, interest=format_usd(figures.interest),
            principal=format_usd(figures.principal), email=sent.destination_masked,
            hours=sent.expires_in_hours) + TEXT["advice"])
        return consumed(tracker)
