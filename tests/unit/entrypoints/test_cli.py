"""`python -m autofinance staff ...`: secrets printed once; expected failures one line, exit 1."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from autofinance.entrypoints.cli import main
from autofinance.config import Settings
from autofinance.adapters.sealing import unseal_at_rest
from autofinance.adapters.security import verify_password
from autofinance.adapters.store.db import make_engine, session_factory
from autofinance.adapters.store.models import Base, StaffUser

URI = re.compile(r"^Provisioning URI: (otpauth://totp/Meridian%20Support%20Console:(\S+)"
                 r"\?secret=([A-Z2-7]+)&issuer=Meridian%20Support%20Console)$", re.MULTILINE)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty schema in a SQLite file that the commands find through DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("ASSISTANT_PROFILE", "demo")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def stored(url: str, username: str) -> tuple[str, str, str]:
    """(role, password hash, TOTP secret unsealed) of the account; the stored one is sealed."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
            assert row.totp_secret.startswith("sealed:")
            return row.role, row.password_hash, unseal_at_rest(row.totp_secret, Settings().secret_pepper)
    finally:
        engine.dispose()


def test_create_prints_the_password_secret_uri_and_a_qr_code_once(
        database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["staff", "create", "Jane.Doe", "--name", "Jane Doe", "--role", "supervisor"])

    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    found = URI.search(out)
    assert found is not None and found.group(2) == "jane.doe"
    password = re.search(r"^Password \(shown once\): (\S+)$", out, re.MULTILINE)
    assert password is not None and out.count(password.group(1)) == 1
    assert f"TOTP secret: {found.group(3)}" in out
    assert "█" in out or "▀" in out  # the QR code, drawn in the terminal
    role, password_hash, secret = stored(database, "jane.doe")
    assert role == "supervisor" and secret == found.group(3)
    assert verify_password(password.group(1), password_hash)
    assert pyotp.TOTP(secret).provisioning_uri(
        name="jane.doe", issuer_name="Meridian Support Console") == found.group(1)


def test_a_duplicate_username_is_one_line_on_stderr_and_exit_1(
        database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staff", "create", "jane.doe", "--name", "Jane Doe"]) == 0
    capsys.readouterr()

    code = main(["staff", "create", "JANE.DOE", "--name", "Another Jane"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == "error: A staff account with that username already exists.\n"


def test_a_password_from_stdin_is_used_and_not_printed(
        database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-chosen-pass\n"))
    assert main(["staff", "create", "sam", "--name", "Sam", "--password-from-stdin"]) == 0

    out, _ = capsys.readouterr()
    assert "a-long-chosen-pass" not in out and "Password" not in out and URI.search(out)
    role, password_hash, _ = stored(database, "sam")
    assert role == "agent" and verify_password("a-long-chosen-pass", password_hash)

    monkeypatch.setattr("sys.stdin", io.StringIO("too-short\n"))
    assert main(["staff", "reset-password", "sam", "--password-from-stdin"]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "12 to 128 characters" in err


def test_resets_print_the_new_secrets_and_refuse_an_unknown_username(
        database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staff", "create", "sam", "--name", "Sam"]) == 0
    first = URI.search(capsys.readouterr().out)

    assert main(["staff", "reset-totp", "sam"]) == 0
    second = URI.search(capsys.readouterr().out)
    assert first is not None and second is not None and first.group(3) != second.group(3)
    assert stored(database, "sam")[2] == second.group(3)

    assert main(["staff", "reset-password", "sam"]) == 0
    password = re.search(r"^Password \(shown once\): (\S+)$", capsys.readouterr().out, re.MULTILINE)
    assert password is not None and verify_password(password.group(1), stored(database, "sam")[1])

    for command in ("reset-totp", "reset-password"):
        assert main(["staff", command, "nobody"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err == "error: There is no staff account with that username.\n"


def test_deliver_outbox_sends_texts_through_twilio_and_refuses_the_demo(
        database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from autofinance.adapters import notify  # noqa: PLC0415
    from autofinance.adapters.store.db import UnitOfWork  # noqa: PLC0415
    from tests.e2e.platform_fakes import FakeTwilio  # noqa: PLC0415

    assert main(["deliver-outbox"]) == 1  # the demo: the outbox is the end of the line
    assert "no real sender configured" in capsys.readouterr().err
    engine = make_engine(database)
    with UnitOfWork(session_factory(engine)) as uow:
        notify.queue_message(uow.session, to="+14045550101", channel="sms", kind="payment_notice",
                             body="We received $25.00.")
        uow.commit()
    engine.dispose()
    twilio = FakeTwilio("AC1", "twilio-token").start()
    try:
        for name, value in {"NOTIFIER": "smtp", "SMTP_HOST": "127.0.0.1", "TWILIO_ACCOUNT_SID": "AC1",
                            "TWILIO_AUTH_TOKEN": "twilio-token", "TWILIO_NUMBER": "+15005550006",
                            "TWILIO_API_BASE_URL": twilio.url}.items():
            monkeypatch.setenv(name, value)
        assert main(["deliver-outbox"]) == 0
        assert "Delivered 1 message(s)" in capsys.readouterr().out
        assert twilio.bodies_to("+14045550101") == ["We received $25.00."]
    finally:
        twilio.stop()


def test_statement_notices_email_paperless_customers_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime  # noqa: PLC0415
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from autofinance.demo.seed import seed_demo  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'notices.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        seed_demo(session, datetime.now(ZoneInfo(Settings().lender_timezone)).date(), Settings())
        session.commit()
    engine.dispose()
    monkeypatch.setenv("ASSISTANT_PROFILE", "demo")
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["statement-notices"]) == 0
    assert "Queued 1 statement notice(s)" in capsys.readouterr().out  # James is the paperless one
    assert main(["statement-notices"]) == 0
    assert "Queued 0 statement notice(s)" in capsys.readouterr().out


def test_reminders_once_sends_what_is_due_then_nothing_and_leaves_the_lease_free(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime  # noqa: PLC0415
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from autofinance.adapters.store.models import JobLease  # noqa: PLC0415
    from autofinance.demo.seed import seed_demo  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'reminders.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        seed_demo(session, datetime.now(ZoneInfo(Settings().lender_timezone)).date(), Settings())
        session.commit()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REMINDER_TEXT_HOURS", "00:00-24:00")
    monkeypatch.setenv("REMINDERS", "payment_returned")  # Priya's, from two days ago

    assert main(["reminders"]) == 0
    assert "Reminders: 1 sent" in capsys.readouterr().out
    assert main(["reminders"]) == 0
    assert "Reminders: 0 sent, 1 already" in capsys.readouterr().out
    with session_factory(engine)() as session:
        lease = session.scalars(select(JobLease)).one()
        assert lease.expires_at.year == 1970  # released at the end of the run
    engine.dispose()
