"""What every task form does with a message, whatever it asked: corrections and questions aside.

People do not answer one question at a time. At any step before the final yes:
- a value for another step ("actually make it $250", "no, the debit card", "make it Monday
  instead") replaces that step's value, is checked like an answer, and the summary is shown
  again (the confirmation is asked afresh);
- a question about the account ("wait, what's my payoff?") is answered, and the step that was
  asked is asked again; nothing of the task is lost.
Each form says which values a message names (`named_values`); this base does the rest.
"""
from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

import actions.account  # noqa: F401 - defines the actions that answer the questions aside
from actions.answers import ANSWERS, account_action
from actions.runtime import AccountFormValidation, current_customer

ASIDE_CONFIDENCE = 0.5


def common_answer(tracker: Tracker) -> Optional[str]:
    """The response answering the latest message when it is a common question ("utter_faq/..."),
    as the classifier picked it."""
    message = tracker.latest_message
    if (message.get("intent") or {}).get("name") != "faq":
        return None
    response = ((message.get("response_selector") or {}).get("faq") or {}).get("response") or {}
    action = response.get("utter_action")
    return action if isinstance(action, str) and action.startswith("utter_faq/") else None


def entity_values(tracker: Tracker) -> dict[str, str]:
    """The latest message's entities, first value of each name."""
    found: dict[str, str] = {}
    for entity in tracker.latest_message.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if isinstance(name, str) and value is not None:
            found.setdefault(name, str(value))
    return found


def _says_more_after_question(tracker: Tracker) -> bool:
    """True when the latest message goes on after a question ("a fee? then use checking")."""
    text = tracker.latest_message.get("text") or ""
    return "?" in text and bool(text.split("?", 1)[1].strip())


def entity_spans(tracker: Tracker, name: str) -> list[tuple[int, int]]:
    return [(int(e.get("start", 0)), int(e.get("end", 0)))
            for e in tracker.latest_message.get("entities") or [] if e.get("entity") == name]


class TaskFormValidation(AccountFormValidation, ABC):
    """A task form that takes corrections and questions aside at every step."""

    confirmation_slot: ClassVar[Optional[str]] = None
    # said when a "no" stops a form that has no summary (else the submit step says it)
    stopped_response: ClassVar[Optional[str]] = None
    # what stops the task when said to one of its questions
    stop_intents: ClassVar[frozenset[str]] = frozenset({"deny"})

    def named_values(self, tracker: Tracker) -> dict[str, str]:
        """The form's slots the latest message names outright (raw, to be validated)."""
        return {}

    def _in_progress(self, tracker: Tracker) -> bool:
        """True once the form has asked something (not while it is being activated)."""
        return (tracker.active_loop.get("name") == self.form_name()
                and bool(tracker.get_slot("requested_slot")))

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """A plain "no" to a question of the task (not to its summary) stops it; nothing was
        done yet, so nothing needs undoing, and no account data is read to say so."""
        if self._in_progress(tracker) and self._declined(tracker):
            if self.confirmation_slot is None and self.stopped_response:
                dispatcher.utter_message(response=self.stopped_response)
            stop = [SlotSet(self.confirmation_slot, False)] if self.confirmation_slot else []
            return [*stop, SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)

    def _declined(self, tracker: Tracker) -> bool:
        intent = tracker.latest_message.get("intent") or {}
        return (intent.get("name") in self.stop_intents
                and float(intent.get("confidence") or 0) >= ASIDE_CONFIDENCE
                and tracker.get_slot("requested_slot") != self.confirmation_slot
                and not self.named_values(tracker))

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().get_extraction_events(dispatcher, tracker, domain)
        if not self._in_progress(tracker):
            return events
        requested = tracker.get_slot("requested_slot")
        named = self.named_values(tracker)
        common = common_answer(tracker)
        if common:  # "oh there's a fee? no, switch it to my checking then": answered, then the rest
            dispatcher.utter_message(response=common)
            if not named:
                return [*events, SlotSet(requested, None)]
        changed = {slot: value for slot, value in named.items()
                   if slot != requested and value != tracker.get_slot(slot)}
        if not common and requested not in named and not (changed and _says_more_after_question(tracker)):
            # a question aside; a question followed by a change is a correction ("a fee? no, use
            # my checking then" asks about this payment's fee, not the account's late fees)
            aside = await self._answer_aside(dispatcher, tracker, domain)
            if aside is not None:
                return [*events, *aside, SlotSet(requested, None)]
        extra: list[EventType] = [SlotSet(slot, value) for slot, value in named.items()
                                  if slot == requested or slot in changed]
        if changed:
            if any(tracker.get_slot(slot) is not None for slot in changed):
                dispatcher.utter_message(response="utter_change_noted")
            if requested not in named:  # the message was about another step: ask this one again
                extra.append(SlotSet(requested, None))
            if self.confirmation_slot:  # the summary changed: it is shown and asked again
                extra.append(SlotSet(self.confirmation_slot, None))
        return [*events, *extra]

    async def _answer_aside(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Optional[list[EventType]]:
        intent = tracker.latest_message.get("intent") or {}
        name = ANSWERS.get(intent.get("name") or "")
        action = account_action(name) if name else None
        if action is None or float(intent.get("confidence") or 0) < ASIDE_CONFIDENCE:
            return None
        return await action.run_verified(dispatcher, tracker, domain, current_customer())

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """rasa_sdk's, except that a slot being emptied is not validated (nothing to check, and
        no "I didn't catch that" for a step the customer did not answer), and that slots set
        along the way (by an answer given aside) are kept."""
        form_slots = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        slots: dict[str, Any] = tracker.slots_to_validate()
        for slot_name, slot_value in list(slots.items()):
            validate = getattr(self, f"validate_{slot_name}", None)
            if slot_name not in form_slots or slot_value is None or validate is None:
                continue
            output = await validate(slot_value, dispatcher, tracker, domain)
            slots.update(output)
            tracker.slots.update(output)
        return [SlotSet(slot, value) for slot, value in slots.items()]
