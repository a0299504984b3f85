"""Running real actions against a seeded store, with a tracker and a collecting dispatcher."""
from __future__ import annotations

import functools
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions import runtime
from autofinance.adapters.notify import readable_body
from autofinance.bootstrap import Container
from autofinance.config import PROJECT_ROOT, Settings
from autofinance.demo.seed import seed_demo
from autofinance.services import identity
from autofinance.adapters.store.db import make_engine, session_factory
from autofinance.adapters.store.models import Base, OutboxMessage, StaffSession, StaffUser


@pytest.fixture(scope="session")
def _seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded once for the lender's today (argon2 is slow by design); copied for each test."""
    path = tmp_path_factory.mktemp("actions") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    runtime.set_container(Container(settings, engine))
    today = runtime.lender_today()
    with session_factory(engine)() as session:
        seed_demo(session, today, settings)
        session.commit()
    engine.dispose()
    runtime.set_container(None)
    return path


@pytest.fixture
def store(tmp_path: Path, _seeded_store: Path) -> Iterator[Container]:
    """The container every action in this test uses: a fresh copy of the seeded store."""
    path = tmp_path / "store.db"
    shutil.copyfile(_seeded_store, path)
    settings = Settings(database_url=f"sqlite:///{path}")
    container = Container(settings, make_engine(settings.database_url))
    runtime.set_container(container)
    yield container
    runtime.set_container(None)
    container.close()


def make_tracker(
    sender_id: str = "conv-1",
    slots: Optional[dict[str, Any]] = None,
    intent: str = "check_balance",
    text: str = "",
    entities: Optional[list[dict[str, Any]]] = None,
    active_loop: Optional[str] = None,
    events: Optional[list[dict[str, Any]]] = None,
    channel: Optional[str] = None,
    paused: bool = False,
) -> Tracker:
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": entities or [], "text": text}
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=latest,
        events=events or [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel}],
        paused=paused,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


@pytest.fixture
def agent_online(store: Container) -> None:
    """The demo agent is signed in to the console (support hours default to always open)."""
    now = datetime.now(timezone.utc)
    with store.uow() as uow:
        agent = uow.session.scalar(select(StaffUser).where(StaffUser.username == "demo.agent"))
        uow.session.add(StaffSession(staff_id=agent.id, token_hash="f" * 64, created_at=now,
                                     last_seen_at=now, expires_at=now + timedelta(hours=1)))
        uow.commit()


@functools.lru_cache(maxsize=1)
def domain() -> dict[str, Any]:
    """The real domain, as Rasa sends it to the action server."""
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())


async def run(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs an action; returns (events, messages)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain())
    return events, dispatcher.messages


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or m.get("response") or "" for m in messages)


def verify(store: Container, conversation_id: str, identifier: str = "7301004821",
           factor: str = "30309", channel: str = "unknown") -> identity.VerifiedCustomer:
    """Verifies a conversation the way a customer does: identify, code by email, enter it."""
    identity.identify(conversation_id, identifier, factor, store.settings.secret_pepper, store.uow())
    identity.send_code(conversation_id, "email", store.settings.secret_pepper, store.uow())
    with store.uow() as uow:
        message = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
        body = readable_body(message, store.settings.secret_pepper) if message else None
    code = re.search(r"\b(\d{6})\b", body or "").group(1)
    return identity.verify_code(conversation_id, code, store.settings.secret_pepper, store.uow(),
                                channel=channel)
