"""The demo portal page at /: the chat widget's assets, its policy, and the demo-only sign-in."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from autofinance.bootstrap import bootstrap
from autofinance.config import Secret, Settings
from autofinance.adapters.portal_tokens import issue_token, verify_token
from autofinance.demo.seed import DEMO_CUSTOMERS, seed_demo
from autofinance.adapters.store.models import Account, Base, Reminder
from autofinance.entrypoints.web import portal
from autofinance.entrypoints.web.app import create_app

MARIA = "7301004821"
ASSETS = ("/static/widget.js", "/static/widget.css", "/static/vendor/socket.io.min.js")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = tmp_path_factory.mktemp("portal") / "web.db"
    settings = Settings(database_url=f"sqlite:///{path}", public_base_url="http://testserver",
                        widget_socket_url="http://localhost:5005")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        uow.commit()
    container.close()
    return settings


def customer_ids(settings: Settings) -> dict[str, int]:
    container = bootstrap(settings)
    try:
        with container.uow() as uow:
            return dict(uow.session.execute(select(Account.account_number, Account.customer_id)).all())
    finally:
        container.close()


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(settings))


def origin(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


def data_attribute(page: str, name: str) -> str:
    return re.search(rf'data-{name}="([^"]*)"', page).group(1)


async def sign_in(client: TestClient, customer: str = "mlopez", **headers: str) -> Any:
    return await client.post("/demo/sign-in-as", data={"customer": customer}, allow_redirects=False,
                             headers=headers or {"Origin": origin(client)})


async def test_the_page_renders_with_the_widget_and_its_local_assets(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    page = await response.text()
    assert "<h1>My Account</h1>" in page and 'id="meridian-chat"' in page
    for asset in ASSETS:
        assert asset in page
    assert "//cdn" not in page and "unpkg" not in page and "jsdelivr" not in page
    assert data_attribute(page, "socket-url") == "http://localhost:5005"
    assert data_attribute(page, "token") == "" and data_attribute(page, "scope") == "anonymous"
    for customer in DEMO_CUSTOMERS:
        assert f"Sign in as {customer.first_name} {customer.last_name}" in page
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_page_policy_allows_scripts_from_here_and_the_widget_socket_only(
    client: TestClient,
) -> None:
    policy = (await client.get("/")).headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self' http://localhost:5005 ws://localhost:5005;" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_policy_follows_the_widget_socket_url() -> None:
    secure = Settings(widget_socket_url="https://chat.meridian-auto.example/")
    assert "connect-src 'self' https://chat.meridian-auto.example wss://chat.meridian-auto.example;" in \
        portal.content_security_policy(secure)
    assert "connect-src 'self';" in portal.content_security_policy(Settings(widget_socket_url=""))


def test_the_widget_socket_url_is_the_rasa_port_on_localhost_unless_given() -> None:
    assert Settings().widget_socket_url == "http://localhost:5005"
    assert Settings.from_env({"RASA_PORT": "5123"}).widget_socket_url == "http://localhost:5123"
    given = Settings.from_env({"RASA_PORT": "5123", "WIDGET_SOCKET_URL": "https://chat.example"})
    assert given.widget_socket_url == "https://chat.example"


async def test_the_anonymous_page_has_no_account_data(client: TestClient) -> None:
    page = await (await client.get("/")).text()
    for customer in DEMO_CUSTOMERS:
        for private in (customer.account_number, customer.account_number[-4:], customer.email,
                        customer.zip_code, customer.mobile, customer.address[0]):
            assert private not in page
    assert "$" not in page and "18,420" not in page
    assert "Signed in as" not in page and "Sign out" not in page


async def test_sign_in_as_issues_a_portal_token_for_that_customer(
    client: TestClient, settings: Settings,
) -> None:
    response = await sign_in(client)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = SimpleCookie(response.headers["Set-Cookie"])[portal.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    claims = verify_token(cookie.value, settings)
    assert claims is not None
    assert claims.customer_id == customer_ids(settings)[MARIA] and claims.first_name == "Maria"

    page = await (await client.get("/")).text()  # the client keeps the cookie
    assert "Signed in as Maria Lopez (demo)" in page and "Sign out" in page
    assert data_attribute(page, "token") == cookie.value
    assert data_attribute(page, "scope") == f"portal-{claims.customer_id}"
    assert "$" not in page and MARIA not in page and "Sign in as James Chen" not in page


async def test_sign_out_returns_to_the_anonymous_page(client: TestClient) -> None:
    await sign_in(client, "jchen")
    assert "Signed in as James Chen (demo)" in await (await client.get("/")).text()
    response = await client.post("/demo/sign-out", allow_redirects=False,
                                 headers={"Origin": origin(client)})
    assert response.status == 303
    page = await (await client.get("/")).text()
    assert "Signed in as" not in page and data_attribute(page, "scope") == "anonymous"


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Referer": "http://evil.example/page"},
    {"Origin": "null"},
    {"X-Nothing": "no origin and no referer"},
])
async def test_the_demo_forms_refuse_other_origins(client: TestClient, headers: dict[str, str]) -> None:
    response = await sign_in(client, **headers)
    assert response.status == 403 and "Set-Cookie" not in response.headers
    response = await client.post("/demo/sign-out", allow_redirects=False, headers=headers)
    assert response.status == 403


async def test_a_cross_site_fetch_is_refused_even_with_a_matching_origin(client: TestClient) -> None:
    response = await sign_in(client, Origin=origin(client), **{"Sec-Fetch-Site": "cross-site"})
    assert response.status == 403


async def test_the_page_itself_as_referer_is_accepted(client: TestClient) -> None:
    response = await sign_in(client, "rokafor", Referer=f"{origin(client)}/")
    assert response.status == 303


async def test_only_demo_customers_can_be_chosen(client: TestClient) -> None:
    for customer in ("nobody", "", "7301004821"):
        response = await sign_in(client, customer)
        assert response.status == 400 and "Set-Cookie" not in response.headers


async def test_a_tampered_or_expired_cookie_is_anonymous_and_cleared(
    client: TestClient, settings: Settings,
) -> None:
    maria = customer_ids(settings)[MARIA]
    expired = issue_token(maria, "Maria", settings, now=datetime(2020, 1, 1))
    foreign = issue_token(maria, "Maria", dataclasses.replace(settings, portal_jwt_secret=Secret("x" * 40)))
    for token in (expired, foreign, "garbage"):
        client.session.cookie_jar.update_cookies({portal.COOKIE: token})
        response = await client.get("/")
        page = await response.text()
        assert "Signed in as" not in page and data_attribute(page, "token") == ""
        assert portal.COOKIE in response.headers.get("Set-Cookie", "")  # deleted


async def test_the_demo_routes_do_not_exist_outside_demo_mode(
    settings: Settings, aiohttp_client: Callable[..., Any],
) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, demo_mode=False)))
    assert (await sign_in(client)).status == 404
    assert (await client.post("/demo/sign-out", headers={"Origin": origin(client)})).status == 404
    # a portal cookie from elsewhere does not sign anyone in on this page either
    client.session.cookie_jar.update_cookies(
        {portal.COOKIE: issue_token(customer_ids(settings)[MARIA], "Maria", settings)})
    page = await (await client.get("/")).text()
    assert "Sign in as" not in page and "Signed in as" not in page and "dev/outbox" not in page
    assert 'id="meridian-chat"' in page and data_attribute(page, "token") == ""


async def test_the_widget_files_and_the_socket_io_client_are_served(client: TestClient) -> None:
    assert portal.SOCKET_IO_CLIENT.is_file(), "run 'make web-assets' (make envs does it)"
    for path, kind, marker in (("/static/widget.js", "javascript", "session_request"),
                               ("/static/widget.css", "text/css", ".mc-launcher"),
                               ("/static/vendor/socket.io.min.js", "javascript", "Socket.IO")):
        response = await client.get(path)
        assert response.status == 200, path
        assert kind in response.headers["Content-Type"]
        assert marker in await response.text()
    assert (await client.get("/static/console.js")).status == 404  # only the widget's files here
    assert (await client.get("/static/vendor/other.js")).status == 404


def test_the_widget_never_writes_message_text_as_html() -> None:
    script = (portal.STATIC / "widget.js").read_text()
    for sink in (r"\.\s*innerHTML\b", r"\.\s*outerHTML\b", r"insertAdjacentHTML\s*\(",
                 r"document\.write", r"\beval\s*\(", r"new\s+Function\b"):
        assert not re.search(sink, script), sink
    assert "textContent" in script and "createTextNode" in script


# --- unread alerts ------------------------------------------------------------------------------


def _remind_priya(settings: Settings) -> None:
    """Priya's reminders (a payment due, a returned payment) go out now, all unread."""
    from autofinance.services import reminders  # noqa: PLC0415 - only these tests send any

    container = bootstrap(settings)
    try:
        reminders.send_due_reminders(container.uow(), settings.reminders, settings.lender_timezone,
                                     settings.public_base_url)
        with container.uow() as uow:
            uow.session.execute(update(Reminder).values(read_at=None))
            uow.commit()
    finally:
        container.close()


def _alerts(page: str) -> list[dict[str, Any]]:
    import json  # noqa: PLC0415

    return json.loads(re.search(r"data-alerts='([^']*)'", page).group(1))


async def test_a_signed_in_customer_sees_unread_alerts_until_the_widget_shows_them(
    settings: Settings, client: TestClient,
) -> None:
    _remind_priya(settings)
    await sign_in(client, "pnair")
    alerts = _alerts(await (await client.get("/")).text())
    assert {a["title"] for a in alerts} >= {"Your payment was returned by your bank"}

    refused = await client.post("/demo/alerts/read", json={"ids": [a["id"] for a in alerts]},
                                headers={"Origin": "https://evil.example"})
    read = await client.post("/demo/alerts/read", json={"ids": [a["id"] for a in alerts]},
                             headers={"Origin": origin(client)})

    assert (refused.status, read.status) == (403, 204)
    assert _alerts(await (await client.get("/")).text()) == []


async def test_alerts_are_nobody_elses(settings: Settings, client: TestClient) -> None:
    _remind_priya(settings)
    await sign_in(client, "pnair")
    priyas = [a["id"] for a in _alerts(await (await client.get("/")).text())]
    assert priyas
    await client.post("/demo/sign-out", headers={"Origin": origin(client)})
    await sign_in(client, "mlopez")

    await client.post("/demo/alerts/read", json={"ids": priyas}, headers={"Origin": origin(client)})
    assert _alerts(await (await client.get("/")).text()) == []  # Maria has none of hers
    await client.post("/demo/sign-out", headers={"Origin": origin(client)})
    await sign_in(client, "pnair")

    assert [a["id"] for a in _alerts(await (await client.get("/")).text())] == priyas
    anonymous = await client.post("/demo/sign-out", headers={"Origin": origin(client)})
    assert anonymous.status in (200, 302, 303)
    assert (await client.post("/demo/alerts/read", json={"ids": priyas},
                              headers={"Origin": origin(client)})).status == 401
