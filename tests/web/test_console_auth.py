"""Console sign-in over HTTP: the form and JSON sign-in, the cookie, CSRF, lockout and guards."""
from __future__ import annotations

import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pyotp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from autofinance.bootstrap import bootstrap
from autofinance.config import Settings
from autofinance.demo.seed import DEMO_AGENT, seed_demo
from autofinance.services.errors import SignInFailed
from autofinance.services.staff import authenticator, create_staff
from autofinance.adapters.store.models import Base
from autofinance.entrypoints.web.console import auth as console_auth
from autofinance.entrypoints.web.console.limiter import SharedSignInLimiter, SignInLimiter
from autofinance.entrypoints.web.keys import SIGN_IN_LIMITER
from autofinance.entrypoints.web.app import create_app

AGENT, AGENT_PASSWORD = "pat.agent", "agent-password-42"
SUPERVISOR_ONLY = "/console/api/_test/supervisor-only"
STAFF_PAGE = "/console/_test/page"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Seed once (argon2 is slow by design): the demo supervisor and an agent; tests copy it."""
    path = tmp_path_factory.mktemp("console") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        uow.commit()
    agent = create_staff(AGENT, "Pat Agent", "agent", container.uow(),
                         pepper=container.settings.secret_pepper, password=AGENT_PASSWORD)
    container.close()  # the last connection checkpoints the WAL into the main file
    return path, agent.totp_secret


@pytest.fixture
def agent_secret(seeded: tuple[Path, str]) -> str:
    return seeded[1]


def settings_for(seeded: tuple[Path, str], tmp_path: Path, base_url: str) -> Settings:
    shutil.copyfile(seeded[0], tmp_path / "web.db")
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}", public_base_url=base_url)


async def supervisor_only(request: web.Request) -> web.Response:
    principal = await console_auth.require_staff(request, supervisor=True)
    assert request[console_auth.STAFF_KEY] == principal
    return web.json_response({"ok": principal.username})


async def staff_page(request: web.Request) -> web.Response:
    principal = await console_auth.require_staff(request)
    return web.Response(text=f"hello {principal.display_name}")


async def make_client(settings: Settings, aiohttp_client: Callable[..., Any],
                      limiter: SignInLimiter | None = None) -> TestClient:
    app = create_app(settings)
    app.router.add_get(SUPERVISOR_ONLY, supervisor_only)
    app.router.add_get(STAFF_PAGE, staff_page)
    if limiter is not None:
        app[SIGN_IN_LIMITER] = limiter
    return await aiohttp_client(app)


@pytest.fixture
async def client(seeded: tuple[Path, str], tmp_path: Path,
                 aiohttp_client: Callable[..., Any]) -> TestClient:
    return await make_client(settings_for(seeded, tmp_path, "http://testserver"), aiohttp_client)


def demo_login(code: str = "") -> dict[str, str]:
    return {"username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"],
            "code": code or authenticator(DEMO_AGENT["totp_secret"], demo_mode=True).now()}


def agent_login(secret: str) -> dict[str, str]:
    return {"username": AGENT, "password": AGENT_PASSWORD, "code": pyotp.TOTP(secret).now()}


def wrong_code(right: str) -> str:
    return f"{(int(right) + 500_000) % 1_000_000:06d}"


# --- the form ---------------------------------------------------------------------------


async def test_the_sign_in_page_is_a_form_that_is_never_cached(client: TestClient) -> None:
    response = await client.get("/console/sign-in")

    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = await response.text()
    assert 'action="/console/sign-in"' in page and 'method="post"' in page
    for field in ('name="username"', 'name="password"', 'name="code"', 'pattern="[0-9]{6}"'):
        assert field in page


async def test_form_sign_in_sets_a_strict_http_only_cookie_and_redirects(
        client: TestClient) -> None:
    response = await client.post("/console/sign-in", data=demo_login(), allow_redirects=False)

    assert response.status == 303
    assert response.headers["Location"] == "/console"
    cookie = response.cookies[console_auth.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/console" and cookie["max-age"] == str(480 * 60)
    assert not cookie["secure"]  # the test server is http
    session = await client.get("/console/api/session")
    assert session.status == 200
    assert (await session.json())["staff"]["username"] == DEMO_AGENT["username"]


async def test_the_cookie_is_secure_when_the_site_is_https(
        seeded: tuple[Path, str], tmp_path: Path, aiohttp_client: Callable[..., Any]) -> None:
    client = await make_client(settings_for(seeded, tmp_path, "https://console.example"),
                               aiohttp_client)
    response = await client.post("/console/sign-in", data=demo_login(), allow_redirects=False)

    assert response.status == 303
    assert response.cookies[console_auth.COOKIE]["secure"]


async def test_a_failed_form_sign_in_shows_the_generic_message_and_keeps_no_password(
        client: TestClient) -> None:
    login = demo_login()
    login["password"] = "not-the-password-9"
    response = await client.post("/console/sign-in", data=login, allow_redirects=False)

    assert response.status == 401
    assert console_auth.COOKIE not in response.cookies
    page = await response.text()
    assert "match. Check them" in page and "not-the-password-9" not in page
    assert 'value="demo.agent"' in page
    incomplete = await client.post("/console/sign-in", data={"username": "demo.agent"})
    assert incomplete.status == 400 and "6-digit code" in await incomplete.text()


# --- the JSON API -----------------------------------------------------------------------


async def test_json_sign_in_returns_the_staff_member_and_a_csrf_token(client: TestClient) -> None:
    response = await client.post("/console/api/session", json=demo_login())

    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["staff"] == {"username": "demo.agent", "display_name": "Demo Agent",
                             "role": "supervisor"}
    assert len(body["csrf_token"]) == 64
    assert response.cookies[console_auth.COOKIE]["httponly"]
    again = await client.get("/console/api/session")
    assert again.status == 200 and await again.json() == body  # same shape, same token


async def test_json_sign_in_with_a_wrong_code_is_401(client: TestClient) -> None:
    login = demo_login()
    login["code"] = wrong_code(login["code"])
    response = await client.post("/console/api/session", json=login)

    assert response.status == 401
    assert await response.json() == {"error": SignInFailed.message}
    assert console_auth.COOKIE not in response.cookies


@pytest.mark.parametrize("kwargs", [
    {"data": "{not json", "headers": {"Content-Type": "application/json"}},
    {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
    {"json": ["demo.agent", "demo-agent-pass", "123456"]},
    {"json": {"username": "demo.agent", "password": "demo-agent-pass"}},
    {"json": {"username": "demo.agent", "password": 12345678901234, "code": "123456"}},
    {"data": {"username": "demo.agent", "password": "demo-agent-pass", "code": "123456"}},
])
async def test_a_malformed_json_sign_in_is_400_with_a_clear_message(
        kwargs: dict[str, Any], client: TestClient) -> None:
    response = await client.post("/console/api/session", **kwargs)

    assert response.status == 400
    assert "Send a JSON object" in (await response.json())["error"]


async def test_brute_force_locks_the_account_with_429(client: TestClient) -> None:
    login = demo_login()
    right = login["code"]
    statuses = []
    for _ in range(5):
        response = await client.post("/console/api/session",
                                     json={**login, "code": wrong_code(right)})
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 401, 429]

    locked = await client.post("/console/api/session", json=login)  # the right details now
    assert locked.status == 429
    assert "try again later" in (await locked.json())["error"]
    form = await client.post("/console/sign-in", data=login, allow_redirects=False)
    assert form.status == 429 and console_auth.COOKIE not in form.cookies


async def test_one_address_gets_a_limited_number_of_attempts(
        seeded: tuple[Path, str], tmp_path: Path, aiohttp_client: Callable[..., Any]) -> None:
    client = await make_client(settings_for(seeded, tmp_path, "http://testserver"), aiohttp_client,
                               limiter=SignInLimiter(limit=3))
    for _ in range(3):
        assert (await client.post("/console/api/session", json={})).status == 400

    refused = await client.post("/console/api/session", json=demo_login())
    assert refused.status == 429 and "Too many" in (await refused.json())["error"]
    form = await client.post("/console/sign-in", data=demo_login())
    assert form.status == 429


def test_the_address_limiter_forgets_attempts_after_its_window() -> None:
    limiter = SignInLimiter(limit=2, window_seconds=60)
    assert limiter.allow("10.0.0.1", now=0) and limiter.allow("10.0.0.1", now=1)
    assert not limiter.allow("10.0.0.1", now=59)
    assert limiter.allow("10.0.0.2", now=59)  # another address has its own count
    assert limiter.allow("10.0.0.1", now=60.5)


def shared_limiters(count: int, limit: int) -> list[SharedSignInLimiter]:
    """`count` web app replicas' limiters on the machine's Redis, under a prefix of their own."""
    prefix = f"limitertest{secrets.token_hex(4)}"
    return [SharedSignInLimiter("redis://127.0.0.1:6379/5", prefix, limit=limit, window_seconds=60)
            for _ in range(count)]


def test_replicas_share_one_count_per_address_through_redis() -> None:
    first, second = shared_limiters(2, limit=3)
    assert first.allow("10.0.0.1", now=1000) and second.allow("10.0.0.1", now=1001)
    assert first.allow("10.0.0.1", now=1002)
    assert not second.allow("10.0.0.1", now=1003)  # the third attempt was on the other replica
    assert second.allow("10.0.0.9", now=1003)  # another address has its own count
    assert first.allow("10.0.0.1", now=1060.5)  # the first attempt left the window
    keys = first.redis.keys(first.key_prefix + "*")
    assert keys and all(b"10.0.0" not in key for key in keys)  # addresses are hashed
    first.redis.delete(*keys)


def test_a_shared_limiter_counts_in_memory_while_redis_is_down() -> None:
    limiter = SharedSignInLimiter("redis://127.0.0.1:1/0", "down", limit=2, window_seconds=60)
    assert limiter.allow("10.0.0.1") and limiter.allow("10.0.0.1")
    assert not limiter.allow("10.0.0.1")  # still limited


def test_the_production_profile_shares_the_count_and_the_demo_keeps_it_in_memory() -> None:
    from autofinance.config import value

    assert value({}, "COUNTERS_URL") == ""
    assert value({"ASSISTANT_PROFILE": "production", "REDIS_HOST": "r.internal"},
                 "COUNTERS_URL") == "redis://r.internal:6379/1"


async def test_signing_out_needs_the_csrf_token(client: TestClient) -> None:
    signed_in = await client.post("/console/api/session", json=demo_login())
    csrf = (await signed_in.json())["csrf_token"]

    missing = await client.delete("/console/api/session")
    assert missing.status == 403 and "error" in await missing.json()
    wrong = await client.delete("/console/api/session", headers={"X-CSRF-Token": "é" + csrf[1:]})
    assert wrong.status == 403
    assert (await client.get("/console/api/session")).status == 200  # still signed in

    done = await client.delete("/console/api/session", headers={"X-CSRF-Token": csrf})
    assert done.status == 204
    assert done.cookies[console_auth.COOKIE].value == ""
    assert (await client.get("/console/api/session")).status == 401


async def test_the_sign_out_form_needs_the_csrf_token_then_ends_the_session(
        client: TestClient) -> None:
    signed_in = await client.post("/console/api/session", json=demo_login())
    csrf = (await signed_in.json())["csrf_token"]
    cookie = signed_in.cookies[console_auth.COOKIE].value

    forged = await client.post("/console/sign-out", data={}, allow_redirects=False)
    assert forged.status == 403
    response = await client.post("/console/sign-out", data={"csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/sign-in"
    replayed = await client.get("/console/api/session",
                                cookies={console_auth.COOKIE: cookie})  # the old cookie, kept
    assert replayed.status == 401


# --- the guard --------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", [None, "forged-token"])
async def test_the_api_without_a_session_is_401_json(
        cookie: str | None, client: TestClient) -> None:
    cookies = {console_auth.COOKIE: cookie} if cookie else None
    for path in ("/console/api/session", SUPERVISOR_ONLY):
        response = await client.get(path, cookies=cookies)
        assert response.status == 401
        assert "sign in again" in (await response.json())["error"]


async def test_a_page_without_a_session_redirects_to_sign_in(client: TestClient) -> None:
    response = await client.get(STAFF_PAGE, allow_redirects=False)

    assert response.status == 302
    assert response.headers["Location"] == "/console/sign-in"


async def test_a_page_with_a_session_is_served(client: TestClient) -> None:
    await client.post("/console/sign-in", data=demo_login(), allow_redirects=False)
    response = await client.get(STAFF_PAGE, allow_redirects=False)

    assert response.status == 200 and await response.text() == "hello Demo Agent"


async def test_supervisor_only_is_403_for_an_agent_and_200_for_a_supervisor(
        client: TestClient, agent_secret: str) -> None:
    assert (await client.post("/console/api/session", json=agent_login(agent_secret))).status == 200
    refused = await client.get(SUPERVISOR_ONLY)
    assert refused.status == 403
    assert await refused.json() == {"error": "Only a supervisor can do that."}

    assert (await client.post("/console/api/session", json=demo_login())).status == 200
    allowed = await client.get(SUPERVISOR_ONLY)
    assert allowed.status == 200 and await allowed.json() == {"ok": "demo.agent"}
