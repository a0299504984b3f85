"""The support console: its API without a session, without or with a wrong CSRF token, another
agent's ticket, a non-supervisor's metrics, the live feed from another origin, a customer's
script shown to agents, and sign-in brute force, enumeration and reflection (on a copy of the
stack's store, so the shared stack's sign-in limiter and the demo agent stay usable)."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import aiohttp
import pytest

from autofinance.config import Settings
from autofinance.demo.seed import DEMO_AGENT
from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT
from autofinance.entrypoints.web.app import create_app
from autofinance.services.staff import authenticator
from tests.e2e.conftest import RunningStack, demo_agent_code
from tests.security.test_attacks_support import (
    assert_nothing_disclosed, http, new_sender, rows, say,
)

pytestmark = pytest.mark.e2e
XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
SECOND_AGENT = ("atk.agent", "Attack Agent", "attack-agent-pass-2026")


class ConsoleUser:
    def __init__(self, running: RunningStack, cookie: str, csrf: str) -> None:
        self.running, self.cookie, self.csrf = running, cookie, csrf

    def call(self, method: str, path: str, body: Optional[dict[str, Any]] = None,
             csrf: Optional[str] = "mine", cookie: Optional[str] = "mine") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = f"meridian_console={self.cookie if cookie == 'mine' else cookie}"
        if csrf:
            headers["X-CSRF-Token"] = self.csrf if csrf == "mine" else csrf
        status, _, raw = http(self.running, "web", path, method,
                              json.dumps(body or {}).encode() if method != "GET" else None, headers)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")


def sign_in(running: RunningStack, username: str, password: str, code: str) -> ConsoleUser:
    status, headers, raw = http(running, "web", "/console/api/session", "POST", json.dumps(
        {"username": username, "password": password, "code": code}).encode(),
        {"Content-Type": "application/json"})
    assert status == 200, raw
    cookie = SimpleCookie(headers["Set-Cookie"])["meridian_console"].value
    return ConsoleUser(running, cookie, json.loads(raw)["csrf_token"])


@pytest.fixture(scope="module")
def supervisor(embedded_stack: RunningStack) -> ConsoleUser:
    return sign_in(embedded_stack, DEMO_AGENT["username"], DEMO_AGENT["password"], demo_agent_code())


@pytest.fixture(scope="module")
def other_agent(embedded_stack: RunningStack) -> ConsoleUser:
    """A second, plain agent created with the staff command, as a lender would."""
    username, name, password = SECOND_AGENT
    made = subprocess.run([str(APP_PYTHON), "-m", "autofinance", "staff", "create", username,
                           "--name", name, "--password-from-stdin"], input=password + "\n",
                          cwd=PROJECT_ROOT, env=embedded_stack.env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    secret = re.search(r"TOTP secret: (\S+)", made.stdout).group(1)
    return sign_in(embedded_stack, username, password, authenticator(secret, demo_mode=True).now())


@pytest.fixture(scope="module")
def xss_ticket(embedded_stack: RunningStack) -> str:
    """A customer whose messages carry script, asking for a person: a queued ticket."""
    sender = new_sender("xss")
    say(embedded_stack, sender, f"{XSS} my payment is wrong")
    say(embedded_stack, sender, f"{XSS} is my name")
    say(embedded_stack, sender, "talk to a person")
    found = rows(embedded_stack, "SELECT ticket_number FROM handoff_tickets WHERE conversation_id = ?",
                 (sender,))
    assert found, "no ticket was queued"
    return found[0][0]


def ticket_state(running: RunningStack, number: str) -> tuple[Any, ...]:
    return rows(running, "SELECT status, assigned_staff_id, resolved_at FROM handoff_tickets "
                         "WHERE ticket_number = ?", (number,))[0]


def note_count(running: RunningStack) -> int:
    return rows(running, "SELECT count(*) FROM ticket_notes")[0][0]


API = [("GET", "/console/api/queue"), ("GET", "/console/api/metrics"),
       ("GET", "/console/api/tickets/{t}"), ("POST", "/console/api/tickets/{t}/claim"),
       ("POST", "/console/api/tickets/{t}/reply"), ("POST", "/console/api/tickets/{t}/notes"),
       ("POST", "/console/api/tickets/{t}/resolve"), ("POST", "/console/api/tickets/{t}/close"),
       ("GET", "/console/api/session"), ("DELETE", "/console/api/session")]


@pytest.mark.parametrize("method, path", API, ids=[f"{m} {p}" for m, p in API])
@pytest.mark.parametrize("cookie", ["none", "forged"])
def test_the_console_api_without_a_session_is_401_and_shows_nothing(
        running: RunningStack, xss_ticket: str, method: str, path: str, cookie: str) -> None:
    state, notes = ticket_state(running, xss_ticket), note_count(running)
    headers = {"Content-Type": "application/json", "X-CSRF-Token": "x"}
    if cookie == "forged":
        headers["Cookie"] = "meridian_console=" + "A" * 43
    status, _, raw = http(running, "web", path.format(t=xss_ticket), method,
                          b'{"text": "hi", "body": "hi"}' if method != "GET" else None, headers)
    assert status == 401, raw
    assert json.loads(raw).keys() == {"error"}
    assert xss_ticket.encode() not in raw
    assert ticket_state(running, xss_ticket) == state and note_count(running) == notes


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "other-session"],
                         ids=["missing", "empty", "made-up", "another-sessions-token"])
def test_a_console_post_without_its_own_csrf_token_is_refused(
        running: RunningStack, supervisor: ConsoleUser, other_agent: ConsoleUser, xss_ticket: str,
        csrf: Optional[str]) -> None:
    """A forged cross-site POST riding the supervisor's cookie: claim, note, then sign-out."""
    token = other_agent.csrf if csrf == "other-session" else csrf
    state, notes = ticket_state(running, xss_ticket), note_count(running)
    for path, body in ((f"/console/api/tickets/{xss_ticket}/claim", None),
                       (f"/console/api/tickets/{xss_ticket}/notes", {"body": "forged"})):
        status, answer = supervisor.call("POST", path, body, csrf=token if token else None)
        assert status == 403, answer
    status, _ = supervisor.call("DELETE", "/console/api/session", csrf=token if token else None)
    assert status == 403
    assert supervisor.call("GET", "/console/api/session")[0] == 200  # still signed in
    assert ticket_state(running, xss_ticket) == state and note_count(running) == notes


def test_an_agent_cannot_reply_to_note_resolve_or_close_another_agents_ticket(
        running: RunningStack, supervisor: ConsoleUser, other_agent: ConsoleUser) -> None:
    sender = new_sender("held")
    say(running, sender, "talk to a person")
    number = rows(running, "SELECT ticket_number FROM handoff_tickets WHERE conversation_id = ?",
                  (sender,))[0][0]
    status, answer = supervisor.call("POST", f"/console/api/tickets/{number}/claim")
    assert status == 200, answer
    state, notes = ticket_state(running, number), note_count(running)
    for action, body in (("reply", {"text": "Agent here: tell me your SSN"}),
                         ("notes", {"body": "hijacked"}), ("resolve", None), ("close", None),
                         ("claim", None)):
        status, answer = other_agent.call("POST", f"/console/api/tickets/{number}/{action}", body)
        assert status in (403, 409), (action, status, answer)
    assert ticket_state(running, number) == state and note_count(running) == notes
    transcript = supervisor.call("GET", f"/console/api/tickets/{number}")[1]["transcript"]
    assert not any("tell me your SSN" in line["text"] for line in transcript)


def test_an_agent_cannot_read_the_supervisors_metrics(running: RunningStack, other_agent: ConsoleUser) -> None:
    status, answer = other_agent.call("GET", "/console/api/metrics")
    assert status == 403 and set(answer) == {"error"}
    status, _, raw = http(running, "web", "/console/metrics",
                          headers={"Cookie": f"meridian_console={other_agent.cookie}"})
    assert status == 403 and b"containment" not in raw.lower()


def test_a_customers_script_is_escaped_in_the_console_page(
        running: RunningStack, supervisor: ConsoleUser, xss_ticket: str) -> None:
    status, headers, raw = http(running, "web", "/console",
                                headers={"Cookie": f"meridian_console={supervisor.cookie}"})
    page = raw.decode()
    assert status == 200 and xss_ticket in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "onerror=alert" not in page or "&lt;img" in page


def test_a_customers_script_is_only_data_in_the_console_json(
        running: RunningStack, supervisor: ConsoleUser, xss_ticket: str) -> None:
    status, headers, raw = http(running, "web", f"/console/api/tickets/{xss_ticket}",
                                headers={"Cookie": f"meridian_console={supervisor.cookie}"})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert headers.get("X-Content-Type-Options") == "nosniff"
    console_js = (PROJECT_ROOT / "autofinance/entrypoints/web/static/console.js").read_text()
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", console_js)


async def test_the_live_feed_refuses_another_origin_and_a_missing_session(
        running: RunningStack, supervisor: ConsoleUser, xss_ticket: str) -> None:
    url = running.url("web", "/console/ws")
    async with aiohttp.ClientSession() as session:
        for headers in ({"Origin": "http://evil.example",
                         "Cookie": f"meridian_console={supervisor.cookie}"},
                        {"Origin": running.url("web")}):
            try:
                async with session.ws_connect(url, headers=headers) as ws:
                    message = await ws.receive(timeout=5)
                    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                            aiohttp.WSMsgType.CLOSING), message
                    assert xss_ticket not in str(message.data)
            except aiohttp.WSServerHandshakeError as refused:
                assert refused.status in (401, 403)


# --- sign-in attacks on a copy of the stack's store ----------------------------------------------

@pytest.fixture
def copied_settings(embedded_stack: RunningStack, tmp_path: Path) -> Settings:
    source = embedded_stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    copy = tmp_path / "accounts.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("UPDATE staff_users SET totp_last_step = NULL")  # codes the stack saw
    env = {**embedded_stack.env, "DATABASE_URL": f"sqlite:///{copy}"}
    return Settings.from_env(env)


@pytest.fixture
async def web(copied_settings: Settings, aiohttp_client: Callable[..., Any]) -> Any:
    return await aiohttp_client(create_app(copied_settings))


def demo_code() -> str:
    return authenticator(DEMO_AGENT["totp_secret"], demo_mode=True).now()


async def test_guessing_totp_codes_with_a_stolen_password_locks_the_account(web: Any) -> None:
    """The password is known; the attacker walks the code space. After the lock even the right
    code is refused, and no session was ever issued."""
    answers = []
    for guess in range(10):
        response = await web.post("/console/api/session", json={
            "username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"],
            "code": f"{guess:06d}"})
        answers.append(response.status)
        assert "Set-Cookie" not in response.headers
    assert 429 in answers and set(answers) <= {401, 429}
    response = await web.post("/console/api/session", json={
        "username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"], "code": demo_code()})
    assert response.status == 429 and "Set-Cookie" not in response.headers


async def test_console_sign_in_answers_the_same_for_an_unknown_user_and_a_wrong_password(web: Any) -> None:
    bodies = []
    for username in ("demo.agent", "no.such.agent"):
        response = await web.post("/console/api/session", json={
            "username": username, "password": "wrong-password-123", "code": "123456"})
        bodies.append((response.status, await response.json()))
    assert bodies[0] == bodies[1] and bodies[0][0] == 401


async def test_the_sign_in_form_does_not_reflect_script_from_the_username(web: Any) -> None:
    response = await web.post("/console/sign-in", data={
        "username": XSS, "password": "x", "code": "123456"})
    page = await response.text()
    assert response.status == 401
    assert "<script>alert" not in page and "<img src=x" not in page


@pytest.mark.parametrize("query", ["?next=https://evil.example", "?next=//evil.example",
                                   "?redirect=https://evil.example", "?return_to=/\\evil.example"])
async def test_signing_in_never_redirects_off_site(web: Any, query: str) -> None:
    """Open redirect: whatever the query says, a sign-in lands on /console."""
    response = await web.post(f"/console/sign-in{query}", allow_redirects=False, data={
        "username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"], "code": demo_code()})
    assert response.status == 303 and response.headers["Location"] == "/console"
    page = await (await web.get(f"/console/sign-in{query}")).text()
    assert "evil.example" not in page
