"""Paperless statements in conversation: by email instead of by mail, or back to paper.

The customer's words say which way ("go paperless", "I want paper statements again"); when they
don't, the switch offered is to the other way from now. Nothing changes until they say yes to a
summary that says where statements will go; the service sends the confirmation email.
"""
from __future__ import annotations

import re
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.details import consumed, task_request
from actions.runtime import AccountAction, call, container
from autofinance.domain.parsing import format_long_date
from autofinance.services import identity, paperless
from autofinance.services.errors import ServiceError

CHOICE_SLOT = "statement_delivery_choice"
TEXT = {
    "now_mail": "Your statements come by mail now, to your address in {city}.",
    "now_email": "You're paperless now: your statements come by email to {email}.",
    "offer_email": " Switch to paperless? Each month I'll email {email} when your statement is ready, "
                   "with a secure link, and paper statements stop.",
    "offer_mail": " Switch back to paper? Your statements would come by mail to your address in {city} "
                  "from the next one on, and the monthly emails stop.",
    "already_email": "You're already paperless{since}: your statements come by email to {email}. "
                     "Nothing to change. If you'd like paper statements instead, just say so.",
    "since": " (since {date})",
    "already_mail": "Your statements already come by mail, to your address in {city}. Nothing to change. "
                    "If you'd like to go paperless instead, just say so.",
    "done_email": "Done: you're paperless. Your next statement comes by email to {email}. A confirmation "
                  "is on its way to your email. Is there anything else I can help with?",
    "done_mail": "Done: your statements will come by mail to your address in {city}, from the next one "
                 "on. A confirmation is on its way to your email. Is there anything else I can help with?",
    "nothing_to_confirm": "Sorry, I lost track of which way you wanted your statements. Just tell me "
                          "again: paperless, or by mail?",
}
SWITCH_BUTTONS = [{"title": "Yes, switch", "payload": "/affirm"},
                  {"title": "No, keep it as it is", "payload": "/deny"}]

# "stop my paperless", "opt out of e-statements": back to paper
_LEAVE_PAPERLESS = re.compile(
    r"\b(stop|cancel|end|quit|leave|opt(?:ing)? out of|turn(?:ing)? off|get out of|undo|unenroll from)\b"
    r"[^.?!]{0,20}\b(paperless|e-?statements?|electronic|e-?bills?|e-?mail(?:ed)? statements)", re.IGNORECASE)
# "stop mailing me paper", "no more paper statements": paperless
_NO_MORE_PAPER = re.compile(
    r"\b(stop|no more|don'?t want|do not want|quit|cancel|turn(?:ing)? off|get rid of|end)\b[^.?!]{0,25}"
    r"\b(paper|mail(?:ed|ing)?|letters?)\b",
    re.IGNORECASE)
_PAPERLESS = re.compile(r"\b(paperless|e-?statements?|e-?bills?|go(?:ing)? green|electronic statements?"
                        r"|statements? (?:by|via|through|over) e-?mail|e-?mail (?:me )?(?:my )?statements)\b",
                        re.IGNORECASE)
_PAPER = re.compile(r"\b(paper|printed|hard ?cop(?:y|ies)|by (?:mail|post)|in the mail|snail mail)\b",
                    re.IGNORECASE)


def wanted_delivery(text: str) -> Optional[str]:
    """'email' (paperless) or 'mail' (paper) as the customer's words ask; None if they don't say."""
    if _LEAVE_PAPERLESS.search(text):
        return paperless.MAIL
    if _NO_MORE_PAPER.search(text) or _PAPERLESS.search(text):
        return paperless.EMAIL
    if _PAPER.search(text):
        return paperless.MAIL
    return None


class ActionOfferStatementDelivery(AccountAction):
    """Says how statements come now and offers the switch the customer asked for."""

    required_level = "full"

    def name(self) -> str:
        return "action_offer_statement_delivery"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        now = await call(paperless.statement_delivery, customer.customer_id, container().uow())
        request = task_request(tracker)
        named = next(tracker.get_latest_entity_values(CHOICE_SLOT), None)
        wanted = named if named in (paperless.MAIL, paperless.EMAIL) else \
            wanted_delivery(f"{request.text} {tracker.latest_message.get('text') or ''}")
        values = {"city": now.mailed_to_city, "email": now.email_masked,
                  "since": TEXT["since"].format(date=format_long_date(now.since.date())) if now.since else ""}
        if wanted == now.by:
            dispatcher.utter_message(text=TEXT[f"already_{now.by}"].format(**values))
            return [*consumed(tracker), SlotSet(CHOICE_SLOT, None)]
        switch_to = paperless.MAIL if now.by == paperless.EMAIL else paperless.EMAIL
        dispatcher.utter_message(text=TEXT[f"now_{now.by}"].format(**values)
                                 + TEXT[f"offer_{switch_to}"].format(**values), buttons=SWITCH_BUTTONS)
        return [*consumed(tracker), SlotSet(CHOICE_SLOT, switch_to)]


class ActionChangeStatementDelivery(AccountAction):
    """Makes the switch the customer said yes to."""

    required_level = "full"

    def name(self) -> str:
        return "action_change_statement_delivery"

    async def run_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict, customer: identity.VerifiedCustomer) -> list[EventType]:
        switch_to = tracker.get_slot(CHOICE_SLOT)
        if switch_to not in (paperless.MAIL, paperless.EMAIL):
            dispatcher.utter_message(text=TEXT["nothing_to_confirm"])
            return []
        try:
            done = await call(paperless.change_statement_delivery, customer.customer_id, switch_to,
                              container().uow())
        except ServiceError as error:
            dispatcher.utter_message(text=error.message)
            return [SlotSet(CHOICE_SLOT, None)]
        dispatcher.utter_message(text=TEXT[f"done_{switch_to}"].format(city=done.mailed_to_city,
                                                                       email=done.email_masked))
        return [SlotSet(CHOICE_SLOT, None)]
