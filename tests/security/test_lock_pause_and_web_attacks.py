"""Attacks on a fraud report's lock, on a claimed hand-off's pause and on the web app.

- The fraud lock: after a verified fraud report, whoever holds the chat (the fraudster, often)
  asks for sign-in help or a reset link, or uses a link sent before the report. Nothing may lift
  the lock but the fraud team (a supervisor in the console), and that leaves an audit row.
- The pause, against the real services (the e2e stack): while an agent holds the ticket the
  customer tries `/restart`, `/session_start`, nonsense that makes Rasa's dialogue fallback
  rewind the turn, and ordinary questions. The assistant stays silent while the console still
  shows every message; once the agent resolves the ticket it answers again.
- The web app: every answer (pages, JSON, redirects, errors, the router's 404 and 405, static
  files) carries the security headers and no server version; staff routes need a session and,
  for changes, the CSRF token; static files and documents can't be reached by path tricks.
"""
from __future__ import annotations

import json
import re
import secrets
import urllib.request
from typing import Any, AsyncIterator, Callable, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from yarl import URL

from actions import runtime
from actions.cases import ActionSubmitFraudReport
from actions.online_access import ActionLoginHelp, ActionSendPasswordReset
from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.models import AuditLog, OnlineCredential, OutboxMessage, StaffUser
from autofinance.bootstrap import Container
from autofinance.config import Settings
from autofinance.demo.seed import DEMO_AGENT
from autofinance.entrypoints.web import routes
from autofinance.entrypoints.web.app import DEFAULT_CSP, create_app
from autofinance.services import online_access
from autofinance.services.errors import InvalidResetLink, OnlineAccessHeld
from autofinance.services.staff import authenticator
from tests.actions.conftest import make_tracker, run, texts, verify
from tests.e2e.conftest import RunningStack
from tests.e2e.test_handoff_console import Console
from tests.web.test_console_api import (  # noqa: F401 - fixtures: a seeded store, the app, staff
    FakeRasa, Staff, alice, client, rasa, seeded, settings, sign_in, store, supervisor,
)

MARIA, ROBERT = ("7301004821", "30309"), ("7301009912", "77002")
REPORT = {"fraud_description": "someone changed my email and made a payment", "fraud_when": "today"}
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": {"same-origin", "no-referrer"}}


# --- the fraud lock ---------------------------------------------------------------------------


@pytest.fixture
def chat(store: Container) -> Iterator[Container]:  # noqa: F811
    """The actions run against the same store as the web app."""
    runtime.set_container(store)
    yield store
    runtime.set_container(None)


def _state(store: Container, username: str) -> tuple[Any, ...]:
    """The credential's lock and the mail and audit trail: what a refusal must leave alone."""
    with store.uow() as uow:
        s = uow.session
        credential = s.scalars(select(OnlineCredential).where(OnlineCredential.username == username)).one()
        return (credential.locked, credential.failed_sign_ins, credential.password_hash,
                s.scalar(select(func.count()).select_from(OutboxMessage)),
                s.scalar(select(func.count()).select_from(AuditLog)))


def _kinds_sent(store: Container) -> list[str]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


async def _report_fraud(conversation: str) -> str:
    _, messages = await run(ActionSubmitFraudReport(), make_tracker(conversation, REPORT, intent="inform"))
    found = re.search(r"fraud case (FR[A-Z2-7]{8})", texts(messages))
    assert found and "locked your online access" in texts(messages), texts(messages)
    return found.group(1)


async def test_after_a_verified_fraud_report_chat_neither_unlocks_nor_sends_a_reset_link(
    chat: Container,
) -> None:
    verify(chat, "maria-chat", *MARIA)
    await _report_fraud("maria-chat")
    before = _state(chat, "mlopez")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="login_help", text="I can't log in")

    for action in (ActionLoginHelp(), ActionSendPasswordReset()):
        events, messages = await run(action, tracker)
        assert texts(messages) == OnlineAccessHeld.message  # nothing about unlocks or links
        assert "fraud team will contact you" in OnlineAccessHeld.message
        assert messages[0]["buttons"] == [{"title": "Talk to a person", "payload": "/human_handoff"}]
        assert events == []
    assert _state(chat, "mlopez") == before  # still locked, nothing sent, nothing audited
    assert "password_reset" not in _kinds_sent(chat)


async def test_a_reset_link_sent_before_the_report_no_longer_works(
    chat: Container, client: TestClient,  # noqa: F811
) -> None:
    verify(chat, "maria-chat", *MARIA)
    await run(ActionSendPasswordReset(), make_tracker("maria-chat", {"verified": True}))
    with chat.uow() as uow:
        body = readable_body(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "password_reset")).one(), chat.settings.secret_pepper) or ""
    token = re.search(r"token=([A-Za-z0-9_-]{43})", body).group(1)
    await _report_fraud("maria-chat")

    page = await client.get(f"/reset-password?token={token}")
    posted = await client.post("/reset-password", data={
        "token": token, "password": "Blue-Harbor-Kite-42", "confirm": "Blue-Harbor-Kite-42"})
    assert (page.status, posted.status) == (400, 400)
    with pytest.raises(InvalidResetLink):
        online_access.reset_password(token, "Blue-Harbor-Kite-42", chat.uow(), chat.settings.secret_pepper)
    assert _state(chat, "mlopez")[0] is True


async def test_only_a_supervisor_lifts_a_fraud_lock_and_it_is_audited(
    chat: Container, client: TestClient, alice: Staff, supervisor: Staff,  # noqa: F811
) -> None:
    verify(chat, "maria-chat", *MARIA)
    case = await _report_fraud("maria-chat")
    path = f"/console/api/fraud-cases/{case}/clear"

    assert (await client.post(path)).status == 401  # signed out
    assert (await client.post(path, headers=supervisor.cookie)).status == 403  # no CSRF token
    assert (await client.post(path, headers=alice.post)).status == 403  # an agent
    assert _state(chat, "mlopez")[0] is True

    cleared = await client.post(path, headers=supervisor.post)
    assert cleared.status == 200, await cleared.text()
    assert (await cleared.json())["fraud_case"]["unlocked_online_access"] is True
    assert _state(chat, "mlopez")[0] is False
    with chat.uow() as uow:
        actors = list(uow.session.scalars(select(AuditLog.actor).where(
            AuditLog.action == "fraud_case_cleared", AuditLog.subject == f"fraud_case:{case}")))
        demo_agent = uow.session.scalar(select(StaffUser.id).where(StaffUser.username == "demo.agent"))
    assert actors == [f"staff:{demo_agent}"]
    assert (await client.post(path, headers=supervisor.post)).status == 409  # closed once
    assert (await client.post("/console/api/fraud-cases/FRAAAAAAAA/clear",
                              headers=supervisor.post)).status == 404


async def test_an_ordinary_failed_sign_in_lock_is_still_lifted_in_chat(chat: Container) -> None:
    verify(chat, "robert-chat", *ROBERT)
    _, messages = await run(ActionLoginHelp(), make_tracker("robert-chat", {"verified": True}))
    assert "locked after 5 failed sign-ins" in texts(messages) and "unlocked" in texts(messages)
    assert _state(chat, "rokafor")[0] is False and "password_reset" in _kinds_sent(chat)


# --- the pause of a claimed hand-off (the running stack) ----------------------------------------

ATTEMPTS = ("/restart", "/session_start", "/restart", "zxqv blorp qwerty flimflam",
            "/back", "what are your hours?", "/greet", "what's my balance")


@pytest.fixture
async def console(running: RunningStack) -> AsyncIterator[Console]:
    """The demo agent, signed in to the running stack's console."""
    console = Console(running)
    await console.sign_in()
    yield console
    async with console.http.delete(f"{console.base}/console/api/session",
                                   headers={"X-CSRF-Token": console.csrf}):
        pass  # signed out, so later tests find nobody on line
    await console.http.close()


def _ticket_number(texts: list[str]) -> str:
    found = re.search(r"\bticket (HT[0-9A-F]{8})\b", " ".join(texts))
    assert found, texts
    return found.group(1)


async def _customer_lines(console: Console, number: str) -> list[str]:
    detail: dict[str, Any] = await console.get(f"/console/api/tickets/{number}")
    return [line["text"] for line in detail["transcript"] if line["sender"] == "customer"]


@pytest.mark.e2e
async def test_a_claimed_handoff_cannot_be_unpaused_by_anything_the_customer_sends(
    running: RunningStack, console: Console,
) -> None:
    sender = f"rest-pause-{secrets.token_hex(4)}"
    number = _ticket_number(running.say(sender, "I want to talk to a person"))
    await console.post(f"/console/api/tickets/{number}/claim")

    for text in ATTEMPTS:
        assert running.say(sender, text) == [], f"the assistant answered {text!r}"
    seen = await _customer_lines(console, number)  # the agent still sees every message
    assert len(seen) == 1 + len(ATTEMPTS), seen  # ('/restart' shows as "[button] restart")
    assert all(text in seen for text in ATTEMPTS if not text.startswith("/")), seen

    await console.post(f"/console/api/tickets/{number}/resolve")
    assert running.say(sender, "what are your hours?") != []  # handed back: it answers again


@pytest.mark.e2e
async def test_a_claim_whose_pause_was_lost_is_still_silent_on_restart_and_a_new_session(
    running: RunningStack, console: Console,
) -> None:
    """The store, not the tracker, decides: even a conversation Rasa no longer shows as paused
    (the pause lost on the way) is re-paused by `/restart` and by a new session."""
    sender = f"rest-lost-{secrets.token_hex(4)}"
    number = _ticket_number(running.say(sender, "I want to talk to a person"))
    await console.post(f"/console/api/tickets/{number}/claim")
    _resume_behind_the_consoles_back(running, sender)

    assert running.say(sender, "/restart") == []
    for text in ("/session_start", "what are your hours?", "zxqv blorp qwerty flimflam"):
        assert running.say(sender, text) == [], f"the assistant answered {text!r}"
    await console.post(f"/console/api/tickets/{number}/resolve")
    assert running.say(sender, "what are your hours?") != []


def _resume_behind_the_consoles_back(running: RunningStack, sender: str) -> None:
    """Appends a resume to the tracker through Rasa's API, as a lost pause would leave it."""
    request = urllib.request.Request(
        running.url("rasa", f"/conversations/{sender}/tracker/events")
        + f"?token={running.env['RASA_API_TOKEN']}",
        data=json.dumps([{"event": "resume"}, {"event": "action", "name": "action_listen"}]).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


# --- the web app's headers ----------------------------------------------------------------------

PARAMS = {"number": "HT00000000", "document_id": "statement-1", "case_number": "FRAAAAAAAA",
          "reference": "HS00000000", "action": "claim",
          "name": "widget.js"}


def _path(route: web.AbstractRoute) -> str:
    info = route.resource.get_info() if route.resource else {}
    if "prefix" in info:  # a static directory
        return f"{info['prefix']}/console.js"
    template = info.get("path") or info.get("formatter")
    return str(template).format(**PARAMS)


def _check_headers(response: Any, what: str) -> None:
    headers = response.headers
    for name, expected in HEADERS.items():
        allowed = expected if isinstance(expected, set) else {expected}
        assert headers.get(name) in allowed, (what, name, headers.get(name))
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src" in policy, (what, policy)
    assert headers.get("Server") == "Meridian", (what, headers.get("Server"))


@pytest.fixture
async def web_client(settings: Settings, rasa: FakeRasa,  # noqa: F811
                     aiohttp_client: Callable[..., Any]) -> TestClient:
    """The web app (demo mode, so its demo routes too) plus one handler that breaks."""
    app = create_app(settings, rasa=rasa)  # type: ignore[arg-type]

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app.router.add_get("/__broken", broken)
    return await aiohttp_client(app)


async def test_every_route_in_the_table_answers_with_the_security_headers(web_client: TestClient) -> None:
    checked = set()
    for route in web_client.app.router.routes():
        if route.method == "HEAD" or _path(route) == "/__broken":
            continue
        response = await web_client.request(route.method, _path(route), allow_redirects=False)
        _check_headers(response, f"{route.method} {_path(route)} -> {response.status}")
        checked.add((route.method, route.resource.canonical))
    table = {(r.method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", r.path)) if isinstance(r, web.RouteDef)
             else ("GET", r.prefix) for r in routes.ROUTES + routes.DEMO_ROUTES}
    assert table <= checked, table - checked


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/no-such-page", 404),
    ("PUT", "/health", 405),
    ("GET", "/console", 302),  # a redirect raised by the handler
    ("POST", "/demo/sign-out", 403),  # an error raised by the handler (no Origin)
    ("GET", "/console/static/console.js", 200),
    ("GET", "/static/widget.css", 200),
    ("GET", "/__broken", 500),
])
async def test_errors_redirects_and_static_files_carry_them_too(
    web_client: TestClient, method: str, path: str, status: int,
) -> None:
    response = await web_client.request(method, path, allow_redirects=False)
    assert response.status == status
    _check_headers(response, f"{method} {path}")
    assert "aiohttp" not in response.headers.get("Server", "").lower()
    assert "a bug" not in await response.text()


async def test_pages_that_need_more_keep_their_policy_and_the_rest_get_the_strict_default(
    web_client: TestClient, supervisor: Staff,  # noqa: F811
) -> None:
    home = await web_client.get("/")
    console = await web_client.get("/console", headers=supervisor.cookie)
    health = await web_client.get("/health")
    assert "script-src 'self'" in home.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in console.headers["Content-Security-Policy"]
    assert health.headers["Content-Security-Policy"] == DEFAULT_CSP
    assert "script-src" not in DEFAULT_CSP and "default-src 'none'" in DEFAULT_CSP


# --- staff routes, CSRF, redirects and paths ----------------------------------------------------


def _console_routes(client: TestClient) -> list[tuple[str, str]]:
    return [(route.method, _path(route)) for route in client.app.router.routes()
            if _path(route).startswith("/console") and route.method != "HEAD"
            and not _path(route).startswith("/console/static")]


PUBLIC_CONSOLE = {("GET", "/console/sign-in"), ("POST", "/console/sign-in"),
                  ("POST", "/console/api/session"), ("POST", "/console/sign-out")}


async def test_no_staff_route_answers_without_a_session(web_client: TestClient) -> None:
    for method, path in _console_routes(web_client):
        if (method, path) in PUBLIC_CONSOLE:
            continue
        response = await web_client.request(method, path, allow_redirects=False)
        assert response.status in {401, 302}, (method, path, response.status)
        if response.status == 302:
            assert response.headers["Location"] == "/console/sign-in"


async def test_no_staff_change_goes_through_without_the_csrf_token(
    web_client: TestClient, supervisor: Staff,  # noqa: F811
) -> None:
    for method, path in _console_routes(web_client):
        if method == "GET" or (method, path) in PUBLIC_CONSOLE - {("POST", "/console/sign-out")}:
            continue
        for headers in (supervisor.cookie, {**supervisor.cookie, "X-CSRF-Token": "0" * 64}):
            response = await web_client.request(method, path, headers=headers, allow_redirects=False)
            assert response.status == 403, (method, path, response.status)
    assert (await web_client.get("/console/api/session", headers=supervisor.cookie)).status == 200


async def test_an_agent_gets_no_supervisor_page(web_client: TestClient, alice: Staff) -> None:  # noqa: F811
    for path in ("/console/metrics", "/console/api/metrics"):
        assert (await web_client.get(path, headers=alice.cookie)).status == 403


async def _raw_get(client: TestClient, path: str) -> Any:
    """GET the path exactly as written: no client-side normalising of dots or slashes."""
    url = URL(str(client.make_url("/")).rstrip("/") + path, encoded=True)
    return await client.session.get(url, allow_redirects=False)


@pytest.mark.parametrize("path", [
    "/console/static/../app.py", "/console/static/%2e%2e/app.py", "/console/static/..%2fapp.py",
    "/console/static/%2e%2e%2f%2e%2e%2fconfig.py", "/console/static/../templates/base.html",
    "/console/static/", "/console/static/.", "/static/widget.js/../../app.py",
    "/static/vendor/../../app.py", "/documents/..%2f..%2fetc%2fpasswd", "/documents/..%2fapp.py",
])
async def test_no_file_outside_the_static_folder_is_served(web_client: TestClient, path: str) -> None:
    response = await _raw_get(web_client, path)
    body = await response.text()
    assert response.status in {403, 404}, (path, response.status)
    assert "import" not in body and "{% block" not in body


@pytest.mark.parametrize("path", ["//evil.example/", "/\\evil.example/", "/console/sign-in?next=//evil.example"])
async def test_no_redirect_leads_off_the_site(web_client: TestClient, path: str) -> None:
    response = await _raw_get(web_client, path)
    location = response.headers.get("Location", "")
    assert "evil" not in location and not location.startswith("//")


async def test_signing_in_always_lands_on_the_console(web_client: TestClient) -> None:
    response = await web_client.post("/console/sign-in?next=https://evil.example/", data={
        "username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"],
        "code": authenticator(DEMO_AGENT["totp_secret"], demo_mode=True).now(),
        "next": "https://evil.example/"}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/console")
