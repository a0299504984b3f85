"""The SQL tracker store, with secrets redacted from every event it stores or publishes.

Rasa Open Source has no PII masking. The stock SQL store appends only the events it has not
stored yet (counted), and the broker gets only the events that are new since the stored
tracker: both paths are narrowed here to redacted copies of exactly those new events, so a
turn costs the same however long the conversation is. Redacting a user message needs to know
whether it answered a verification question, i.e. the form state the earlier events left.
"""
from __future__ import annotations

import itertools
import logging
from typing import Iterable, Iterator

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
from sqlalchemy.orm import Session

from rasa_ext.redaction import FormState, redact_events

logger = logging.getLogger(__name__)


def form_state(events: Iterable[Event]) -> FormState:
    """The active loop and requested slot after `events`."""
    active_loop = requested_slot = None
    for event in events:
        if isinstance(event, ActiveLoop):
            active_loop = event.name
        elif isinstance(event, SlotSet) and event.key == "requested_slot":
            requested_slot = event.value
    return active_loop, requested_slot


def redacted(new_events: list[Event], earlier: Iterable[Event]) -> list[Event]:
    """Redacted copies of `new_events`, which follow `earlier` in the conversation."""
    dicts = redact_events([event.as_dict() for event in new_events], form_state(earlier))
    copies = [Event.from_parameters(data) for data in dicts]
    if len(copies) != len(new_events) or None in copies:  # the store appends by count
        raise RuntimeError("redaction changed the events; refusing to store them")
    return copies


class RedactingSQLTrackerStore(SQLTrackerStore):
    """`type: rasa_ext.tracker_store.RedactingSQLTrackerStore` in endpoints.yml."""

    def _additional_events(self, session: Session, tracker: DialogueStateTracker) -> Iterator:
        new = list(super()._additional_events(session, tracker))
        earlier = itertools.islice(tracker.events, 0, len(tracker.events) - len(new))
        return iter(redacted(new, earlier))

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        if self.event_broker is None:
            return
        stored = await self.retrieve(tracker.sender_id)
        new = TrackerEventDiffEngine.event_difference(stored, tracker)
        await self._stream_new_events(self.event_broker, redacted(new, stored.events if stored else []),
                                      tracker.sender_id)
