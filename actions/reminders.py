"""Replies to what we texted: SMS keywords (STOP, HELP, START) and answers to a reminder.

Thin adapters over services.reminder_replies. Neither action says anything about an account:
"pay now" and "paid" lead into the payment and the payment history, which verify as always;
"call me" queues a call-back to the number on file, which the reminder went to.
"""
from __future__ import annotations

import logging
from typing import Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import details
from actions.runtime import TECHNICAL_PROBLEM, call, container
from autofinance.services import reminder_replies

logger = logging.getLogger(__name__)

SMS_KEYWORDS = {"EXTERNAL_sms_stop": "stop", "EXTERNAL_sms_help": "help",
                "EXTERNAL_sms_start": "start"}
REPLIES = {"EXTERNAL_reminder_pay": "pay", "EXTERNAL_reminder_paid": "paid"}
ENDS_TASK: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None),
                              SlotSet("pending_task", None)]
# what each reply goes on to, once verified (the identity form resumes it)
NEXT_TASK = {"pay": "make_payment", "paid": "payment_history"}


def _intent(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("intent", {}).get("name") or "")


class ActionSmsKeyword(Action):
    """STOP, HELP or START on SMS, as carriers require; the answer is the carrier-style one, and
    a task under way ends (its questions would be texts the customer did not ask for)."""

    def name(self) -> str:
        return "action_sms_keyword"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        keyword = SMS_KEYWORDS.get(_intent(tracker))
        if keyword is None or tracker.get_latest_input_channel() != "twilio":
            return ENDS_TASK  # only the SMS channel writes these intents
        try:
            await call(reminder_replies.sms_keyword, tracker.sender_id, keyword, container().uow())
        except Exception:  # noqa: BLE001 - the customer still hears an answer
            logger.exception("could not record SMS %s", keyword.upper())
            dispatcher.utter_message(text=TECHNICAL_PROBLEM)
            return ENDS_TASK
        dispatcher.utter_message(response=f"utter_sms_{keyword}")
        return ENDS_TASK


async def _answered(dispatcher: CollectingDispatcher, tracker: Tracker,
                   reply: str) -> tuple[bool, Optional[reminder_replies.ReminderAnswered]]:
    """(worked, the reminder answered or None)."""
    try:
        return True, await call(reminder_replies.answer_reminder,
                                tracker.get_latest_input_channel() or "", tracker.sender_id,
                                reply, container().uow())
    except Exception:  # noqa: BLE001
        logger.exception("could not record a reminder reply")
        dispatcher.utter_message(text=TECHNICAL_PROBLEM)
        return False, None


class ActionReminderReply(Action):
    """"pay now" or "paid" in answer to a reminder: the reminder is marked answered and the chat
    goes on to the payment or the payment history (a verified customer at once, else after
    verification: `pending_task`)."""

    def name(self) -> str:
        return "action_reminder_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        reply = REPLIES.get(_intent(tracker))
        if reply not in NEXT_TASK:
            return []
        worked, answered = await _answered(dispatcher, tracker, reply)
        if not worked:
            return []
        if answered is None:
            dispatcher.utter_message(response=f"utter_{reply}_without_reminder")
            return [SlotSet("pending_task", NEXT_TASK[reply])]
        dispatcher.utter_message(response=f"utter_reminder_{reply}", topic=answered.topic)
        asked = answered.payment if reply == "pay" else {}
        request = details.request_events("make_payment", asked) if asked else []
        return [*request, SlotSet("pending_task", NEXT_TASK[reply])]


class ActionReminderCall(Action):
    """"call me" in answer to a reminder: a call-back ticket to the number on file, which the
    reminder went to. Without a reminder it is the answer to a waiting ticket's question."""

    def name(self) -> str:
        return "action_reminder_call"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        worked, answered = await _answered(dispatcher, tracker, "call")
        if not worked:
            return []
        if answered is None:
            return [SlotSet("followup_method", "call"), FollowupAction("action_record_followup")]
        dispatcher.utter_message(response="utter_reminder_call", phone=answered.phone_masked,
                                 ticket=answered.ticket_number)
        return []
