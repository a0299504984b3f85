"""Attacks on verification found in review, replayed against the identity service and actions
over a seeded store: guessing factors across conversations and client addresses, reading a
lock as a confirmation, unlimited codes, and secrets left readable in a copy of the store."""
from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, text

from actions import runtime
from actions.identity import ValidateIdentityForm
from autofinance.adapters.notify import DELIVERED_MARKER, deliver_pending, readable_body
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.db import make_engine, session_factory
from autofinance.adapters.store.models import Base, OutboxMessage
from autofinance.bootstrap import Container
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.services import contact, documents, identity
from autofinance.services.errors import (
    CodeSendLimitReached, IdentificationFailed, ServiceError, VerificationLocked,
)
from autofinance.services.outbox import newest_messages
from tests.actions.conftest import domain, make_tracker

MARIA, MARIA_SSN, MARIA_ZIP, MARIA_DOB = "7301004821", "4821", "30309", "1985-03-14"
UNKNOWN = "7309999999"
SETTINGS = Settings()
PEPPER = SETTINGS.secret_pepper


@pytest.fixture(scope="module")
def _seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verification-attacks") / "seeded.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        seed_demo(session, date(2026, 11, 24), SETTINGS)
        session.commit()
    engine.dispose()
    return path


@pytest.fixture
def store(tmp_path: Path, _seeded: Path) -> Iterator[Container]:
    path = tmp_path / "store.db"
    shutil.copyfile(_seeded, path)
    settings = Settings(database_url=f"sqlite:///{path}")
    container = Container(settings, make_engine(settings.database_url))
    runtime.set_container(container)
    yield container
    runtime.set_container(None)
    container.close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def attempt(store: Container, clock: Clock, conversation: str, identifier: str, factor: str,
            client_key: Optional[str] = None) -> tuple[str, str]:
    """One identification; the answer as the customer sees it: (outcome, message)."""
    try:
        identity.identify(conversation, identifier, factor, PEPPER, store.uow(), now=clock.now,
                          client_key=client_key)
    except ServiceError as error:
        return type(error).__name__, error.message
    return "identified", ""


def latest_code(store: Container) -> str:
    [message] = newest_messages(store.uow(), PEPPER, 1, kind="otp")
    return re.search(r"\b(\d{6})\b", message.body).group(1)


# --- 1. guessing a factor across conversations and client addresses ---------------------------


def test_guessing_the_ssn_across_many_conversations_never_finds_it_after_five_wrong_guesses(
        store: Container, clock: Clock) -> None:
    """The review found the SSN on guess 31 in the 7th conversation, after 69 requests."""
    guesses = [f"{n:04d}" for n in range(1000, 1030)] + [MARIA_SSN]  # the right one is guess 31
    answers = []
    for n, guess in enumerate(guesses):
        answers.append(attempt(store, clock, f"attacker-{n // 4}", MARIA, guess)[0])
        clock.advance(seconds=5)
    assert "identified" not in answers
    assert answers[-1] == "IdentificationFailed"  # the right SSN, refused like a wrong one


def test_five_wrong_factors_lock_the_customer_on_every_conversation_and_channel(
        store: Container, clock: Clock) -> None:
    for n in range(5):
        attempt(store, clock, f"web-{n}", MARIA, f"{10000 + n}")
    for conversation, factor in (("sms-+14045550100", MARIA_ZIP), ("telegram-1", MARIA_DOB)):
        assert attempt(store, clock, conversation, MARIA, factor)[0] == "IdentificationFailed"
    clock.advance(minutes=15)
    assert attempt(store, clock, "web-later", MARIA, MARIA_ZIP)[0] == "identified"


def test_one_client_address_is_blocked_after_ten_failures_whatever_the_accounts(
        store: Container, clock: Clock) -> None:
    targets = [MARIA, "7301007734", "7301005530", "7301009912", UNKNOWN]
    answers = [attempt(store, clock, f"bot-{n}", targets[n % 5], "0000", client_key="client-A")[0]
               for n in range(10)]  # two per account: no account or conversation reaches its limit
    assert answers == ["IdentificationFailed"] * 9 + ["VerificationLocked"]
    blocked = attempt(store, clock, "bot-10", "7301007734", "94107", client_key="client-A")
    assert blocked == ("VerificationLocked", VerificationLocked.message)  # even right details
    assert attempt(store, clock, "someone-else", "7301007734", "94107",
                   client_key="client-B")[0] == "identified"
    clock.advance(minutes=15)
    assert attempt(store, clock, "bot-11", "7301007734", "94107",
                   client_key="client-A")[0] == "identified"


async def test_the_identity_form_passes_the_channels_client_key_to_the_service(
        store: Container) -> None:
    """The action server cannot see addresses: the channel's `client_key` metadata counts."""
    async def answer(sender: str, factor: str) -> str:
        tracker = make_tracker(sender, {"requested_slot": "identity_factor", "identity_factor": factor,
                                        "identifier": seal(MARIA, PEPPER)},
                               intent="inform", text=factor, active_loop="identity_form")
        tracker.latest_message["metadata"] = {"client_key": "hashed-address-1"}
        tracker.events.append({"event": "slot", "name": "identity_factor", "value": factor})
        dispatcher = CollectingDispatcher()
        await ValidateIdentityForm().run(dispatcher, tracker, domain())
        return " ".join(m.get("text") or "" for m in dispatcher.messages)

    for n in range(10):  # ten conversations, one wrong ZIP each, from one address
        await answer(f"widget-{n}", f"{20000 + n}")
    assert VerificationLocked.message in await answer("widget-10", "1985-03-14")


def test_one_guess_every_few_minutes_no_longer_keeps_an_account_locked(
        store: Container, clock: Clock) -> None:
    """The review kept Maria locked for good with one guess every 15 minutes; each retry of
    hers with the right ZIP extended it too."""
    for n in range(5):
        attempt(store, clock, f"attacker-{n}", MARIA, f"{10000 + n}")
    for n in range(14):  # a wrong guess and Maria's own retry every minute of the block
        clock.advance(minutes=1)
        assert attempt(store, clock, f"keep-locked-{n}", MARIA, "0000")[0] == "IdentificationFailed"
        assert attempt(store, clock, f"maria-{n}", MARIA, MARIA_ZIP)[0] == "IdentificationFailed"
    clock.advance(minutes=1)
    assert attempt(store, clock, "maria-later", MARIA, MARIA_ZIP)[0] == "identified"


def test_guesses_around_a_quarter_hour_get_no_more_than_five_checked_in_fifteen_minutes(
        store: Container, clock: Clock) -> None:
    """The review: 1 wrong ZIP, 3 more at 14:59, 4 at 15:01, then the right one went through."""
    attempt(store, clock, "edge-0", MARIA, "10000")
    clock.advance(minutes=14, seconds=59)
    for n in range(3):
        attempt(store, clock, f"edge-a{n}", MARIA, f"{10001 + n}")
    clock.advance(seconds=2)
    for n in range(4):
        attempt(store, clock, f"edge-b{n}", MARIA, f"{10004 + n}")
    assert attempt(store, clock, "edge-right", MARIA, MARIA_ZIP)[0] == "IdentificationFailed"


# --- 2. a lock must confirm nothing ---------------------------------------------------------


def test_a_locked_customer_gets_the_same_answer_for_a_right_or_wrong_factor(
        store: Container, clock: Clock) -> None:
    for n in range(5):
        attempt(store, clock, f"lock-{n}", MARIA, f"{9000 + n}")
    answers = {attempt(store, clock, f"probe-{kind}", MARIA, factor)
               for kind, factor in (("wrong", "0000"), ("ssn", MARIA_SSN), ("zip", MARIA_ZIP),
                                    ("dob", MARIA_DOB))}
    answers.add(attempt(store, clock, "probe-unknown", UNKNOWN, MARIA_ZIP))
    assert answers == {("IdentificationFailed", IdentificationFailed.message)}


def test_the_answers_never_tell_an_existing_account_from_an_unknown_one(
        store: Container, clock: Clock) -> None:
    """The same script against Maria's account (right factor included) and a made-up one."""
    def script(identifier: str, factor_when_right: str) -> list[tuple[str, str]]:
        answers = []
        for n in range(7):  # five wrong in one conversation (its lock shows), then elsewhere
            answers.append(attempt(store, clock, f"s-{identifier}-a", identifier, f"{10000 + n}"))
        for n in range(3):  # the right factor, from new conversations, while the account is locked
            answers.append(attempt(store, clock, f"s-{identifier}-b{n}", identifier, factor_when_right))
        return answers

    assert script(MARIA, MARIA_ZIP) == script(UNKNOWN, MARIA_ZIP)


def test_a_customer_locked_by_wrong_codes_answers_like_a_wrong_factor(
        store: Container, clock: Clock) -> None:
    identity.identify("c1", MARIA, MARIA_ZIP, PEPPER, store.uow(), now=clock.now)
    identity.send_code("c1", "email", PEPPER, store.uow(), now=clock.now)
    wrong = f"{(int(latest_code(store)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(ServiceError):
            identity.verify_code("c1", wrong, PEPPER, store.uow(), now=clock.now)
    right = attempt(store, clock, "c2", MARIA, MARIA_ZIP)
    assert right == attempt(store, clock, "c3", MARIA, "11111") == attempt(store, clock, "c4", UNKNOWN, "11111")


# --- 3. codes without limit -------------------------------------------------------------------


def test_identifying_again_and_again_never_sends_more_than_three_codes_in_a_conversation(
        store: Container, clock: Clock) -> None:
    """The review got six codes in one conversation by identifying twice."""
    refused = []
    for _ in range(3):
        identity.identify("c1", MARIA, MARIA_ZIP, PEPPER, store.uow(), now=clock.now)
        for _ in range(2):
            try:
                identity.send_code("c1", "sms", PEPPER, store.uow(), now=clock.now)
            except CodeSendLimitReached as error:
                refused.append(error.message)
    assert len(newest_messages(store.uow(), PEPPER, kind="otp")) == 3
    assert len(refused) == 3 and "agent" in refused[0]


def test_a_customer_gets_at_most_five_codes_an_hour_over_every_conversation(
        store: Container, clock: Clock) -> None:
    for n in range(8):
        identity.identify(f"c{n}", MARIA, MARIA_ZIP, PEPPER, store.uow(), now=clock.now)
        try:
            identity.send_code(f"c{n}", "email", PEPPER, store.uow(), now=clock.now)
        except CodeSendLimitReached:
            pass
        clock.advance(minutes=5)
    assert len(newest_messages(store.uow(), PEPPER, kind="otp")) == 5


# --- 5. secrets at rest -----------------------------------------------------------------------


def _raw_store_text(store: Container) -> str:
    """Everything a copy of the database file would show, as text."""
    with store.engine.connect() as connection:
        tables = [row[0] for row in connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))]
        return "\n".join(" ".join(str(value) for value in row)
                         for table in tables
                         for row in connection.execute(text(f'SELECT * FROM "{table}"')))


def test_a_copy_of_the_store_holds_no_code_link_zip_or_date_of_birth_in_clear(
        store: Container, clock: Clock) -> None:
    identity.identify("c1", MARIA, MARIA_ZIP, PEPPER, store.uow(), now=clock.now)
    identity.send_code("c1", "email", PEPPER, store.uow(), now=clock.now)
    code = latest_code(store)
    with store.uow() as uow:
        maria = uow.session.scalar(text("SELECT customer_id FROM accounts WHERE account_number = :n"),
                                   {"n": MARIA})
    contact.request_contact_change(maria, "address", "12 Oak St, Decatur, GA 30030", store.uow(),
                                   PEPPER, now=clock.now)
    documents.send_document_link(maria, "contract", store.uow(), SETTINGS.public_base_url, PEPPER,
                                 SETTINGS.lender_timezone, now=clock.now)

    raw = _raw_store_text(store)
    # (Maria's SSN last four are also the end of her account number, so they cannot be scanned for)
    for secret in (code, "sig=", "/documents/", MARIA_ZIP, "30030", MARIA_DOB):
        assert secret not in raw, secret
    bodies = " ".join(m.body for m in newest_messages(store.uow(), PEPPER))
    assert code in bodies and "/documents/contract" in bodies  # the dev outbox still shows them


def test_a_delivered_code_leaves_nothing_behind_in_the_outbox(store: Container, clock: Clock) -> None:
    identity.identify("c1", MARIA, MARIA_ZIP, PEPPER, store.uow(), now=clock.now)
    identity.send_code("c1", "email", PEPPER, store.uow(), now=clock.now)
    code = latest_code(store)
    delivered: list[str] = []

    class Relay:
        def deliver(self, message: Any) -> None:
            delivered.append(readable_body(message, PEPPER) or "")

    assert deliver_pending(store.uow(), Relay()) == 1
    assert code in delivered[0]
    with store.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.body)) == DELIVERED_MARKER
