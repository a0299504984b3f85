"""GET/POST /reset-password: the emailed link shows the form once valid; weak passwords re-render it."""
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
from sqlalchemy import select

from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.services.online_access import send_password_reset
from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.models import Account, Base, OnlineCredential, OutboxMessage
from autofinance.entrypoints.web import password_reset
from autofinance.entrypoints.web.app import create_app

ROBERT = "7301009912"
GOOD = "Blue-Harbor-Kite-42"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed once (argon2 is slow by design); each test gets its own copy, as resets change it."""
    path = tmp_path_factory.mktemp("reset") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        uow.commit()
    container.close()  # the last connection checkpoints the WAL into the main file
    return path


@pytest.fixture
def settings(seeded: Path, tmp_path: Path) -> Settings:
    shutil.copyfile(seeded, tmp_path / "web.db")
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}",
                    public_base_url="http://testserver")


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Callable[..., Any]) -> TestClient:
    app = create_app(settings)
    if "reset_password" not in app.router.named_resources():  # until routes.py registers it
        app.router.add_get("/reset-password", password_reset.reset_form, name="reset_password")
        app.router.add_post("/reset-password", password_reset.submit_reset, name="reset_password")
    return await aiohttp_client(app)


def emailed_token(settings: Settings) -> str:
    """Ask for a link for Robert (whose access is locked) and read it from the email."""
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            robert = uow.session.scalars(
                select(Account.customer_id).where(Account.account_number == ROBERT)).one()
        send_password_reset(robert, container.uow(), settings.public_base_url, settings.secret_pepper)
        with container.uow() as uow:  # the link is sealed in the outbox: read it as emailed
            message = uow.session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "password_reset").order_by(OutboxMessage.id.desc())).first()
            body = readable_body(message, settings.secret_pepper) if message else None
    finally:
        container.close()
    found = re.search(r"http://testserver/reset-password\?token=([A-Za-z0-9_-]{43})", body or "")
    assert found is not None
    return found.group(1)


def robert_locked(settings: Settings) -> bool:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            return uow.session.scalars(select(OnlineCredential.locked).where(
                OnlineCredential.username == "rokafor")).one()
    finally:
        container.close()


def assert_private(response: ClientResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def post(client: TestClient, token: str, password: str, confirm: str = "") -> ClientResponse:
    return await client.post("/reset-password", data={
        "token": token, "password": password, "confirm": confirm or password})


async def test_a_valid_link_shows_the_form_with_the_token_and_the_rules(
        client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    response = await client.get(f"/reset-password?token={token}")

    assert response.status == 200
    assert_private(response)
    page = await response.text()
    assert f'<input type="hidden" name="token" value="{token}">' in page
    assert '<label for="password">' in page and '<label for="confirm">' in page
    assert page.count('autocomplete="new-password"') == 2
    assert "at least 12" in page and "3 of these" in page and "20 or more" in page
    assert 'action="/reset-password"' in page  # the token is posted in the body, not the URL
    second = await client.get(f"/reset-password?token={token}")
    assert second.status == 200  # showing the form did not use the link up


@pytest.mark.parametrize("query", ["", "?token=", "?token=short",
                                   "?token=" + "A" * 43, "?token=%3Cscript%3E" + "a" * 35])
async def test_a_missing_malformed_or_unknown_token_shows_the_invalid_page(
        query: str, client: TestClient) -> None:
    response = await client.get(f"/reset-password{query}")

    assert response.status == 400
    assert_private(response)
    page = await response.text()
    assert "not valid or has expired" in page and "reset my password" in page
    assert "<form" not in page and "<script>" not in page


async def test_a_weak_password_re_renders_the_form_with_what_to_fix(
        client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    response = await post(client, token, "Password123!")

    assert response.status == 400
    assert_private(response)
    page = await response.text()
    assert "too common" in page and f'name="token" value="{token}"' in page
    assert "Password123!" not in page.split("<ul>")[0]  # the password is never echoed back
    mismatch = await post(client, token, GOOD, GOOD + "x")
    assert mismatch.status == 400 and "don&#39;t match" in await mismatch.text()
    assert robert_locked(settings)  # nothing changed


async def test_success_then_the_same_link_again_is_refused(
        client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    response = await post(client, token, GOOD)

    assert response.status == 200
    assert_private(response)
    page = await response.text()
    assert "Password changed" in page and "Robert" in page and GOOD not in page
    assert not robert_locked(settings)

    again = await post(client, token, "Another-Good-Pass-77")
    assert again.status == 400
    assert_private(again)
    assert "not valid or has expired" in await again.text()
    reopened = await client.get(f"/reset-password?token={token}")
    assert reopened.status == 400


async def test_a_post_without_a_valid_token_is_refused(client: TestClient) -> None:
    response = await post(client, "", GOOD)
    assert response.status == 400 and "not valid or has expired" in await response.text()
    mismatch = await post(client, "A" * 43, GOOD, GOOD + "x")  # no hint that only the pair failed
    assert mismatch.status == 400 and "not valid or has expired" in await mismatch.text()
