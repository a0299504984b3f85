"""What the customer's request said, kept for the task that follows it.

"Pay $300 on Friday from checking" often comes before verification: by the time the payment
form starts, the request is several turns back, and the stored copy of the message has lost its
secrets to redaction (a new email address, a phone number). `capture_events` seals the request's
text and entities in the same turn (slot `task_details`); `task_request` gives it back to the
task's start action, whether verification came in between or not.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions.runtime import RESUMABLE_TASKS, container
from autofinance.adapters.sealing import seal, unseal

DETAILS_SLOT = "task_details"


@dataclass(frozen=True)
class TaskRequest:
    """The message that asked for a task: its intent, its text and its entities (first value
    of each entity name)."""

    intent: Optional[str] = None
    text: str = ""
    entities: dict[str, str] = field(default_factory=dict)

    def entity(self, name: str) -> Optional[str]:
        return self.entities.get(name)


def _from_message(message: dict[str, Any]) -> TaskRequest:
    entities: dict[str, str] = {}
    for entity in message.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if isinstance(name, str) and value is not None and name not in entities:
            entities[name] = str(value)
    return TaskRequest((message.get("intent") or {}).get("name"), message.get("text") or "", entities)


def request_events(intent: str, entities: dict[str, str]) -> list[EventType]:
    """Seals a request the customer made without words of their own ("PAY NOW" to a reminder
    about $389.90): the task starts with what it was about."""
    return kept(TaskRequest(intent, "", entities))


def capture_events(tracker: Tracker) -> list[EventType]:
    """Seals the latest message as the task's request, to be read after verification."""
    request = _from_message(tracker.latest_message or {})
    if request.intent not in RESUMABLE_TASKS:
        return [SlotSet(DETAILS_SLOT, None)]
    return kept(request)


def kept(request: TaskRequest) -> list[EventType]:
    """Seals `request` for its task, read when the task starts (after verification, or after a
    new bank account is added for it)."""
    payload = json.dumps({"intent": request.intent, "text": request.text, "entities": request.entities})
    return [SlotSet(DETAILS_SLOT, seal(payload, container().settings.secret_pepper))]


def task_request(tracker: Tracker) -> TaskRequest:
    """The request of the task being started: the latest message when it asked for a task
    itself, else the request sealed before verification, else the latest stored message that
    asked for a task (its secrets redacted, its amounts and dates intact); empty if none."""
    latest = _from_message(tracker.latest_message or {})
    if latest.intent in RESUMABLE_TASKS:
        return latest
    sealed = sealed_request(tracker)
    if sealed is not None:
        return sealed
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            asked = _from_message({**(event.get("parse_data") or {}), "text": event.get("text")})
            if asked.intent in RESUMABLE_TASKS:
                return asked
    return TaskRequest()


def sealed_request(tracker: Tracker) -> Optional[TaskRequest]:
    """Only the request sealed before a detour (verification, a new bank account), if any."""
    opened = unseal(tracker.get_slot(DETAILS_SLOT), container().settings.secret_pepper)
    if opened is None:
        return None
    try:
        stored = json.loads(opened)
        return TaskRequest(stored.get("intent"), str(stored.get("text") or ""),
                           {str(k): str(v) for k, v in (stored.get("entities") or {}).items()})
    except (ValueError, AttributeError):
        return None


def consumed(tracker: Tracker) -> list[EventType]:
    """Clears the sealed request once its task has started, so it never fills a later task."""
    return [SlotSet(DETAILS_SLOT, None)] if tracker.get_slot(DETAILS_SLOT) else []


def action_before_message(tracker: Tracker) -> Optional[str]:
    """The assistant's last action before the customer's latest message (what "it" may refer to)."""
    seen_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_message:
                return None
            seen_message = True
        elif seen_message and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name")
    return None
