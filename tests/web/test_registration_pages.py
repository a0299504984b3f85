"""GET/POST /register: the emailed link shows the form once valid; a refused username or password
re-renders it with what to fix and keeps the link; a used, forged or missing link registers nobody."""
from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.models import Account, Base, OnlineCredential, OutboxMessage
from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.entrypoints.web.app import create_app
from autofinance.services.online_registration import send_registration_link

MARIA = "7301004821"
GOOD = "Blue-Harbor-Kite-42"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed once, with Maria as a customer who never set up online access."""
    path = tmp_path_factory.mktemp("register") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        maria = uow.session.scalars(select(Account.customer_id).where(Account.account_number == MARIA)).one()
        uow.session.execute(delete(OnlineCredential).where(OnlineCredential.customer_id == maria))
        uow.commit()
    container.close()
    return path


@pytest.fixture
def settings(seeded: Path, tmp_path: Path) -> Settings:
    shutil.copyfile(seeded, tmp_path / "web.db")
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}", public_base_url="http://testserver")


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(settings))


def emailed_token(settings: Settings) -> str:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            maria = uow.session.scalars(select(Account.customer_id).where(Account.account_number == MARIA)).one()
        send_registration_link(maria, container.uow(), settings.public_base_url, settings.secret_pepper)
        with container.uow() as uow:
            message = uow.session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "registration_link").order_by(OutboxMessage.id.desc())).first()
            body = readable_body(message, settings.secret_pepper) if message else None
    finally:
        container.close()
    found = re.search(r"http://testserver/register\?token=([A-Za-z0-9_-]{43})", body or "")
    assert found is not None
    return found.group(1)


def usernames(settings: Settings) -> set[str]:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            return set(uow.session.scalars(select(OnlineCredential.username)))
    finally:
        container.close()


def assert_private(response: ClientResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def post(client: TestClient, token: str, username: str, password: str, confirm: str = "") -> ClientResponse:
    return await client.post("/register", data={"token": token, "username": username, "password": password,
                                                "confirm": confirm or password})


async def test_a_valid_link_shows_the_form_and_registers_once(client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    form = await client.get(f"/register?token={token}")
    assert form.status == 200
    assert_private(form)
    page = await form.text()
    assert f'<input type="hidden" name="token" value="{token}">' in page
    assert '<label for="username">' in page and page.count('autocomplete="new-password"') == 2
    assert 'action="/register"' in page and "start with a letter" in page

    done = await post(client, token, "maria.lopez85", GOOD)
    assert done.status == 200 and "maria.lopez85" in await done.text()
    assert_private(done)
    assert "maria.lopez85" in usernames(settings)
    again = await post(client, token, "maria.other", GOOD)
    assert again.status == 400 and "not valid or has expired" in await again.text()
    assert "maria.other" not in usernames(settings)


@pytest.mark.parametrize("query", ["", "?token=", "?token=short", "?token=" + "A" * 43])
async def test_a_missing_malformed_or_unknown_token_shows_the_invalid_page(query: str, client: TestClient) -> None:
    response = await client.get(f"/register{query}")
    assert response.status == 400
    assert_private(response)
    page = await response.text()
    assert "not valid or has expired" in page and "set up online access" in page and "<form" not in page


async def test_a_refused_username_or_password_re_renders_the_form(client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    taken = await post(client, token, "jchen", GOOD)
    assert taken.status == 400 and "taken" in await taken.text()
    weak = await post(client, token, "maria.lopez85", "Password123!")
    weak_page = await weak.text()
    assert weak.status == 400 and "too common" in weak_page
    assert "Password123!" not in weak_page.split("<ul>")[0]  # the password is never echoed back
    mismatch = await post(client, token, "maria.lopez85", GOOD, GOOD + "x")
    assert mismatch.status == 400 and "don&#39;t match" in await mismatch.text()
    hostile = await post(client, token, "<script>alert(1)</script>", GOOD)
    assert hostile.status == 400 and "<script>alert" not in await hostile.text()
    assert not {"maria.lopez85", "<script>alert(1)</script>"} & usernames(settings)
    assert (await post(client, token, "maria.lopez85", GOOD)).status == 200  # the link still works
