"""Builds the store and services once per process, from settings (never at import time)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import Engine

from autofinance.config import Settings
from autofinance.adapters.store.db import UnitOfWork, make_engine, session_factory


@dataclass
class Container:
    """What a process needs: its settings, the engine and a way to open a unit of work."""

    settings: Settings
    engine: Engine

    def __post_init__(self) -> None:
        self._sessions = session_factory(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Optional[Settings] = None) -> Container:
    settings = settings or Settings.from_env()
    return Container(settings=settings, engine=make_engine(settings.database_url))
