"""Keeping the conversation on track: leaving a task, not understanding, a new session."""
from __future__ import annotations

import logging
from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    EventType,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import handoff_events, must_stay_silent
from actions.runtime import call, container
from autofinance.adapters import portal_tokens
from autofinance.services import handoff, identity

logger = logging.getLogger(__name__)

FORM_SLOTS = {
    "identity_form": ("identifier", "identity_factor", "otp_channel", "otp_code",
                      "masked_email", "masked_phone"),
    "payment_form": ("payment_amount", "payment_date", "payment_source", "payment_confirmed",
                     "payment_attempt"),
    "fraud_form": ("fraud_description", "fraud_when"),
    "autopay_form": ("autopay_source", "autopay_day", "autopay_confirmed", "autopay_enrolled"),
    "cancel_payment_form": ("payment_to_cancel", "cancel_payment_confirmed", "payments_scheduled"),
    "contact_form": ("contact_field", "contact_value", "contact_code"),
    "lease_extension_form": ("extension_months", "extension_confirmed", "lease_extension_allowed"),
    "due_date_form": ("new_due_day", "due_date_confirmed", "due_date_change_allowed"),
    "insurance_form": ("insurer_name", "policy_number", "policy_effective", "policy_expiry",
                       "insurance_confirmed"),
    "bank_account_form": ("bank_routing", "bank_account_number", "bank_account_kind",
                          "bank_account_confirmed", "bank_account_for", "bank_account_allowed"),
}
CANCELLED_RESPONSE = {
    "identity_form": "utter_verification_cancelled",
    "payment_form": "utter_payment_cancelled",
    "fraud_form": "utter_fraud_cancelled",
    "autopay_form": "utter_autopay_setup_stopped",
    "cancel_payment_form": "utter_cancel_payment_stopped",
    "contact_form": "utter_contact_change_stopped",
    "lease_extension_form": "utter_lease_extension_stopped",
    "due_date_form": "utter_due_date_change_stopped",
    "insurance_form": "utter_insurance_update_stopped",
    "bank_account_form": "utter_bank_account_stopped",
}
MISUNDERSTANDINGS_BEFORE_HANDOFF = 3
DIALOGUE_FALLBACK = "action_default_fallback"  # config.yml: core_fallback_action_name (Rasa's)
COUNT_RESETS = {"session_started", "restart", "resume"}
SIGNED_IN_CHOICES = [
    {"title": "Check my balance", "payload": "/check_balance"},
    {"title": "Make a payment", "payload": "/make_payment"},
    {"title": "Talk to a person", "payload": "/human_handoff"},
]


class ActionCancelTask(Action):
    """Leaves the current form cleanly and says what was not done."""

    def name(self) -> str:
        return "action_cancel_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        form = tracker.active_loop.get("name")
        if form not in FORM_SLOTS:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return []
        dispatcher.utter_message(response=CANCELLED_RESPONSE[form])
        events: list[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        events += [SlotSet(slot, None) for slot in FORM_SLOTS[form]]
        resumed = tracker.get_slot("bank_account_for") if form == "bank_account_form" else None
        if resumed in ("payment", "autopay"):  # "cancel" leaves the task the account was for too
            events += [SlotSet(slot, None) for slot in FORM_SLOTS[f"{resumed}_form"]]
        if form == "identity_form":
            events.append(SlotSet("pending_task", None))
        return events


def consecutive_misunderstandings(tracker: Tracker) -> int:
    """How many of the customer's latest messages in a row the assistant did not understand:
    the NLU could not tell what they meant (`nlu_fallback`), or the dialogue had no next step
    for what it understood (Rasa's dialogue fallback answered `utter_default` and took the
    message back). A new session, a restart or a person handing back starts the count again.
    """
    understood: list[bool] = []
    for event in tracker.events:
        kind = event.get("event")
        if kind in COUNT_RESETS:
            understood = []
        elif kind == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            understood.append(intent != "nlu_fallback")
        elif kind == "action" and event.get("name") == DIALOGUE_FALLBACK and understood:
            understood[-1] = False
    count = 0
    for flag in reversed(understood):
        if flag:
            break
        count += 1
    return count


class ActionHandleMisunderstanding(Action):
    """Two-stage fallback: ask to rephrase, then offer choices, then hand off to a person."""

    def name(self) -> str:
        return "action_handle_misunderstanding"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        count = consecutive_misunderstandings(tracker)
        if count <= 1:
            # in a task the question it asks again says what fits; outside one, what I can do
            in_task = bool((tracker.active_loop or {}).get("name"))
            dispatcher.utter_message(response="utter_ask_rephrase" if in_task else "utter_ask_rephrase_scope")
            return []
        if count < MISUNDERSTANDINGS_BEFORE_HANDOFF:
            dispatcher.utter_message(response="utter_offer_choices")
            return []
        dispatcher.utter_message(
            text="I'm sorry I keep missing what you need. Let me get a person to help."
        )
        return await handoff_events(dispatcher, tracker, "misunderstanding")


class ActionSessionStart(Action):
    """Starts a session: verification lapses (a portal sign-in carries over), and a conversation
    a person owns stays paused."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        signed_in = None
        # A new session (after a silence, a reconnect, or typed as /session_start) must not let
        # the assistant talk over the person who owns the conversation.
        paused = await must_stay_silent(tracker)
        metadata = tracker.get_slot("session_started_metadata") or {}
        claims = portal_tokens.verify_token(metadata.get("portal_token"), container().settings)
        try:
            await call(identity.end_verification, tracker.sender_id, container().uow())
            await call(handoff.record_conversation_start, tracker.sender_id,
                       tracker.get_latest_input_channel() or "unknown", container().uow())
            if claims is not None and tracker.sender_id == f"portal-{claims.customer_id}":
                signed_in = await call(identity.start_portal_session, tracker.sender_id,
                                       claims.customer_id, container().uow(),
                                       channel=tracker.get_latest_input_channel() or "socketio")
        except Exception:  # noqa: BLE001 - a new session must start even if the store is down
            logger.exception("session start could not reach the store")
        events.append(SlotSet("verified", signed_in is not None))
        if signed_in is not None:
            events.append(SlotSet("customer_first_name", signed_in.first_name))
            if not paused:
                dispatcher.utter_message(
                    text=f"Hi {signed_in.first_name}, you're signed in, so I can look at your account "
                    "right away. What can I help with?", buttons=SIGNED_IN_CHOICES)
        if paused:
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events


class ActionRestart(Action):
    """`/restart` starts over, except while a person owns the conversation: then it changes nothing
    and the assistant stays silent (Rasa's own restart would end the pause)."""

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if await must_stay_silent(tracker):
            # Rasa keeps predicting after a restart even when paused. Listen straight away: any
            # other next step (its dialogue fallback) would answer and rewind the turn, and the
            # rewind would take the pause with it.
            return [ConversationPaused(), FollowupAction("action_listen")]
        return [Restarted()]
