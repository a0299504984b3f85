"""The SQL tracker store, with secrets redacted from every event it stores or publishes.

Rasa Open Source has no PII masking. Here `save` rebuilds the tracker from redacted copies of
its events (same number, same order, so Rasa's count-based append stays correct) and hands
that to the stock SQL store, which also publishes it to the event broker.
"""
from __future__ import annotations

import logging

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.redaction import redact_events

logger = logging.getLogger(__name__)


class RedactingSQLTrackerStore(SQLTrackerStore):
    """`type: rasa_ext.tracker_store.RedactingSQLTrackerStore` in endpoints.yml."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        events = [event.as_dict() for event in tracker.events]
        redacted = DialogueStateTracker.from_dict(
            tracker.sender_id, redact_events(events), slots=self.domain.slots
        )
        if len(redacted.events) != len(tracker.events):  # the store appends by count
            raise RuntimeError("redaction changed the number of events; refusing to store them")
        await super().save(redacted)
