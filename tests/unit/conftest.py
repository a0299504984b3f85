"""Shared unit-test fixtures: default settings, a seeded SQLite file per test, a fake clock."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.adapters.store.db import UnitOfWork, make_engine, session_factory
from autofinance.adapters.store.models import Base

TODAY = date(2026, 11, 24)  # the seed's "today"; the clock starts on the same day


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed once (argon2 password hashing is slow by design), copy the file for each test."""
    path = tmp_path_factory.mktemp("template") / "seeded.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        seed_demo(session, TODAY, Settings())
        session.commit()
    engine.dispose()  # the last connection checkpoints the WAL into the main file
    return path


@pytest.fixture
def uow_factory(tmp_path: Path, _seeded_template: Path) -> Iterator[Callable[[], UnitOfWork]]:
    """A new UnitOfWork per call, all over the same seeded SQLite file of this test."""
    path = tmp_path / "test.db"
    shutil.copyfile(_seeded_template, path)
    engine = make_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    yield lambda: UnitOfWork(sessions)
    engine.dispose()


@dataclass
class Clock:
    """A controllable "now" (aware UTC): pass `clock.now` to services, move it with `advance`."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc))

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
