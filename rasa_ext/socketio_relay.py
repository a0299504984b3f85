"""A widget's messages reach it whichever Rasa process sends them.

A widget holds its websocket on one process: one Sanic worker of one replica. Rasa's socket.io
output emits to the conversation's room in the process that produced the message, so an
agent's reply from the support console (an API call that any worker of any replica may take)
was lost unless it landed on the socket's process. python-socketio solves this with a client
manager that relays every emit through a message queue to the other processes, which deliver
it to the sockets they hold:

- production: its Redis manager, on the lock store's Redis (`redis://host:port/db`);
- the embedded default, whose Sanic workers share a machine but no server:
  `SQLiteRelayManager`, a queue in one SQLite file (`sqlite:///path`) that each worker polls
  every 50 ms. Emits to sockets of the emitting process are delivered at once, as before;
  only the rest go through the queue.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Optional

from socketio import AsyncRedisManager
from socketio.async_pubsub_manager import AsyncPubSubManager

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
KEEP_SECONDS = 60.0  # a relayed message older than this is of no use to anyone
PRUNE_EVERY = 200  # publishes


class PerProcessHost:
    """A pub/sub manager's `host_id`, its own in every process. Sanic builds the server (and its
    manager) once and then forks its workers: with python-socketio's one id per manager object,
    every worker took the others' messages for its own echoes and dropped them."""

    _host_id, _host_pid = "", -1

    @property
    def host_id(self) -> str:
        if self._host_pid != os.getpid():
            self._host_id, self._host_pid = uuid.uuid4().hex, os.getpid()
        return self._host_id

    @host_id.setter
    def host_id(self, value: str) -> None:
        self._host_id, self._host_pid = value, os.getpid()


class RedisRelayManager(PerProcessHost, AsyncRedisManager):
    """python-socketio's Redis manager, with an id of its own in each forked worker."""


class SQLiteRelayManager(PerProcessHost, AsyncPubSubManager):
    """python-socketio's pub/sub manager over a table in one SQLite file (one machine)."""

    name = "sqlite-relay"

    def __init__(self, path: str, channel: str = "socketio",
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__(channel=channel)
        self.path = Path(path)
        self.poll_seconds = poll_seconds
        self._connection: Optional[sqlite3.Connection] = None
        self._connection_pid = -1
        self._published = 0

    def _db(self) -> sqlite3.Connection:
        """This process's connection (never one inherited through a fork)."""
        if self._connection is None or self._connection_pid != os.getpid():
            self._connection_pid = os.getpid()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE IF NOT EXISTS relayed (id INTEGER PRIMARY KEY "
                               "AUTOINCREMENT, channel TEXT NOT NULL, created REAL NOT NULL, "
                               "message TEXT NOT NULL)")
            self._connection = connection
        return self._connection

    async def _publish(self, data: Any) -> None:
        db = self._db()
        db.execute("INSERT INTO relayed (channel, created, message) VALUES (?, ?, ?)",
                   (self.channel, time.time(), self.json.dumps(data)))
        self._published += 1
        if self._published % PRUNE_EVERY == 0:
            db.execute("DELETE FROM relayed WHERE created < ?", (time.time() - KEEP_SECONDS,))

    async def _listen(self) -> AsyncIterator[str]:
        db = self._db()
        last = db.execute("SELECT COALESCE(MAX(id), 0) FROM relayed").fetchone()[0]
        while True:
            try:
                rows = db.execute("SELECT id, message FROM relayed WHERE id > ? AND channel = ? "
                                  "ORDER BY id", (last, self.channel)).fetchall()
            except sqlite3.Error:  # busy beyond the timeout: try again on the next poll
                logger.warning("could not read relayed socket.io messages", exc_info=True)
                rows = []
            for row_id, message in rows:
                last = row_id
                yield message
            await asyncio.sleep(self.poll_seconds)


def client_manager(url: str, channel: str = "socketio") -> Optional[AsyncPubSubManager]:
    """The manager for `url` (redis://..., sqlite:///...) on `channel` (deployments sharing a
    Redis keep apart by it); None for an empty url (one process)."""
    url = (url or "").strip()
    if not url:
        return None
    if url.startswith(("redis://", "rediss://")):
        return RedisRelayManager(url, channel=channel)
    if url.startswith("sqlite:///"):
        return SQLiteRelayManager(url[len("sqlite:///"):], channel=channel)
    raise ValueError(f"unknown socket.io relay {url.split(':', 1)[0]!r}: use redis:// or sqlite:///")


def attach(sio: Any, manager: Optional[AsyncPubSubManager]) -> None:
    """Makes `sio` (a server no client has reached yet) relay its emits through `manager`."""
    if manager is None:
        return
    sio.manager = manager
    manager.set_server(sio)
    sio.manager_initialized = False  # initialised (its listener started) on the first client
