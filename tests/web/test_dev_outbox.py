"""The dev outbox shows sent messages in demo mode only, escaped, newest first."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.adapters.notify import queue_message
from autofinance.adapters.store.models import Base
from autofinance.entrypoints.web.app import create_app


def _settings(tmp_path: Path, demo: bool) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}", demo_mode=demo)


def _store_with_messages(settings: Settings) -> None:
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        queue_message(uow.session, to="maria.lopez@example.com", channel="email", kind="otp",
                      subject="Your code", body="Your code is 123456.",
                      pepper=settings.secret_pepper)  # sealed at rest, shown unsealed
        queue_message(uow.session, to="+14045550101", channel="sms", kind="notice",
                      body="<script>alert(1)</script>")
        uow.commit()
    container.close()


async def test_the_outbox_json_lists_messages_newest_first_in_demo_mode(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    settings = _settings(tmp_path, demo=True)
    _store_with_messages(settings)
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/dev/outbox.json")
    assert response.status == 200
    messages = await response.json()
    assert [m["channel"] for m in messages] == ["sms", "email"]
    assert set(messages[0]) == {"to", "channel", "subject", "body", "created_at"}
    assert messages[1]["body"] == "Your code is 123456."


async def test_the_outbox_page_escapes_message_text(tmp_path: Path, aiohttp_client: Callable[..., Any]) -> None:
    settings = _settings(tmp_path, demo=True)
    _store_with_messages(settings)
    client: TestClient = await aiohttp_client(create_app(settings))
    page = await (await client.get("/dev/outbox")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


@pytest.mark.parametrize("path", ["/dev/outbox.json", "/dev/outbox"])
async def test_outside_demo_mode_the_outbox_does_not_exist(
    path: str, tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    settings = _settings(tmp_path, demo=False)
    _store_with_messages(settings)
    client: TestClient = await aiohttp_client(create_app(settings))
    assert (await client.get(path)).status == 404
    assert (await client.get("/health")).status == 200
