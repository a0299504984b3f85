"""Handing the conversation to a person: a ticket with a summary, then the assistant pauses."""
from __future__ import annotations

import functools
import logging
from typing import Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import TECHNICAL_PROBLEM, call, container
from autofinance.services import handoff
from autofinance.services.online_access import SUPPORT_PHONE

logger = logging.getLogger(__name__)

REASON_BY_INTENT = {
    "human_handoff": "customer_request",
    "frustrated": "frustration",
    "report_fraud": "fraud",
    "hardship_help": "hardship",
    "nlu_fallback": "misunderstanding",
}
# A yes to the person an answer offered: the offer says what the ticket is about.
REASON_BY_OFFER = {"action_lease_end_options": "lease_end"}
FOLLOWUP_BUTTONS = [
    {"title": "Email me", "payload": '/request_followup{"followup_method": "email"}'},
    {"title": "Call me back", "payload": '/request_followup{"followup_method": "call"}'},
]
# Who the customer is survives the hand-off (the store decides whether verification is still
# valid); whatever task was half done does not.
KEPT_AFTER_HANDOFF = {"verified", "customer_first_name", "session_started_metadata"}
SKIPPED_INTENTS = {"greet", "affirm", "deny", "thank", "inform", "nlu_fallback", None}
NOTABLE_BOT_ACTIONS = {
    "action_check_balance": "saw their balance",
    "action_payment_history": "saw their payment history",
    "action_loan_terms": "saw their loan terms",
    "action_payoff_quote": "got a payoff quote",
    "action_submit_payment": "went through the payment step",
    "action_cancel_task": "cancelled a task",
}


def conversation_summary(tracker: Tracker, verified_name: Optional[str]) -> str:
    """One glance for the agent: what was asked, who it is, what already happened."""
    asked: list[str] = []
    done: list[str] = []
    for event in tracker.events:
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if intent not in SKIPPED_INTENTS and intent not in asked:
                asked.append(intent)
        elif event.get("event") == "action" and event.get("name") in NOTABLE_BOT_ACTIONS:
            step = NOTABLE_BOT_ACTIONS[event["name"]]
            if step not in done:
                done.append(step)
    who = f"verified as {verified_name}" if verified_name else "not verified"
    wanted = ", ".join(a.replace("_", " ") for a in asked) or "no clear request"
    return f"Wanted: {wanted}. Customer {who}. Done so far: {', '.join(done) or 'nothing'}."


async def handoff_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str
) -> list[EventType]:
    """Queues the ticket, tells the customer what happens next, and pauses the assistant."""
    settings = container().settings
    try:
        outcome = await call(
            handoff.request_handoff,
            tracker.sender_id,
            tracker.get_latest_input_channel(),
            reason,
            functools.partial(conversation_summary, tracker),
            settings.lender_timezone,
            settings.support_hours,
            container().uow(),
        )
    except Exception:  # noqa: BLE001
        logger.exception("could not open a hand-off ticket")
        dispatcher.utter_message(text=TECHNICAL_PROBLEM)
        return []
    ticket, staffing = outcome.ticket, outcome.staffing
    leave_form: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
    if staffing is None or not staffing.available:
        back = f" We're back {staffing.when_back()}." if staffing and staffing.when_back() else ""
        dispatcher.utter_message(
            text=f"No one from our support team is available right now.{back} Your request is saved "
            f"as ticket {ticket.ticket_number} and won't be lost. Would you like an email or a call "
            f"back once the team is available? You can also call us at {SUPPORT_PHONE}.",
            buttons=FOLLOWUP_BUTTONS,
        )
        return leave_form
    dispatcher.utter_message(
        text=f"I'm connecting you with a member of our support team (ticket {ticket.ticket_number}). "
        f"You're number {ticket.position} in line; it should take about "
        f"{ticket.estimated_wait_minutes} minutes. You can keep typing here: they'll see your messages."
    )
    # Listening, as after any turn: Rasa stops at the pause and would otherwise leave the turn
    # open, so a later `/restart` would miss its rule and reach the dialogue fallback, whose
    # rewind undoes this very action, the pause with it.
    return leave_form + [ConversationPaused(), ActionExecuted("action_listen")]


async def must_stay_silent(tracker: Tracker) -> bool:
    """Whether a person owns this conversation, as the store says; when the store can't say,
    a paused conversation stays paused (better silent than talking over an agent)."""
    try:
        return await call(handoff.assistant_must_stay_silent, tracker.sender_id,
                          tracker.is_paused(), container().uow())
    except Exception:  # noqa: BLE001
        logger.exception("could not tell whether a person owns the conversation")
        return tracker.is_paused()


class ActionHandoff(Action):
    """The customer asked for a person (or needs one): open a ticket and step aside."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        reason = REASON_BY_INTENT.get(intent, "customer_request")
        if intent == "affirm":
            reason = REASON_BY_OFFER.get(_last_bot_action(tracker) or "", reason)
        return await handoff_events(dispatcher, tracker, reason)


def _last_bot_action(tracker: Tracker) -> Optional[str]:
    """The action before the customer's latest message (what they are answering)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return str(event.get("name"))
    return None


class ActionRecordFollowup(Action):
    """Nobody could take the ticket now: note whether the customer wants an email or a call."""

    def name(self) -> str:
        return "action_record_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        method = tracker.get_slot("followup_method")
        if method not in handoff.FOLLOWUP_METHODS:
            dispatcher.utter_message(text="Would you prefer an email or a phone call?",
                                     buttons=FOLLOWUP_BUTTONS)
            return [SlotSet("followup_method", None)]
        try:
            recorded = await call(handoff.record_followup, tracker.sender_id, method, container().uow())
        except Exception:  # noqa: BLE001
            logger.exception("could not record the follow-up choice")
            dispatcher.utter_message(text=TECHNICAL_PROBLEM)
            return [SlotSet("followup_method", None)]
        if recorded is None:
            dispatcher.utter_message(
                text="You don't have a request waiting for our team. If you'd like one, just ask "
                "to talk to a person.")
        elif not recorded.contact:
            dispatcher.utter_message(
                text=f"Noted on ticket {recorded.ticket_number}. As we couldn't verify you, we can't "
                f"use the contact details on an account: the team will answer here when they're "
                f"back, or you can call us at {SUPPORT_PHONE}.")
        else:
            how = "email you at" if method == "email" else "call you on"
            dispatcher.utter_message(
                text=f"Done. We'll {how} {recorded.contact} when the team is available "
                f"(ticket {recorded.ticket_number}). Anything else I can help with meanwhile?")
        return [SlotSet("followup_method", None)]


class ActionHandoffReturn(Action):
    """The agent resolved the ticket: the assistant is back, with a clean context."""

    def name(self) -> str:
        return "action_handoff_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text="Is there anything else I can help with?")
        events: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        events += [SlotSet(slot, None) for slot in domain.get("slots", {})
                   if slot not in KEPT_AFTER_HANDOFF and tracker.get_slot(slot) is not None]
        return events
