"""GET /documents/{id}: a signed link opens the statement; tampered or expired links get 403."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.demo.seed import seed_demo
from autofinance.services.documents import document_link, list_statements
from autofinance.adapters.store.models import Account, Base
from autofinance.entrypoints.web import documents as document_pages
from autofinance.entrypoints.web.app import create_app

MARIA, JAMES = "7301004821", "7301007734"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A seeded store for the module; seeded for the real today, as the route uses the clock."""
    path = tmp_path_factory.mktemp("documents") / "web.db"
    settings = Settings(database_url=f"sqlite:///{path}", public_base_url="http://testserver")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        uow.commit()
    container.close()
    return settings


def ids(settings: Settings) -> dict[str, int]:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            rows = uow.session.execute(select(Account.account_number, Account.customer_id)).all()
            return {number: customer for number, customer in rows}
    finally:
        container.close()


def newest_statement(settings: Settings, customer: int) -> str:
    container = bootstrap(settings)
    try:
        today = datetime.now(ZoneInfo(settings.lender_timezone)).date()
        return list_statements(customer, container.uow(), today)[0].document_id
    finally:
        container.close()


def path_of(link: str, settings: Settings) -> str:
    return link.removeprefix(settings.public_base_url)


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Callable[..., Any]) -> TestClient:
    app = create_app(settings)
    if "document" not in app.router.named_resources():  # until routes.py registers it
        app.router.add_get("/documents/{document_id}", document_pages.document, name="document")
    return await aiohttp_client(app)


async def test_a_valid_link_shows_the_statement_privately(client: TestClient,
                                                          settings: Settings) -> None:
    maria = ids(settings)[MARIA]
    document_id = newest_statement(settings, maria)
    response = await client.get(path_of(document_link(maria, document_id, settings.public_base_url, settings.secret_pepper), settings))

    assert response.status == 200
    page = await response.text()
    assert "Monthly statement" in page and "Account ****4821 (loan, 2022 Toyota RAV4)" in page
    assert "Principal balance today: $18,420.55" in page and MARIA not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_contract_link_shows_the_contract_summary(client: TestClient,
                                                            settings: Settings) -> None:
    james = ids(settings)[JAMES]
    response = await client.get(path_of(document_link(james, "contract", settings.public_base_url, settings.secret_pepper), settings))
    assert response.status == 200
    assert "Lease contract summary" in await response.text()


@pytest.mark.parametrize("tamper", [
    lambda p: p[:-1] + ("0" if p[-1] != "0" else "1"),  # the signature
    lambda p: p.replace("exp=", "exp=9"),  # a later expiry
    lambda p: p.replace("statement-", "statement-x"),
    lambda p: p.split("&sig=")[0],  # no signature
    lambda p: p.split("?")[0],  # no query at all
])
async def test_a_tampered_link_gets_403_without_the_statement_or_a_reason(
        tamper: Callable[[str], str], client: TestClient, settings: Settings) -> None:
    maria = ids(settings)[MARIA]
    link = document_link(maria, newest_statement(settings, maria), settings.public_base_url,
                         settings.secret_pepper)
    response = await client.get(tamper(path_of(link, settings)))

    assert response.status == 403
    page = await response.text()
    assert "not valid or has expired" in page
    assert "Monthly statement" not in page and "****4821" not in page and "Principal" not in page
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_expired_link_gets_403(client: TestClient, settings: Settings) -> None:
    maria = ids(settings)[MARIA]
    issued = datetime.now(timezone.utc) - timedelta(hours=2)
    link = document_link(maria, "contract", settings.public_base_url, settings.secret_pepper, now=issued, ttl_minutes=60)
    response = await client.get(path_of(link, settings))

    assert response.status == 403
    assert "Loan contract summary" not in await response.text()


async def test_another_customers_link_does_not_open_this_customers_document(
        client: TestClient, settings: Settings) -> None:
    customers = ids(settings)
    link = document_link(customers[JAMES], "contract", settings.public_base_url, settings.secret_pepper)
    forged = link.replace(f"c={customers[JAMES]}", f"c={customers[MARIA]}")
    response = await client.get(path_of(forged, settings))

    assert response.status == 403
    assert "contract summary" not in await response.text()


async def test_a_genuine_link_to_a_document_that_is_not_there_gets_404(
        client: TestClient, settings: Settings) -> None:
    maria = ids(settings)[MARIA]
    response = await client.get(path_of(document_link(maria, "statement-2001-01", settings.public_base_url, settings.secret_pepper),
                                        settings))
    assert response.status == 404
    assert "no longer available" in await response.text()

