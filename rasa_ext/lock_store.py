"""Conversation locks that hold across processes: one turn of a conversation at a time.

Rasa serves a conversation's messages one at a time through a ticket lock kept in its lock
store. Rasa's Redis store reads the lock, changes it in Python and writes it back in three
calls: two replicas given messages of one conversation in the same millisecond can both take
ticket 0 and both proceed. Its tickets live 60 s, so a replica killed mid-turn blocks the
conversation for up to a minute. And its in-memory store keeps Rasa in one Sanic worker.

Here every change of a lock is one atomic step (Redis: WATCH/MULTI/EXEC; SQLite: a
`BEGIN IMMEDIATE` transaction), and a ticket lives `TICKET_SECONDS`, renewed every third of
that by its holder while the holder's event loop runs: a killed process's ticket lapses within
seconds, a live one never does. `SQLiteLockStore` is the embedded default's: one file shared by
every Sanic worker of the machine, so `make run` can use every core without Redis.
`AtomicRedisLockStore` is the production profile's, shared by every replica.

Both are named by module path in endpoints.yml (`type: rasa_ext.lock_store.SQLiteLockStore`);
Rasa builds them with the endpoint's configuration and allows several Sanic workers with them.
"""
from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

TICKET_SECONDS = 8.0  # how long a ticket outlives its holder's last sign of life
POLL_SECONDS = 0.02  # a waiting message looks again this often (Rasa: every second)
MAX_POLL_SECONDS = 0.25

Change = Callable[[Optional[TicketLock]], Optional[TicketLock]]


class AtomicLockStore(LockStore, abc.ABC):
    """Ticket locks whose every change is one atomic read-change-write on the backend."""

    ticket_seconds: float = TICKET_SECONDS

    @abc.abstractmethod
    def change(self, conversation_id: Text, change: Change) -> None:
        """Applies `change` to the stored lock (None: none stored) atomically; a None or empty
        result deletes it. `change` may run more than once (an optimistic retry)."""

    # Rasa's primitives, each one atomic step
    def save_lock(self, lock: TicketLock) -> None:
        self.change(lock.conversation_id, lambda _stored: lock)

    def delete_lock(self, conversation_id: Text) -> None:
        self.change(conversation_id, lambda _stored: None)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        return self._take_ticket(conversation_id)[0]

    def _take_ticket(self, conversation_id: Text) -> tuple[int, Optional[TicketLock]]:
        """A new ticket, and the lock as it was written when that ticket is first in line
        (its turn has come: nobody need read the lock again to know it)."""
        taken: list[tuple[int, Optional[TicketLock]]] = []

        def take(stored: Optional[TicketLock]) -> TicketLock:
            lock = stored or TicketLock(conversation_id)
            number = lock.issue_ticket(self.ticket_seconds)
            taken[:] = [(number, lock if not lock.is_locked(number) else None)]
            return lock

        try:
            self.change(conversation_id, take)
        except Exception as error:  # the backend is down: Rasa's own error for it
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error
        return taken[0]

    def renew(self, conversation_id: Text, ticket_number: int) -> None:
        """Moves the ticket's expiry `ticket_seconds` ahead (its holder is alive)."""
        def extend(stored: Optional[TicketLock]) -> Optional[TicketLock]:
            if stored is not None:
                for ticket in stored.tickets:
                    if ticket.number == ticket_number:
                        ticket.expires = time.time() + self.ticket_seconds
            return stored

        self.change(conversation_id, extend)

    def update_lock(self, conversation_id: Text) -> None:
        def prune(stored: Optional[TicketLock]) -> Optional[TicketLock]:
            if stored is not None:
                stored.remove_expired_tickets()
            return stored

        self.change(conversation_id, prune)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        def release(stored: Optional[TicketLock]) -> Optional[TicketLock]:
            if stored is not None:
                stored.remove_ticket_for(ticket_number)
            return stored  # empty: deleted

        self.change(conversation_id, release)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's lock, with the ticket renewed while this holder waits and serves."""
        ticket, ours_now = self._take_ticket(conversation_id)
        renewing = asyncio.ensure_future(self._keep_alive(conversation_id, ticket))
        try:
            yield ours_now or await self._wait_for_turn(conversation_id, ticket)
        finally:
            renewing.cancel()
            try:
                self.cleanup(conversation_id, ticket)
            except Exception:  # the backend is down: the ticket lapses on its own
                logger.warning("could not release the lock of a conversation; it lapses in %.0f s",
                               self.ticket_seconds)

    async def _keep_alive(self, conversation_id: Text, ticket: int) -> None:
        while True:
            await asyncio.sleep(self.ticket_seconds / 3)
            try:
                self.renew(conversation_id, ticket)
            except Exception:  # a blip of the backend; the next renewal may get through
                logger.warning("could not renew a conversation's lock", exc_info=True)

    async def _wait_for_turn(self, conversation_id: Text, ticket: int) -> TicketLock:
        pause = POLL_SECONDS
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or all(t.number != ticket for t in lock.tickets):
                raise LockError(f"Lost the lock ticket of conversation '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)


def _lock_from_text(text: Optional[Any]) -> Optional[TicketLock]:
    if not text:
        return None
    lock = TicketLock.from_dict(json.loads(text))
    lock.remove_expired_tickets()
    return lock


class SQLiteLockStore(AtomicLockStore):
    """Locks in one SQLite file, shared by every process of this machine (the embedded default)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 path: Optional[str] = None, ticket_seconds: Optional[float] = None) -> None:
        kwargs = endpoint_config.kwargs if endpoint_config else {}
        self.path = Path(path or kwargs.get("db") or "locks.db")
        self.ticket_seconds = float(ticket_seconds or kwargs.get("ticket_seconds") or TICKET_SECONDS)
        self._connections: dict[tuple[int, int], sqlite3.Connection] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection()  # creates the file and its table now: a bad path fails at start-up
        super().__init__()

    def _connection(self) -> sqlite3.Connection:
        """This process's and thread's connection (Sanic forks its workers after start-up)."""
        key = (os.getpid(), threading.get_ident())
        connection = self._connections.get(key)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # a lock need not survive a power cut
            connection.execute("CREATE TABLE IF NOT EXISTS conversation_locks "
                               "(conversation_id TEXT PRIMARY KEY, lock TEXT NOT NULL)")
            self._connections[key] = connection
        return connection

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        row = self._connection().execute(
            "SELECT lock FROM conversation_locks WHERE conversation_id = ?",
            (conversation_id,)).fetchone()
        return _lock_from_text(row[0] if row else None)

    def change(self, conversation_id: Text, change: Change) -> None:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")  # takes the write lock before reading
        try:
            row = connection.execute(
                "SELECT lock FROM conversation_locks WHERE conversation_id = ?",
                (conversation_id,)).fetchone()
            changed = change(_lock_from_text(row[0] if row else None))
            if changed is None or not changed.tickets:
                connection.execute("DELETE FROM conversation_locks WHERE conversation_id = ?",
                                   (conversation_id,))
            else:
                connection.execute(
                    "INSERT INTO conversation_locks (conversation_id, lock) VALUES (?, ?) "
                    "ON CONFLICT (conversation_id) DO UPDATE SET lock = excluded.lock",
                    (conversation_id, changed.dumps()))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


class AtomicRedisLockStore(AtomicLockStore):
    """Locks in Redis, each change a WATCH/MULTI/EXEC transaction (the production profile)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, *,
                 host: Text = "localhost", port: int = 6379, db: int = 1,
                 password: Optional[Text] = None, key_prefix: Optional[Text] = None,
                 ticket_seconds: Optional[float] = None) -> None:
        import redis

        kwargs = dict(endpoint_config.kwargs) if endpoint_config else {}
        host = (endpoint_config.url if endpoint_config and endpoint_config.url else host)
        self.red = redis.StrictRedis(
            host=host, port=int(kwargs.get("port") or port), db=int(kwargs.get("db") or db),
            password=kwargs.get("password") or password or None,
            socket_timeout=2, socket_connect_timeout=2)
        prefix = kwargs.get("key_prefix") or key_prefix
        # Rasa's key layout, so operators find the locks where Rasa's docs say they are
        self.key_prefix = (f"{prefix}:lock:" if isinstance(prefix, str) and prefix.isalnum()
                           else "lock:")
        self.ticket_seconds = float(ticket_seconds or kwargs.get("ticket_seconds") or TICKET_SECONDS)
        super().__init__()

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return _lock_from_text(self.red.get(self.key_prefix + conversation_id))

    def change(self, conversation_id: Text, change: Change) -> None:
        key = self.key_prefix + conversation_id

        def transaction(pipe: Any) -> None:
            changed = change(_lock_from_text(pipe.get(key)))
            pipe.multi()
            if changed is None or not changed.tickets:
                pipe.delete(key)
            else:  # the key itself lapses too, should every holder die
                pipe.set(key, changed.dumps(), px=int(self.ticket_seconds * 3000))

        self.red.transaction(transaction, key)

