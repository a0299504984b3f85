"""Helpers shared by the test_attacks_*.py files and test_store_scan.py (no tests here).

They read the shared running stack's stores directly (SQLite files: the account store at
DATABASE_URL, the tracker store at TRACKER_SQLITE_PATH) so that every attack can assert what
it did NOT do: no account data in any answer, and no row of money, identity or access changed.
"""
from __future__ import annotations

import itertools
import json
import re
import sqlite3
import subprocess
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterable, Optional

import pytest

from autofinance.demo.seed import bulk_identity
from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT
from tests.e2e.conftest import RunningStack

_ids = itertools.count()

# What an unverified caller must never see: names, balances, amounts and masked numbers of the
# demo customers (../shared/docs/demo-customers.md).
DEMO_SECRETS = [
    "Maria", "Lopez", "James", "Chen", "Dana", "Whitfield", "Robert", "Okafor",
    "18,420.55", "18420.55", "21,350", "389.00", "9,870.10", "812.40", "3,215.77", "452.18",
    "406.20", "298.50", "5.49%", "8.90%", "3.90%", "RAV4", "Accord", "F-150", "CX-5",
    "****4821", "****7734", "****5530", "****9912", "****6789", "****1111", "****2244",
    "****3030", "****7412", "maria.lopez@", "james.chen@", "dana.whitfield@", "robert.okafor@",
]
MONEY = re.compile(r"\$\s?\d")

# Rows whose change would mean money moved, identity changed or access was granted.
PROTECTED_TABLES = ["payments", "autopay_enrolments", "contact_changes", "funding_sources",
                    "hardship_cases", "accounts", "online_credentials", "password_reset_tokens"]
BULK_COUNT = 1000  # my attacks use bulk customers 950..999: no other test touches them


def new_sender(kind: str) -> str:
    return f"atk-{kind}-{next(_ids)}-{uuid.uuid4().hex[:8]}"


def account_db(running: RunningStack) -> str:
    return running.env["DATABASE_URL"].removeprefix("sqlite:///")


def rows(running: RunningStack, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(account_db(running)) as connection:
        return connection.execute(sql, tuple(params)).fetchall()


def snapshot(running: RunningStack, tables: Iterable[str] = PROTECTED_TABLES) -> dict[str, list[Any]]:
    """Every row of the tables where a successful attack would leave a trace."""
    return {table: rows(running, f"SELECT * FROM {table} ORDER BY id") for table in tables}


def customer_rows(running: RunningStack) -> list[tuple[Any, ...]]:
    """The customers' identity (contact details, factors), without the lock column; whatever
    columns the schema has (hashed or clear factors)."""
    columns = [c[1] for c in rows(running, "PRAGMA table_info(customers)")
               if c[1] not in ("verification_locked_until",)]
    return rows(running, f"SELECT {', '.join(columns)} FROM customers ORDER BY id")


def verified_sessions(running: RunningStack, conversation: str) -> list[tuple[Any, ...]]:
    return rows(running, "SELECT customer_id, level, method FROM verified_sessions "
                         "WHERE conversation_id = ?", (conversation,))


def outbox_count(running: RunningStack) -> int:
    return rows(running, "SELECT count(*) FROM outbox")[0][0]


def tracker_events(running: RunningStack, sender: str) -> list[dict[str, Any]]:
    with sqlite3.connect(running.env["TRACKER_SQLITE_PATH"]) as connection:
        found = connection.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id",
                                   (sender,)).fetchall()
    return [json.loads(data) for (data,) in found]


def slot_values(events: list[dict[str, Any]], name: str) -> list[Any]:
    return [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == name]


def assert_nothing_disclosed(text: str, *also: str) -> None:
    """No demo customer's name, money or masked number; no dollar amount at all."""
    leaked = [secret for secret in [*DEMO_SECRETS, *also] if secret and secret in text]
    assert not leaked, f"disclosed {leaked}: {text[:500]}"
    assert not MONEY.search(text), f"an amount was disclosed: {text[:500]}"


def say(running: RunningStack, sender: str, text: str, **extra: Any) -> str:
    """One REST message; the assistant's texts joined (button titles included)."""
    body = json.dumps({"sender": sender, "message": text, **extra}).encode()
    request = urllib.request.Request(running.url("rasa", "/webhooks/rest/webhook"), data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        text_ = error.read().decode(errors="replace")
        error.close()
        return f"HTTP {error.code} {text_}"
    parts = []
    for message in answer:
        parts.append(message.get("text") or "")
        parts.extend(button.get("title", "") for button in message.get("buttons") or [])
    return " ".join(parts)


def http(running: RunningStack, service: str, path: str, method: str = "GET",
         body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None,
         timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Any request, no redirect followed; returns status, headers and the raw body."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(running.url(service, path), data=body, method=method,
                                     headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        raw = error.read()
        error.close()
        return error.code, dict(error.headers), raw


def customer_id_of(running: RunningStack, account_number: str) -> int:
    return rows(running, "SELECT customer_id FROM accounts WHERE account_number = ?",
                (account_number,))[0][0]


@pytest.fixture(scope="session")
def bulk(embedded_stack: RunningStack) -> RunningStack:  # noqa: F811 - the shared stack
    """Adds the synthetic customers (idempotent) so attacks that cost wrong guesses never lock a
    demo customer other tests rely on."""
    subprocess.run([str(APP_PYTHON), "-m", "autofinance", "seed", "--bulk", str(BULK_COUNT)],
                   cwd=PROJECT_ROOT, env=embedded_stack.env, check=True, capture_output=True)
    return embedded_stack


def bulk_customer(index: int) -> dict[str, str]:
    """A bulk customer's identifying details plus where its codes go."""
    assert 950 <= index < BULK_COUNT, "indexes 950..999 are this suite's own"
    return {**bulk_identity(index), "email": f"bulk{index:06d}@example.com"}


def verify_over_rest(running: RunningStack, sender: str, identifier: str, factor: str,
                     email: str, ask: str = "what's my balance") -> tuple[str, str]:
    """A customer verifying by code over REST; returns (the code used, the last answer)."""
    say(running, sender, ask)
    say(running, sender, identifier)
    offered = say(running, sender, factor)
    assert "email" in offered.lower(), offered
    say(running, sender, "email")
    code = running.latest_code(email)
    return code, say(running, sender, code)
