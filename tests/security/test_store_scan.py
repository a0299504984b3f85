"""After the attacks: real customers' conversations, then every store the stack wrote is scanned
for what they typed. Runs last in the session (the hook below moves it there).

Customers verify with a ZIP code, a date of birth and SSN digits, type codes plainly and spaced
out, give an account number in free text, type a card number, a password and a token into the
chat, and report fraud naming their account. Then: the account store (every text column of
every table; the account's own number column is its home), the tracker store (every event of
every conversation), the outbox, and the services' logs must hold none of it in clear.

Not scanned here: the RabbitMQ queue. The embedded stack has no broker; the production profile
(tests/e2e/test_production_profile.py) would mean a second stack with PostgreSQL, Redis and
RabbitMQ for this module. The events published to the broker are the tracker store's redacted
events (rasa_ext/tracker_store.py; test_security_rasa_checks.py checks the broker gets exactly
the stored, redacted events), so the tracker store scan stands for it.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest

from autofinance.demo.seed import bulk_identity
from tests.e2e.conftest import RunningStack
from tests.security.test_attacks_support import bulk, customer_id_of, new_sender, say

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.security.test_store_scan"]  # for the ordering hook below
__all__ = ["bulk"]


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    """This module's tests go last in the session, after every attack file."""
    items.sort(key=lambda item: "test_store_scan.py" in item.nodeid)


PASSWORD = "Tr0ub4dor&3-meridian"
CARD = "4111 1111 1111 1111"
PORTAL_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI5OTkiLCJuYW1lIjoiWCJ9."
                "hY5tF0cqB8dGk2v3c1mP9qQwZxY7sLrN4oJaKbE6uVw")
RESET_TOKEN = "Zq8vX2mN4pL6rT0wY3bH5kJ7dF9gS1aC_e-uIoPqRsT"


def dob(index: int) -> tuple[str, str]:
    """(as typed, ISO) for bulk customer `index` (autofinance.demo.seed.seed_bulk)."""
    year, month, day = 1960 + index % 40, 1 + index % 12, 1 + index % 28
    return f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}"


class Typed:
    """Everything secret the customers typed, with the kind of secret it is."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # value -> kind
        self.last4: dict[str, str] = {}  # SSN last four -> kind: matched only standing alone

    def add(self, kind: str, *values: str) -> None:
        for value in values:
            self.secrets[value] = kind


def code_of(running: RunningStack, email: str) -> str:
    return running.latest_code(email)


@pytest.fixture(scope="module")
def typed(bulk: RunningStack) -> Typed:
    """Four customers' conversations over REST, as people really type."""
    running, typed = bulk, Typed()

    # 1. ZIP, code typed plainly; a card number, a fraud report naming the account number.
    one = {**bulk_identity(971), "email": "bulk000971@example.com"}
    sender = new_sender("scan-zip")
    say(running, sender, "what's my balance")
    say(running, sender, one["account_number"])
    say(running, sender, one["zip_code"])
    say(running, sender, "email")
    code = code_of(running, one["email"])
    assert "verified" in say(running, sender, code).lower()
    say(running, sender, f"can I pay with my card {CARD} exp 12/29")
    say(running, sender, "cancel")
    say(running, sender, f"someone made a payment I didn't make from account {one['account_number']}")
    say(running, sender, f"a charge of $300 on {one['account_number']} paid with card {CARD}")
    say(running, sender, "yesterday")
    typed.add("one-time code", code)
    typed.add("account number", one["account_number"])
    typed.add("card number", CARD, CARD.replace(" ", ""))
    typed.add("ZIP code", one["zip_code"])

    # 2. username, date of birth, code spaced out; then a password and tokens pasted in.
    two = {**bulk_identity(972), "email": "bulk000972@example.com"}
    typed_dob, iso_dob = dob(972)
    sender = new_sender("scan-dob")
    say(running, sender, "what's my payoff")
    say(running, sender, two["username"])
    say(running, sender, f"my date of birth is {typed_dob}")
    say(running, sender, "email")
    code = code_of(running, two["email"])
    spaced = " ".join(code)
    say(running, sender, spaced)
    say(running, sender, f"I can't log in, my password is {PASSWORD}")
    say(running, sender, f"the reset link http://localhost/reset-password?token={RESET_TOKEN} fails")
    say(running, sender, f"my portal token is {PORTAL_TOKEN}")
    typed.add("one-time code", code, spaced)
    typed.add("date of birth", typed_dob, iso_dob)
    typed.add("password", PASSWORD)
    typed.add("token", RESET_TOKEN, PORTAL_TOKEN)

    # 3. account number in free text, the SSN (last four and in full), code with a dash.
    three = {**bulk_identity(973), "email": "bulk000973@example.com"}
    full_ssn = f"123-45-{three['ssn_last4']}"
    sender = new_sender("scan-ssn")
    say(running, sender, "how much do I still owe?")
    say(running, sender, f"my account number is {three['account_number']} thanks")
    say(running, sender, f"last four of my social are {three['ssn_last4']}")
    say(running, sender, "email please")
    code = code_of(running, three["email"])
    say(running, sender, f"{code[:3]}-{code[3:]}")
    say(running, sender, f"my full social is {full_ssn} if you need it")
    typed.add("one-time code", code, f"{code[:3]}-{code[3:]}")
    typed.add("account number", three["account_number"])
    typed.add("full SSN", full_ssn, full_ssn.replace("-", ""))
    # Its last four are also its account's, card's and phone's last four (seed_bulk): they are
    # looked for in James's conversation below, where they are his alone.

    # 4. A demo customer (James: his SSN last four is not his account's last four).
    sender = new_sender("scan-james")
    say(running, sender, "I need my balance")
    say(running, sender, "7301007734")
    say(running, sender, "1177")
    say(running, sender, "text me")
    typed.last4["1177"] = "SSN last 4"
    typed.add("account number", "7301007734")
    james = customer_id_of(running, "7301007734")
    assert james
    return typed


def pattern(value: str) -> str:
    """A number must stand alone: six digits inside a float's digits are not a code."""
    escaped = re.escape(value)
    return (rf"(?<![0-9A-Za-z]){escaped}(?![0-9A-Za-z])" if value[0].isdigit() and value[-1].isdigit()
            else escaped)  # nor inside a hash's hex digits


def findings_in(text: str, where: str, typed: Typed) -> list[str]:
    found = [f"{kind} {value!r} in {where}" for value, kind in typed.secrets.items()
             if re.search(pattern(value), text)]
    for value, kind in typed.last4.items():  # standing alone: not ****1177, -1177 or in a number
        if re.search(rf"(?<![0-9A-Za-z*.-]){value}(?![0-9A-Za-z])", text):
            found.append(f"{kind} {value!r} in {where}")
    return found


def account_store(running: RunningStack) -> Iterator[tuple[str, str]]:
    """(table.column, text) for every text value of every table."""
    path = running.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        tables = [t for (t,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row):
                    if (table, column) == ("accounts", "account_number"):
                        continue  # the account number's own home
                    if value is not None and not isinstance(value, (int, float)):
                        yield f"{table}.{column}", str(value)


def test_the_account_store_holds_nothing_the_customers_typed(running: RunningStack, typed: Typed) -> None:
    found = sorted({f for where, text in account_store(running) if not where.startswith("outbox.")
                    for f in findings_in(text, where, typed)})
    assert found == [], "\n".join(found)


def test_the_outbox_holds_no_code_or_secret_in_clear(running: RunningStack, typed: Typed) -> None:
    found = sorted({f for where, text in account_store(running) if where.startswith("outbox.")
                    for f in findings_in(text, where, typed)})
    assert found == [], "\n".join(found)


def test_the_tracker_store_holds_nothing_the_customers_typed(running: RunningStack, typed: Typed) -> None:
    paths = sorted(Path(running.env["TRACKER_SQLITE_PATH"]).parent.glob("tracker.db*"))
    found: list[str] = []
    with sqlite3.connect(running.env["TRACKER_SQLITE_PATH"]) as connection:
        for sender, data in connection.execute("SELECT sender_id, data FROM events"):
            event = json.loads(data)
            found += findings_in(json.dumps(event, ensure_ascii=False), f"tracker event "
                                 f"{event.get('event')} of {sender}", typed)
    raw = b"".join(path.read_bytes() for path in paths)  # pages and WAL too: deleted rows linger
    found += findings_in(raw.decode("utf-8", "replace"), "the tracker store's files", typed)
    assert sorted(set(found)) == [], "\n".join(sorted(set(found)))


@pytest.mark.parametrize("service", ["rasa", "actions", "web"])
def test_the_service_logs_hold_nothing_the_customers_typed(
        running: RunningStack, typed: Typed, service: str) -> None:
    found = findings_in(running.log(service), f"{service}.log", typed)
    assert found == [], "\n".join(found)
