"""The production profile: PostgreSQL tracker and account stores, Redis lock store, RabbitMQ.

Rasa falls back to in-memory stores silently when a store fails to load, so each store is
checked where it keeps its data: events in PostgreSQL, locks taken in Redis, events on the
RabbitMQ queue, accounts in PostgreSQL.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from typing import Iterator

import pika
import psycopg
import pytest
import redis

from tests.e2e.conftest import RunningStack, reachable, start_stack

pytestmark = pytest.mark.e2e
SERVER = "postgresql://postgres@127.0.0.1:5432"


def _require_services() -> None:
    for name, port in (("PostgreSQL", 5432), ("Redis", 6379), ("RabbitMQ", 5672)):
        if not reachable("127.0.0.1", port):
            pytest.skip(f"{name} not reachable at 127.0.0.1:{port}: the production profile needs it")


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    suffix = secrets.token_hex(4)
    return {"tracker": f"rasa_test_{suffix}", "accounts": f"accounts_test_{suffix}",
            "queue": f"rasa_events_{suffix}", "prefix": f"meridian{suffix}"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, names: dict[str, str]) -> Iterator[RunningStack]:
    _require_services()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        for database in (names["tracker"], names["accounts"]):
            conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield from start_stack(tmp_path_factory.mktemp("production"), {
            "ASSISTANT_PROFILE": "production", "DEMO_MODE": "true",
            "DATABASE_URL": f"{SERVER}/{names['accounts']}",
            "TRACKER_DB_NAME": names["tracker"], "RABBITMQ_QUEUE": names["queue"],
            "REDIS_KEY_PREFIX": names["prefix"], "REDIS_DB": "3",
            # real secrets: the production profile refuses the demo ones (test_config.py);
            # RASA_API_TOKEN and ACTION_SERVER_TOKEN are random for every stack (conftest.py)
            "SECRET_PEPPER": secrets.token_urlsafe(32), "PORTAL_JWT_SECRET": secrets.token_urlsafe(32),
            # REST is off in production but behind an authenticating gateway (RunningStack.say
            # sends this as the gateway would)
            "REST_GATEWAY_TOKEN": secrets.token_urlsafe(24),
        })
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            for database in (names["tracker"], names["accounts"]):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1")) as broker:
            broker.channel().queue_delete(names["queue"])


def _watch_redis(prefix: str, seen: list[str], stop: threading.Event) -> None:
    """Records the Redis commands that touch our key prefix (the test asserts on what it saw)."""
    try:
        with redis.Redis(host="127.0.0.1", port=6379, db=3).monitor() as commands:
            for command in commands.listen():
                if prefix in command.get("command", ""):
                    seen.append(command["command"])
                if stop.is_set():
                    return
    except redis.RedisError:
        return  # the assertion on `seen` reports what was missed


def test_a_conversation_lands_in_postgresql_takes_redis_locks_and_reaches_rabbitmq(
    running: RunningStack, names: dict[str, str]
) -> None:
    seen: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_redis, args=(names["prefix"], seen, stop), daemon=True)
    watcher.start()
    time.sleep(0.5)
    sender = "prod-maria-1"
    running.say(sender, "what's my balance")
    running.say(sender, "7301004821")
    running.say(sender, "30309")
    running.say(sender, "email")
    code = running.latest_code("maria.lopez@example.com")
    replies = " ".join(running.say(sender, code))
    stop.set()
    redis.Redis(host="127.0.0.1", port=6379, db=3).ping()  # wakes the monitor so it can stop
    watcher.join(timeout=5)

    assert "$18,420.55" in replies  # served from the PostgreSQL account store
    with psycopg.connect(f"{SERVER}/{names['tracker']}") as conn:
        rows = [r[0] for r in conn.execute("SELECT data FROM events WHERE sender_id = %s", (sender,))]
    assert len(rows) > 10, "the conversation's events are not in the PostgreSQL tracker store"
    stored = "\n".join(rows)
    assert "[redacted]" in stored and code not in stored and "7301004821" not in stored
    assert any(f"{names['prefix']}:lock:{sender}" in command for command in seen), (
        "Rasa did not take its conversation lock in Redis"
    )
    with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1")) as broker:
        channel = broker.channel()
        published = []
        for _method, _properties, body in channel.consume(names["queue"], inactivity_timeout=2):
            if body is None:
                break
            published.append(body.decode())
        channel.cancel()
    assert published, "no events reached the RabbitMQ queue"
    assert code not in "".join(published) and "7301004821" not in "".join(published)
    assert "InMemoryTrackerStore" not in running.log("rasa")


def _post_rest(running: RunningStack, headers: dict[str, str]) -> int:
    body = json.dumps({"sender": "prod-attacker", "message": "what's my balance"}).encode()
    request = urllib.request.Request(running.url("rasa", "/webhooks/rest/webhook"), data=body,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_rest_without_the_gateways_token_is_refused_in_production(running: RunningStack) -> None:
    """Whoever names a sender on REST continues that conversation: in production only the
    authenticating gateway may call it."""
    assert _post_rest(running, {}) == 401
    assert _post_rest(running, {"Authorization": "Bearer not-the-gateway-token-at-all"}) == 401
    assert _post_rest(running, {"Authorization": running.env["REST_GATEWAY_TOKEN"]}) == 401
    assert _post_rest(running, {"Authorization": f"Bearer {running.env['REST_GATEWAY_TOKEN']}"}) == 200
