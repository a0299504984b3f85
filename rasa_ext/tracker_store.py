"""The SQL tracker store, with secrets redacted from every event it stores or publishes.

Rasa Open Source has no PII masking. The stock SQL store appends only the events it has not
stored yet (counted), and the broker gets only the events that are new since the stored
tracker: both paths are narrowed here to redacted copies of exactly those new events, so a
turn costs the same however long the conversation is. Redacting a user message needs to know
whether it answered a verification question, i.e. the form state the earlier events left.

Every message reads the conversation and appends to it, so the serving costs are here too
(a quarter of Rasa's CPU under load, measured with py-spy). Rasa goes through the ORM for both:
a query object per read that builds an ORM object per row and then uses only its JSON column,
and per save a count wrapped in a subquery plus one INSERT and one ORM object per new event.
Here both are SQL statements built once: the read selects the JSON column, the save counts and
then inserts every new event in one executemany. Same rows, same order, same columns. An SQLite
store also runs in WAL mode with `synchronous=NORMAL` (a commit writes the log without waiting
for the disk; a power cut may lose the last turn, never the file), and keeps its connection:
SQLAlchemy 1.4 opens and closes the file for every read and every save (a tenth of Rasa's CPU
under load); 2.0 keeps them, as here.
"""
from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Iterable, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
from sqlalchemy.engine import Engine

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


def redacted_dicts(new_events: list[Event], earlier: Iterable[Event]) -> list[dict[str, Any]]:
    """Redacted serialised copies of `new_events`, which follow `earlier` in the conversation."""
    dicts = redact_events([event.as_dict() for event in new_events], form_state(earlier))
    if [data.get("event") for data in dicts] != [event.type_name for event in new_events]:
        raise RuntimeError("redaction changed the events; refusing to store them")
    return dicts  # the store appends by count: same number, same order, same types


def redacted(new_events: list[Event], earlier: Iterable[Event]) -> list[Event]:
    """Redacted copies of `new_events` as events (what the event broker publishes)."""
    copies = [Event.from_parameters(data) for data in redacted_dicts(new_events, earlier)]
    if None in copies:
        raise RuntimeError("redaction changed the events; refusing to publish them")
    return copies


def row(sender_id: Text, data: dict[str, Any]) -> dict[str, Any]:
    """The columns Rasa's SQL store writes for one serialised event."""
    parse_data = data.get("parse_data") or {}
    return {"sender_id": sender_id, "type_name": data.get("event"),
            "timestamp": data.get("timestamp"),
            "intent_name": (parse_data.get("intent") or {}).get("name"),
            "action_name": data.get("name"), "data": json.dumps(data)}


def pooled_sqlite(engine: Engine) -> Engine:
    """The same SQLite file with its connections kept in a pool (SQLAlchemy 2.0's default for a
    file; 1.4 uses NullPool). Each checkout has a connection to itself; `check_same_thread`
    off lets a kept connection serve whichever thread checks it out next (as 2.0 sets it).
    An in-memory database is left as it is."""
    if engine.url.database in (None, "", ":memory:"):
        return engine
    engine.dispose()
    return sa.create_engine(engine.url, poolclass=sa.pool.QueuePool,
                            connect_args={"check_same_thread": False})


def tune_sqlite(engine: Engine) -> None:
    """WAL once (the file keeps it), `synchronous=NORMAL` on each new connection."""
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
        self._statements()
        if self.engine.dialect.name == "sqlite":
            self.engine = pooled_sqlite(self.engine)
            self.sessionmaker.configure(bind=self.engine)
            tune_sqlite(self.engine)

    def _statements(self) -> None:
        """The read and count statements, with `sender_id` bound at each call."""
        table = self.SQLEvent.__table__
        sender = table.c.sender_id == sa.bindparam("sender_id")
        session_start = (sa.select(sa.func.max(table.c.timestamp))
                         .where(sender, table.c.type_name == SessionStarted.type_name)
                         .scalar_subquery())
        # Rasa's definition of the latest session: from its last SessionStarted, or everything
        latest = sa.and_(sender, sa.or_(table.c.timestamp >= session_start,
                                        session_start.is_(None)))
        self._read_latest = sa.select(table.c.data).where(latest).order_by(table.c.id)
        self._read_all = sa.select(table.c.data).where(sender).order_by(table.c.id)
        self._count_latest = sa.select(sa.func.count()).select_from(table).where(latest)
        self._insert = table.insert()

    async def _retrieve(self, sender_id: Text,
                        fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        statement = self._read_all if fetch_events_from_all_sessions else self._read_latest
        with self.engine.connect() as connection:
            rows = connection.execute(statement, {"sender_id": sender_id}).scalars().all()
        if not (self.domain and rows):
            return None
        return DialogueStateTracker.from_dict(sender_id, [json.loads(data) for data in rows],
                                              self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the events the store does not have yet, redacted, in one transaction."""
        await self.stream_events(tracker)
        with self.engine.begin() as connection:
            stored = connection.execute(self._count_latest,
                                        {"sender_id": tracker.sender_id}).scalar_one()
            new = list(itertools.islice(tracker.events, stored, None))
            if not new:
                return
            dicts = redacted_dicts(new, itertools.islice(tracker.events, 0, stored))
            connection.execute(self._insert, [row(tracker.sender_id, data) for data in dicts])

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        if self.event_broker is None:
            return
        stored = await self.retrieve(tracker.sender_id)
        new = TrackerEventDiffEngine.event_difference(stored, tracker)
        await self._stream_new_events(self.event_broker, redacted(new, stored.events if stored else []),
                                      tracker.sender_id)
