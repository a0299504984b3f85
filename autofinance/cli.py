"""Operator commands: `python -m autofinance migrate | seed [--bulk N] | check-db | deliver-outbox`.

DATABASE_URL (via Settings.from_env) decides the database. Expected failures (bad settings, an
unreachable database, a schema that is not migrated) end with one line on stderr and exit code
1, not a traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from typing import Callable, Optional, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alembic.util import CommandError as AlembicError
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from autofinance import notify
from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.seed import seed_bulk, seed_demo
from autofinance.store.migrate import current_revision, head_revision, upgrade_to_head
from autofinance.store.models import Customer

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
            added = seed_demo(uow.session, today, settings)
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
    sender = notify.sender_for(settings)
    if sender is None:
        raise CommandError(f"no real sender configured (NOTIFIER={settings.notifier}); "
                           "in the demo the outbox is the end of the line: see /dev/outbox")
    container = bootstrap(settings)
    try:
        print(f"Delivered {notify.deliver_pending(container.uow(), sender)} email(s)")
    finally:
        container.close()


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
    commands.add_parser("deliver-outbox", help="send unsent outbox emails with the configured sender")
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "check-db": cmd_check_db,
    "deliver-outbox": cmd_deliver_outbox,
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
