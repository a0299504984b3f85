"""Operator commands: `python -m autofinance migrate | seed [--bulk N] | check-db | deliver-outbox
| statement-notices | reminders | staff create|reset-totp|reset-password USERNAME`.

DATABASE_URL (via Settings.from_env) decides the database. Expected failures (bad settings, an
unreachable database, a schema that is not migrated) end with one line on stderr and exit code
1, not a traceback.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from datetime import datetime
from typing import Callable, Optional, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from alembic.util import CommandError as AlembicError
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from autofinance.adapters import notify
from autofinance.bootstrap import bootstrap
from autofinance.entrypoints import reminder_scheduler
from autofinance.config import Settings
from autofinance.demo.seed import seed_bulk, seed_demo
from autofinance.services import paperless, staff
from autofinance.services.errors import ServiceError
from autofinance.adapters.store.migrate import current_revision, head_revision, upgrade_to_head
from autofinance.adapters.store.models import Customer

logger = logging.getLogger(__name__)


class CommandError(Exception):
    """An expected failure, reported as one line without a traceback."""


def _where(settings: Settings) -> str:
    """The database URL without its password, safe to print."""
    return make_url(settings.database_url).render_as_string(hide_password=True)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    upgrade_to_head(settings.database_url)
    print(f"Schema at revision {current_revision(settings.database_url)} ({_where(settings)})")


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    cmd_migrate(settings, args)
    today = datetime.now(ZoneInfo(settings.lender_timezone)).date()
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            added = seed_demo(uow.session, today, settings, activity=True)
            uow.commit()
        print(f"Demo data for {today.isoformat()}: {added} customers added")
        if args.bulk:
            with container.uow() as uow:
                created = seed_bulk(uow.session, args.bulk, settings, today=today)
                uow.commit()
            print(f"Bulk data: {created} customers added")
    finally:
        container.close()


def cmd_check_db(settings: Settings, args: argparse.Namespace) -> None:
    revision, head = current_revision(settings.database_url), head_revision()
    if revision is None:
        raise CommandError(f"{_where(settings)} is not migrated; run the migrate command")
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            customers = uow.session.scalar(select(func.count()).select_from(Customer))
    finally:
        container.close()
    print(f"Database: {_where(settings)}")
    print(f"Revision: {revision} (head {head})")
    print(f"Customers: {customers}")
    if revision != head:
        raise CommandError(f"schema is at revision {revision}, this code expects {head}")


def cmd_deliver_outbox(settings: Settings, args: argparse.Namespace) -> None:
    """Hands unsent emails and texts to the real senders: once, or every `--every` seconds as
    the delivery worker (until stopped)."""
    senders = notify.senders_for(settings)
    if not senders:
        raise CommandError(f"no real sender configured (NOTIFIER={settings.notifier}); "
                           "in the demo the outbox is the end of the line: see /dev/outbox")
    if "sms" not in senders:
        print("Texts stay in the outbox: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_NUMBER "
              "to send them")
    container = bootstrap(settings)
    try:
        while True:
            delivered = notify.deliver_pending(container.uow(), senders)
            if not args.every:
                print(f"Delivered {delivered} message(s)")
                return
            if delivered:
                logger.info("delivered %d message(s)", delivered)
            time.sleep(args.every)
    finally:
        container.close()


def cmd_statement_notices(settings: Settings, args: argparse.Namespace) -> None:
    """Emails paperless customers that their newest statement is ready (each statement once);
    run it daily. Paper customers get the letter instead."""
    container = bootstrap(settings)
    try:
        today = datetime.now(ZoneInfo(settings.lender_timezone)).date()
        queued = paperless.statement_ready_notices(container.uow(), today, settings.public_base_url,
                                                   settings.secret_pepper)
        print(f"Queued {queued} statement notice(s)")
    finally:
        container.close()


def cmd_reminders(settings: Settings, args: argparse.Namespace) -> None:
    """Sends the reminders and alerts that are due: once, or every `--every` seconds as the
    scheduler (until stopped). Several schedulers may run: one lease in the store lets one at a
    time work, and each reminder is recorded with its message, so none goes twice."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a clean stop lets go of the lease
    container = bootstrap(settings)
    scheduler = reminder_scheduler.Scheduler(container.uow, settings)
    try:
        while True:
            try:
                report = scheduler.run_once()
            except SQLAlchemyError as error:
                if not args.every:
                    raise
                logger.error("reminders: the store failed (%s); trying again in %s s",
                             _one_line(error), args.every)
            else:
                if not args.every or (report is not None and report.sent):
                    print("Reminders: " + ("another scheduler holds the lease" if report is None else
                                           ", ".join(f"{n} {what}" for what, n in report.counts.items())),
                          flush=True)
                if not args.every:
                    return
            time.sleep(args.every)
    finally:
        scheduler.stop()
        container.close()


def cmd_staff(settings: Settings, args: argparse.Namespace) -> None:
    """Support console accounts. Secrets are printed here once and kept nowhere readable."""
    password = _password_from_stdin() if getattr(args, "password_from_stdin", False) else None
    container = bootstrap(settings)
    try:
        if args.staff_command == "create":
            created = staff.create_staff(args.username, args.name, args.role, container.uow(),
                                         pepper=settings.secret_pepper, password=password)
            print(f"Created {args.role} {created.username} ({args.name.strip()})")
            if password is None:
                print(f"Password (shown once): {created.password}")
            _print_totp(created.totp_secret, created.provisioning_uri)
        elif args.staff_command == "reset-totp":
            reset = staff.reset_totp(args.username, container.uow(), pepper=settings.secret_pepper)
            print(f"New TOTP secret for {reset.username}; their console sessions have ended")
            _print_totp(reset.totp_secret, reset.provisioning_uri)
        else:
            new_password = staff.reset_password(args.username, container.uow(), password=password)
            print(f"New password for {args.username.strip().lower()}; "
                  "lockout lifted, console sessions ended")
            if password is None:
                print(f"Password (shown once): {new_password}")
    except ServiceError as refused:  # duplicate or unknown username, short password, bad role
        raise CommandError(refused.message) from None
    finally:
        container.close()


def _password_from_stdin() -> str:
    """The first line of standard input, so a password never appears in argv or shell history."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-from-stdin: standard input had no password")
    return password


def _print_totp(secret: str, uri: str) -> None:
    print(f"TOTP secret: {secret}")
    print(f"Provisioning URI: {uri}")
    print("Scan with an authenticator app:")
    # make_qr: always a full QR code, as authenticator apps can't read Micro QR
    segno.make_qr(uri).terminal(out=sys.stdout, compact=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autofinance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the schema to the newest revision")
    seed = commands.add_parser("seed", help="migrate, then load the demo customers")
    seed.add_argument(
        "--bulk", type=_positive_int, metavar="N", help="also add N generated customers"
    )
    commands.add_parser("check-db", help="print the schema revision and the customer count")
    commands.add_parser("statement-notices",
                        help="email paperless customers that their newest statement is ready (daily)")
    deliver = commands.add_parser("deliver-outbox",
                                  help="send unsent outbox emails and texts with the configured senders")
    deliver.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                         help="keep delivering, every SECONDS (the delivery worker)")
    scheduler = commands.add_parser("reminders", help="send the reminders and alerts that are due")
    scheduler.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                           help="keep going, every SECONDS (the scheduler; make run starts it)")
    _add_staff_parser(commands)
    return parser


def _add_staff_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff_parser = commands.add_parser("staff", help="support console accounts")
    actions = staff_parser.add_subparsers(dest="staff_command", required=True)
    create = actions.add_parser(
        "create", help="add an account; prints its password (unless given), TOTP secret, QR code")
    create.add_argument("username")
    create.add_argument("--name", required=True, help="the full name the console shows")
    create.add_argument("--role", choices=staff.ROLES, default="agent")
    create.add_argument("--password-from-stdin", action="store_true",
                        help="read the password from the first line of stdin, not generate one")
    reset_totp = actions.add_parser(
        "reset-totp", help="new TOTP secret and QR code (a lost phone); ends its sessions")
    reset_totp.add_argument("username")
    reset_password = actions.add_parser(
        "reset-password", help="new password (printed unless given); unlocks, ends sessions")
    reset_password.add_argument("username")
    reset_password.add_argument("--password-from-stdin", action="store_true",
                                help="read the password from the first line of stdin instead")


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "check-db": cmd_check_db,
    "statement-notices": cmd_statement_notices,
    "deliver-outbox": cmd_deliver_outbox,
    "reminders": cmd_reminders,
    "staff": cmd_staff,
}


def _one_line(exc: BaseException) -> str:
    """A driver error's first line (psycopg adds hints on further lines)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        ZoneInfo(settings.lender_timezone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        return _fail(f"settings: {_one_line(exc)}")
    try:
        COMMANDS[args.command](settings, args)
    except (CommandError, AlembicError) as exc:  # e.g. a database newer than this code
        return _fail(_one_line(exc))
    except ArgumentError as exc:
        return _fail(f"DATABASE_URL: {_one_line(exc)}")
    except SQLAlchemyError as exc:  # unreachable database, missing table, refused write
        return _fail(f"database: {_one_line(exc)}")
    return 0
