"""Checks of `rasa_ext.lock_store` that need Rasa (and Redis): run by Rasa's Python.

`tests/unit/rasa_ext/test_lock_store.py` runs this file with `.venv/rasa/bin/python` and asserts
on the JSON it prints on its last line. Several processes, each with its own store object, as
Sanic workers and replicas have.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import secrets
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.core.utils import number_of_sanic_workers
from rasa.utils.endpoints import EndpointConfig

from rasa_ext.lock_store import AtomicRedisLockStore, SQLiteLockStore

REDIS_DB = 5
PROCESSES, TURNS = 4, 25
Factory = Callable[[], LockStore]


def _turns(factory: Factory, conversation: str, out: Any) -> None:
    """One process's share of the race: TURNS turns of one conversation, each noted in and out."""
    store = factory()
    spans: List[Tuple[float, float]] = []

    async def run() -> None:
        for _ in range(TURNS):
            async with store.lock(conversation):
                entered = time.monotonic()
                await asyncio.sleep(random.uniform(0.001, 0.004))
                spans.append((entered, time.monotonic()))

    asyncio.run(run())
    out.put(spans)


def race(factory: Factory) -> Dict[str, Any]:
    """Processes hammer one conversation at once: every turn must be alone."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    conversation = "race-" + secrets.token_hex(4)
    workers = [context.Process(target=_turns, args=(factory, conversation, out))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    spans = sorted(span for _ in workers for span in out.get(timeout=120))
    for worker in workers:
        worker.join(10)
    overlaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:]) if start < end)
    return {"turns": len(spans), "overlaps": overlaps,
            "left_behind": factory().get_lock(conversation) is not None}


def _hold_then_die(factory: Factory, conversation: str, ready: Any) -> None:
    store = factory()

    async def run() -> None:
        async with store.lock(conversation):
            ready.set()
            await asyncio.sleep(3600)  # killed here, mid-turn

    asyncio.run(run())


def killed_holder(factory: Factory, ticket_seconds: float) -> Dict[str, Any]:
    """A process killed while it holds the lock: the next turn goes ahead within seconds."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    conversation = "killed-" + secrets.token_hex(4)
    holder = context.Process(target=_hold_then_die, args=(factory, conversation, ready))
    holder.start()
    assert ready.wait(30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    killed_at = time.monotonic()
    store = factory()

    async def next_turn() -> float:
        async with store.lock(conversation):
            return time.monotonic() - killed_at

    return {"waited": asyncio.run(next_turn()), "ticket_seconds": ticket_seconds}


def live_holder_keeps_it(factory: Factory, ticket_seconds: float) -> Dict[str, Any]:
    """A holder busy for three ticket lifetimes keeps its turn: renewal, not expiry."""
    conversation = "long-" + secrets.token_hex(4)
    holder, waiter = factory(), factory()
    events: List[Tuple[str, float]] = []

    async def long_turn() -> None:
        async with holder.lock(conversation):
            events.append(("holder in", time.monotonic()))
            await asyncio.sleep(ticket_seconds * 3)
            events.append(("holder out", time.monotonic()))

    async def next_turn() -> None:
        await asyncio.sleep(0.2)
        async with waiter.lock(conversation):
            events.append(("waiter in", time.monotonic()))

    async def both() -> None:
        await asyncio.gather(long_turn(), next_turn())

    asyncio.run(both())
    return {"order": [name for name, _ in sorted(events, key=lambda e: e[1])]}


def main() -> None:
    results: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "locks.db"

        def sqlite(ticket_seconds: float = 8.0) -> Factory:
            return lambda: SQLiteLockStore(path=str(path), ticket_seconds=ticket_seconds)

        results["sqlite_race"] = race(sqlite())
        results["sqlite_killed"] = killed_holder(sqlite(1.5), 1.5)
        results["sqlite_live"] = live_holder_keeps_it(sqlite(1.0), 1.0)

        prefix = "locktest" + secrets.token_hex(4)

        def red(ticket_seconds: float = 8.0) -> Factory:
            return lambda: AtomicRedisLockStore(host="127.0.0.1", port=6379, db=REDIS_DB,
                                                key_prefix=prefix, ticket_seconds=ticket_seconds)

        results["redis_race"] = race(red())
        results["redis_killed"] = killed_holder(red(1.5), 1.5)
        results["redis_live"] = live_holder_keeps_it(red(1.0), 1.0)
        results["redis_keys_left"] = len(redis.StrictRedis(db=REDIS_DB).keys(prefix + "*"))

        # Redis down: a clear LockError at once, not a hang
        down = AtomicRedisLockStore(host="127.0.0.1", port=1, db=REDIS_DB, key_prefix=prefix)

        async def try_down() -> str:
            try:
                async with down.lock("anyone"):
                    return "entered"
            except LockError as error:
                return type(error).__name__

        started = time.monotonic()
        results["redis_down"] = {"raised": asyncio.run(try_down()),
                                 "seconds": time.monotonic() - started}

        # Rasa builds it from endpoints.yml's module path and then allows several Sanic workers
        config = EndpointConfig(type="rasa_ext.lock_store.SQLiteLockStore", db=str(path))
        built = LockStore.create(config)
        os.environ["SANIC_WORKERS"] = "2"
        results["rasa_builds_it"] = {"class": type(built).__name__, "path": str(built.path) == str(path),
                                     "workers": number_of_sanic_workers(config)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
