"""GET/POST /add-card: the emailed link shows the card form once valid; a Luhn failure or an
expired card re-renders it without echoing the number and keeps the link; a used, expired,
forged or missing link (a cross-site POST has none) adds nothing."""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.models import Account, Base, CardLinkToken, FundingSource, OutboxMessage
from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.entrypoints.web.app import create_app
from autofinance.services.funding_sources import send_card_link

DANA = "7301005530"
CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("add_card") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
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
            dana = uow.session.scalars(select(Account.customer_id).where(Account.account_number == DANA)).one()
        send_card_link(dana, container.uow(), settings.public_base_url, settings.secret_pepper)
        with container.uow() as uow:
            message = uow.session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "card_link").order_by(OutboxMessage.id.desc())).first()
            body = readable_body(message, settings.secret_pepper) if message else None
    finally:
        container.close()
    found = re.search(r"http://testserver/add-card\?token=([A-Za-z0-9_-]{43})", body or "")
    assert found is not None
    return found.group(1)


def cards(settings: Settings) -> list[str]:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            return list(uow.session.scalars(select(FundingSource.last4).join(Account, Account.customer_id ==
                                                                             FundingSource.customer_id)
                                            .where(Account.account_number == DANA,
                                                   FundingSource.kind == "debit_card")))
    finally:
        container.close()


def assert_private(response: ClientResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def post(client: TestClient, token: str, number: str = CARD, month: str = "12",
               year: str = str(datetime.now().year + 3)) -> ClientResponse:
    return await client.post("/add-card", data={"token": token, "card_number": number, "exp_month": month,
                                                "exp_year": year})


async def test_a_valid_link_shows_the_form_and_adds_the_card_once(client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    form = await client.get(f"/add-card?token={token}")
    assert form.status == 200
    assert_private(form)
    page = await form.text()
    assert f'<input type="hidden" name="token" value="{token}">' in page and 'action="/add-card"' in page
    done = await post(client, token)
    text = await done.text()
    assert done.status == 200 and "debit card ****1111" in text and "4111 1111" not in text
    assert_private(done)
    assert cards(settings) == ["1111"]
    again = await post(client, token, "5555555555554444")
    assert again.status == 400 and "not valid or has expired" in await again.text()
    assert cards(settings) == ["1111"]


@pytest.mark.parametrize("number, month, year, says", [
    ("4111 1111 1111 1112", "12", "2040", "card number doesn&#39;t look right"),
    ("4111", "12", "2040", "card number doesn&#39;t look right"),
    (CARD, "01", "2020", "expired"),
])
async def test_a_luhn_failure_or_expired_card_re_renders_the_form_without_the_number(
        client: TestClient, settings: Settings, number: str, month: str, year: str, says: str) -> None:
    token = emailed_token(settings)
    refused = await post(client, token, number, month, year)
    page = await refused.text()
    assert refused.status == 400 and says in page and number not in page
    assert cards(settings) == []
    assert (await post(client, token)).status == 200  # the link still works


@pytest.mark.parametrize("query", ["", "?token=", "?token=short", "?token=" + "A" * 43])
async def test_a_missing_malformed_or_unknown_token_shows_the_invalid_page(query: str, client: TestClient) -> None:
    response = await client.get(f"/add-card{query}")
    assert response.status == 400
    assert_private(response)
    page = await response.text()
    assert "not valid or has expired" in page and "add a debit card" in page and "<form" not in page


async def test_a_cross_site_post_without_the_token_adds_nothing(client: TestClient, settings: Settings) -> None:
    emailed_token(settings)  # a live link exists, but the forged request does not hold it
    forged = await client.post("/add-card", data={"card_number": CARD, "exp_month": "12", "exp_year": "2040"},
                               headers={"Origin": "https://evil.example"})
    assert forged.status == 400 and cards(settings) == []


async def test_an_expired_link_adds_nothing(client: TestClient, settings: Settings) -> None:
    token = emailed_token(settings)
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            uow.session.execute(update(CardLinkToken).values(
                expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
            uow.commit()
    finally:
        container.close()
    assert (await client.get(f"/add-card?token={token}")).status == 400
    assert (await post(client, token)).status == 400 and cards(settings) == []
