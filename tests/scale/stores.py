"""What the shared stores hold, read the way an auditor would: straight from PostgreSQL and Redis."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Optional

import pika
import psycopg
import redis

from autofinance.adapters.sealing import unseal_at_rest
from autofinance.config import Secret
from tests.scale.cluster import REDIS_DB, RunStores

CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class StoredTurn:
    """A user event of the tracker and the bot messages stored after it, before the next one."""

    user_text: str
    bot_texts: list[str] = field(default_factory=list)


def stored_turns(stores: RunStores, conversation_id: str) -> list[StoredTurn]:
    """The conversation as the PostgreSQL tracker store has it, in the order it was stored."""
    with psycopg.connect(stores.tracker_url) as conn:
        rows = conn.execute("SELECT type_name, data FROM events WHERE sender_id = %s ORDER BY id",
                            (conversation_id,)).fetchall()
    turns: list[StoredTurn] = []
    for type_name, data in rows:
        if type_name == "user":
            turns.append(StoredTurn(json.loads(data).get("text") or ""))
        elif type_name == "bot" and turns:
            turns[-1].bot_texts.append(json.loads(data).get("text") or "")
    return turns


def published_user_messages(stores: RunStores, conversation_id: str) -> int:
    """How many of the conversation's user messages reached the RabbitMQ queue (consumes it)."""
    count = 0
    with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1")) as broker:
        channel = broker.channel()
        for _method, _properties, body in channel.consume(stores.queue, auto_ack=True,
                                                          inactivity_timeout=2):
            if body is None:
                break
            event = json.loads(body)
            if event.get("sender_id") == conversation_id and event.get("event") == "user":
                count += 1
        channel.cancel()
    return count


def latest_code(stores: RunStores, email: str) -> str:
    """The newest one-time code sent to `email` (the customer reads it in their inbox; the
    outbox keeps it sealed with the run's pepper)."""
    with psycopg.connect(stores.accounts_url) as conn:
        row = conn.execute('SELECT body FROM outbox WHERE "to" = %s ORDER BY id DESC LIMIT 1',
                           (email,)).fetchone()
    body = unseal_at_rest(row[0], Secret(stores.pepper)) if row else None
    match = CODE.search(body) if body else None
    assert match, f"no one-time code for {email} in the outbox"
    return match.group(1)


def chat_payments(stores: RunStores, account_number: str) -> list[str]:
    """Confirmation numbers of the payments made in chat on an account, oldest first."""
    with psycopg.connect(stores.accounts_url) as conn:
        rows = conn.execute(
            "SELECT p.confirmation_number FROM payments p JOIN accounts a ON a.id = p.account_id "
            "WHERE a.account_number = %s AND p.origin = 'chat' ORDER BY p.id", (account_number,)
        ).fetchall()
    return [row[0] for row in rows]


def hold_conversation_lock(stores: RunStores, conversation_id: str, seconds: float) -> float:
    """Puts a ticket in the conversation's Redis lock, as a replica busy with a turn (or one
    that died in the middle of it) leaves there; returns when it expires.

    The value is Rasa 3.6's own (rasa.core.lock.TicketLock.dumps): ticket 0, expiring then.
    """
    expires = time.time() + seconds
    ticket = json.dumps({"number": 0, "expires": expires})
    lock = json.dumps({"conversation_id": conversation_id, "tickets": [ticket]})
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).set(stores.lock_key(conversation_id), lock)
    return expires


def lock_tickets(stores: RunStores, conversation_id: str) -> Optional[list[int]]:
    """Numbers of the tickets now in the conversation's lock; None when there is no lock."""
    raw = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).get(stores.lock_key(conversation_id))
    if raw is None:
        return None
    return [json.loads(ticket)["number"] for ticket in json.loads(raw)["tickets"]]
