"""The SQL tracker store, with secrets redacted from every event it stores or publishes.

Rasa Open Source has no PII masking. The stock SQL store appends only the events it has not
stored yet (counted), and the broker gets only the events that are new since the stored
tracker: both paths are narrowed here to redacted copies of exactly those new events, so a
turn costs the same however long the conversation is. Redacting a user message needs to know
whether it answered a verification question, i.e. the form state the earlier events left.

Every message reads the conversation and appends to it, so the serving costs are here too: the
stored events are read as their JSON column only (Rasa builds an ORM object per row, then uses
only that column), and an SQLite store runs in WAL mode with `synchronous=NORMAL` (a commit
writes the log without waiting for the disk; a power cut may lose the last turn, never the file).
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Iterable, Iterator, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Query, Session

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


def tune_sqlite(engine: Engine) -> None:
    """WAL once (the file keeps it), `synchronous=NORMAL` on each connection (one a call)."""
    @sa.event.listens_for(engine, "connect")
    def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")


class RedactingSQLTrackerStore(SQLTrackerStore):
    """`type: rasa_ext.tracker_store.RedactingSQLTrackerStore` in endpoints.yml."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            tune_sqlite(self.engine)

    def _event_query(self, session: Session, sender_id: Text,
                     fetch_events_from_all_sessions: bool) -> Query:
        """Rasa's query (same rows, same order), selecting only the serialised event."""
        event = self.SQLEvent
        query = session.query(event.data).filter(event.sender_id == sender_id)
        if not fetch_events_from_all_sessions:
            session_start = (
                session.query(sa.func.max(event.timestamp).label("session_start"))
                .filter(event.sender_id == sender_id, event.type_name == SessionStarted.type_name)
                .subquery()
            )
            query = query.filter(sa.or_(event.timestamp >= session_start.c.session_start,
                                        session_start.c.session_start.is_(None)))
        return query.order_by(event.id)

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
