"""The support console over HTTP: pages, the JSON API, the websocket, against a fake Rasa."""
from __future__ import annotations

import asyncio
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from autofinance.bootstrap import Container, bootstrap
from autofinance.config import Settings
from autofinance.adapters.rasa_api import RasaUnavailable, TranscriptLine
from autofinance.adapters.security import hash_password
from autofinance.adapters.sealing import seal_at_rest
from autofinance.demo.seed import DEMO_AGENT, seed_demo
from autofinance.services.handoff import open_ticket
from autofinance.services.staff import authenticator
from autofinance.adapters.store.models import Account, AuditLog, Base, ConversationStart, HandoffTicket, StaffUser
from autofinance.entrypoints.web.console import feed
from autofinance.entrypoints.web.app import create_app

SUPERVISOR_SECRET = DEMO_AGENT["totp_secret"]
AGENTS = {"alice": ("Alice Agent", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"),
          "bob": ("Bob Agent", "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK")}
AGENT_PASSWORD = "agent-test-pass-123"
SCRIPT = "<script>alert(1)</script> wants a person"
MARIA = "7301004821"


@dataclass
class Staff:
    """Headers that make a request come from one signed-in staff member."""

    cookie: dict[str, str]
    csrf: str

    @property
    def post(self) -> dict[str, str]:
        return {**self.cookie, "X-CSRF-Token": self.csrf}


class FakeRasa:
    """In memory: records every call; a test appends transcript lines and can take it down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lines: dict[str, list[TranscriptLine]] = defaultdict(list)
        self.down = False
        self.on_hand_back: Optional[Callable[[str], None]] = None

    def say(self, conversation_id: str, sender: str, text: str, agent_name: str = "") -> None:
        lines = self.lines[conversation_id]
        seq = lines[-1].seq + 2 if lines else 1  # Rasa's seq counts every event, not only lines
        lines.append(TranscriptLine(seq, sender, text, datetime.now(timezone.utc), agent_name))

    def _call(self, *call: str) -> None:
        if self.down:
            raise RasaUnavailable("Rasa could not be reached")
        self.calls.append(call)

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        self._call("transcript", conversation_id)
        return list(self.lines[conversation_id])

    async def send_agent_message(self, conversation_id: str, text: str, agent_name: str) -> None:
        self._call("send_agent_message", conversation_id, text, agent_name)
        self.say(conversation_id, "agent", text, agent_name)

    async def pause(self, conversation_id: str) -> None:
        self._call("pause", conversation_id)

    async def hand_back(self, conversation_id: str) -> None:
        self._call("hand_back", conversation_id)
        if self.on_hand_back is not None:
            self.on_hand_back(conversation_id)

    async def release(self, conversation_id: str) -> None:
        self._call("release", conversation_id)

    def made(self, name: str) -> list[tuple[str, ...]]:
        return [call for call in self.calls if call[0] == name]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed once (argon2 is slow by design), with two agents; each test gets its own copy."""
    path = tmp_path_factory.mktemp("console") / "seeded.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    container = bootstrap(settings)
    Base.metadata.create_all(container.engine)
    with container.uow() as uow:
        seed_demo(uow.session, datetime.now(ZoneInfo(settings.lender_timezone)).date(), settings)
        for username, (name, secret) in AGENTS.items():
            uow.session.add(StaffUser(username=username, display_name=name, role="agent",
                                      password_hash=hash_password(AGENT_PASSWORD),
                                      totp_secret=seal_at_rest(secret, settings.secret_pepper)))
        uow.commit()
    container.close()
    return path


@pytest.fixture
def settings(seeded: Path, tmp_path: Path) -> Settings:
    shutil.copyfile(seeded, tmp_path / "web.db")
    return Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}", public_base_url="http://testserver")


@pytest.fixture
def store(settings: Settings) -> Any:
    container = bootstrap(settings)
    yield container
    container.close()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
async def client(settings: Settings, rasa: FakeRasa, aiohttp_client: Callable[..., Any]) -> TestClient:
    return await aiohttp_client(create_app(settings, rasa=rasa))  # type: ignore[arg-type]


async def sign_in(client: TestClient, username: str) -> Staff:
    password, secret = ("demo-agent-pass", SUPERVISOR_SECRET) if username == "demo.agent" else (
        AGENT_PASSWORD, AGENTS[username][1])
    response = await client.post("/console/api/session", json={
        "username": username, "password": password, "code": authenticator(secret, demo_mode=True).now()})
    assert response.status == 200, await response.text()
    body = await response.json()
    token = response.cookies["meridian_console"].value
    client.session.cookie_jar.clear()  # every request names its staff member explicitly
    return Staff(cookie={"Cookie": f"meridian_console={token}"}, csrf=body["csrf_token"])


@pytest.fixture
async def alice(client: TestClient) -> Staff:
    return await sign_in(client, "alice")


@pytest.fixture
async def bob(client: TestClient) -> Staff:
    return await sign_in(client, "bob")


@pytest.fixture
async def supervisor(client: TestClient) -> Staff:
    return await sign_in(client, "demo.agent")


def queue_ticket(store: Container, reason: str = "customer_request", summary: str = "Asked for a person.",
                 conversation: str = "conv-1", customer: Optional[str] = None) -> str:
    customer_id = None
    if customer is not None:
        with store.uow() as uow:
            customer_id = uow.session.scalar(
                select(Account.customer_id).where(Account.account_number == customer))
    return open_ticket(conversation, "rest", reason, summary, customer_id, store.uow()).ticket_number


def ticket_state(store: Container, number: str) -> tuple[str, Optional[str]]:
    with store.uow() as uow:
        status, holder = uow.session.execute(
            select(HandoffTicket.status, StaffUser.username)
            .outerjoin(StaffUser, StaffUser.id == HandoffTicket.assigned_staff_id)
            .where(HandoffTicket.ticket_number == number)).one()
        return status, holder


def audit(store: Container, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with store.uow() as uow:
        return [(row.actor, row.subject, row.details) for row in uow.session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


async def claim(client: TestClient, staff: Staff, number: str) -> aiohttp.ClientResponse:
    return await client.post(f"/console/api/tickets/{number}/claim", headers=staff.post)


# --- pages and static files ------------------------------------------------------------------


async def test_signed_out_the_page_redirects_to_sign_in_and_the_api_answers_401(client: TestClient) -> None:
    page = await client.get("/console", allow_redirects=False)
    api = await client.get("/console/api/queue")

    assert (page.status, page.headers["Location"]) == (302, "/console/sign-in")
    assert api.status == 401 and "error" in await api.json()


async def test_customer_text_is_served_escaped_in_the_page(
        client: TestClient, store: Container, alice: Staff) -> None:
    queue_ticket(store, summary=SCRIPT)

    response = await client.get("/console", headers=alice.cookie)

    page = await response.text()
    assert response.status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; wants a person" in page
    assert "<script>alert(" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'name="csrf_token" value="' + alice.csrf + '"' in page
    assert '<script src="/console/static/console.js"' in page and 'href="/console/metrics"' not in page


async def test_the_script_builds_the_page_with_text_only_and_is_served_locally(client: TestClient) -> None:
    script = await client.get("/console/static/console.js")
    style = await client.get("/console/static/console.css")

    code = await script.text()
    assert script.status == 200 and style.status == 200
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert unsafe not in code
    assert "textContent" in code and "X-CSRF-Token" in code
    assert not re.search(r"https?://", code)  # no CDN, nothing from elsewhere


# --- queue and claim -------------------------------------------------------------------------


async def test_the_queue_order_and_what_each_role_sees(
        client: TestClient, store: Container, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    confused = queue_ticket(store, "misunderstanding", conversation="c-confused")
    fraud = queue_ticket(store, "fraud", conversation="c-fraud", customer=MARIA)
    asked = queue_ticket(store, "customer_request", conversation="c-asked")
    assert (await claim(client, bob, fraud)).status == 200

    async def numbers(staff: Staff) -> list[tuple[str, Optional[str]]]:
        body = await (await client.get("/console/api/queue", headers=staff.cookie)).json()
        return [(ticket["ticket_number"], ticket["assigned_to"]) for ticket in body["tickets"]]

    assert await numbers(alice) == [(asked, None), (confused, None)]
    assert await numbers(bob) == [(fraud, "Bob Agent"), (asked, None), (confused, None)]
    assert await numbers(supervisor) == [(fraud, "Bob Agent"), (asked, None), (confused, None)]
    body = await (await client.get("/console/api/queue", headers=bob.cookie)).json()
    assert body["tickets"][0]["customer"] == "Maria L." and body["tickets"][0]["mine"] is True


async def test_of_two_claims_at_once_exactly_one_wins_and_the_other_gets_409(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff, bob: Staff) -> None:
    number = queue_ticket(store)

    responses = await asyncio.gather(claim(client, alice, number), claim(client, bob, number))

    assert sorted(response.status for response in responses) == [200, 409]
    winner = "alice" if responses[0].status == 200 else "bob"
    loser = responses[1] if winner == "alice" else responses[0]
    assert "has already claimed this ticket" in (await loser.json())["error"]
    assert ticket_state(store, number) == ("claimed", winner)
    assert rasa.made("pause") == [("pause", "conv-1")]  # the assistant is silenced once
    assert len(audit(store, "ticket_claimed")) == 1


async def test_a_claim_stands_with_a_warning_when_rasa_cannot_pause(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    rasa.down = True

    response = await claim(client, alice, number)

    body = await response.json()
    assert response.status == 200 and body["ticket"]["status"] == "claimed"
    assert "could not be paused" in body["warning"]
    assert ticket_state(store, number) == ("claimed", "alice")


async def test_claiming_needs_csrf_and_an_existing_ticket(
        client: TestClient, store: Container, alice: Staff) -> None:
    number = queue_ticket(store)

    no_token = await client.post(f"/console/api/tickets/{number}/claim", headers=alice.cookie)
    unknown = await claim(client, alice, "HT00000000")

    assert no_token.status == 403 and "error" in await no_token.json()
    assert unknown.status == 404 and (await unknown.json())["error"].startswith("There is no")
    assert ticket_state(store, number) == ("queued", None)


# --- detail, transcript, reply -----------------------------------------------------------------


async def test_detail_has_the_masked_account_notes_and_the_transcript(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store, "hardship", customer=MARIA)
    rasa.say("conv-1", "customer", "I lost my job")
    rasa.say("conv-1", "assistant", "I'm sorry to hear that.")

    response = await client.get(f"/console/api/tickets/{number}", headers=alice.cookie)

    body = await response.json()
    assert response.status == 200
    assert (body["ticket_number"], body["reason"], body["customer"]) == (number, "hardship", "Maria L.")
    assert body["customer_name"] == "Maria Lopez"
    assert body["account"]["account_masked"] == "****4821" and body["account"]["product"] == "loan"
    assert body["account"]["principal_balance"] == "18420.55"  # exact, as a decimal string
    assert MARIA not in await response.text() and "conv-1" not in await response.text()
    assert [(line["seq"], line["sender"], line["text"]) for line in body["transcript"]] == [
        (1, "customer", "I lost my job"), (3, "assistant", "I'm sorry to hear that.")]
    assert "transcript_error" not in body


async def test_detail_of_a_customer_with_a_loan_and_a_lease_lists_both_masked(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store, customer="7301009911")  # Alex Morgan: a loan and a lease

    response = await client.get(f"/console/api/tickets/{number}", headers=alice.cookie)

    body = await response.json()
    assert response.status == 200
    assert [(a["product"], a["account_masked"], a["vehicle"]) for a in body["accounts"]] == [
        ("loan", "****9911", "2021 Toyota Camry"), ("lease", "****9922", "2023 Honda CR-V")]
    assert body["account"]["account_masked"] == "****9911"
    assert "7301009911" not in await response.text() and "7301009922" not in await response.text()


async def test_detail_without_rasa_says_the_transcript_is_unavailable(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    rasa.down = True

    body = await (await client.get(f"/console/api/tickets/{number}", headers=alice.cookie)).json()

    assert body["ticket_number"] == number and body["status"] == "queued"
    assert body["transcript"] == [] and "not answering" in body["transcript_error"]


async def test_an_agent_cannot_open_or_reply_to_another_agents_ticket(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff, bob: Staff) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)

    opened = await client.get(f"/console/api/tickets/{number}", headers=bob.cookie)
    replied = await client.post(f"/console/api/tickets/{number}/reply", headers=bob.post,
                                json={"text": "Hi, Bob here"})
    resolved = await client.post(f"/console/api/tickets/{number}/resolve", headers=bob.post)

    assert (opened.status, replied.status, resolved.status) == (403, 403, 403)
    assert "Another agent holds this ticket" in (await opened.json())["error"]
    assert rasa.made("send_agent_message") == [] and rasa.made("hand_back") == []
    assert ticket_state(store, number) == ("claimed", "alice")


async def test_a_reply_needs_the_csrf_token(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)

    missing = await client.post(f"/console/api/tickets/{number}/reply", headers=alice.cookie,
                                json={"text": "Hello"})
    wrong = await client.post(f"/console/api/tickets/{number}/reply",
                              headers={**alice.cookie, "X-CSRF-Token": "forged"}, json={"text": "Hello"})

    assert (missing.status, wrong.status) == (403, 403)
    assert rasa.made("send_agent_message") == []


async def test_a_reply_reaches_the_customer_with_the_agents_name_and_is_audited_without_its_text(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)

    response = await client.post(f"/console/api/tickets/{number}/reply", headers=alice.post,
                                 json={"text": "  Hi, I'm Alice. How can I help?  "})

    assert response.status == 200 and await response.json() == {"sent": True}
    assert rasa.made("send_agent_message") == [
        ("send_agent_message", "conv-1", "Hi, I'm Alice. How can I help?", "Alice Agent")]
    [(actor, subject, details)] = audit(store, "ticket_reply_sent")
    assert subject == number and actor.startswith("staff:") and details == {"length": 30}


@pytest.mark.parametrize("payload, status", [
    ({"text": "   "}, 400), ({"text": "x" * 1001}, 400), ({"words": "hello"}, 400), ({"text": 5}, 400),
    (None, 400),
])
async def test_a_reply_must_be_json_with_1_to_1000_characters(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff,
        payload: Optional[dict[str, Any]], status: int) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)
    path = f"/console/api/tickets/{number}/reply"

    if payload is None:
        response = await client.post(path, headers=alice.post, data="{not json")
    else:
        response = await client.post(path, headers=alice.post, json=payload)

    assert response.status == status and "error" in await response.json()
    assert rasa.made("send_agent_message") == []


async def test_a_reply_to_an_unclaimed_ticket_or_with_rasa_down_is_refused(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    path = f"/console/api/tickets/{number}/reply"
    unclaimed = await client.post(path, headers=alice.post, json={"text": "Hello"})
    await claim(client, alice, number)
    rasa.down = True

    down = await client.post(path, headers=alice.post, json={"text": "Hello"})

    assert unclaimed.status == 409 and "Claim this ticket" in (await unclaimed.json())["error"]
    assert down.status == 502 and "not delivered" in (await down.json())["error"]
    assert audit(store, "ticket_reply_sent") == []


# --- notes -------------------------------------------------------------------------------------


async def test_notes_are_validated_stored_and_audited(
        client: TestClient, store: Container, alice: Staff) -> None:
    number = queue_ticket(store)
    path = f"/console/api/tickets/{number}/notes"

    empty = await client.post(path, headers=alice.post, json={"body": "  "})
    too_long = await client.post(path, headers=alice.post, json={"body": "n" * 2001})
    added = await client.post(path, headers=alice.post, json={"body": " Customer <b>angry</b> "})
    detail = await (await client.get(f"/console/api/tickets/{number}", headers=alice.cookie)).json()

    assert (empty.status, too_long.status, added.status) == (400, 400, 201)
    assert "between 1 and 2000" in (await empty.json())["error"]
    assert (await added.json())["note"]["body"] == "Customer <b>angry</b>"
    assert [(note["author"], note["body"]) for note in detail["notes"]] == [
        ("Alice Agent", "Customer <b>angry</b>")]
    [(_, subject, details)] = audit(store, "ticket_note_added")
    assert (subject, details) == (number, {"length": 21})


# --- resolve and close -----------------------------------------------------------------------


async def test_resolve_hands_back_first_then_marks_the_ticket_resolved(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)
    seen_at_hand_back: list[tuple[str, Optional[str]]] = []
    rasa.on_hand_back = lambda _conversation: seen_at_hand_back.append(ticket_state(store, number))

    response = await client.post(f"/console/api/tickets/{number}/resolve", headers=alice.post)

    assert response.status == 200 and (await response.json())["ticket"]["status"] == "resolved"
    assert rasa.made("hand_back") == [("hand_back", "conv-1")]
    assert seen_at_hand_back == [("claimed", "alice")]
    assert ticket_state(store, number) == ("resolved", "alice")
    assert [details for _, _, details in audit(store, "ticket_resolved")] == [{"previous_status": "claimed"}]


async def test_resolve_with_rasa_down_answers_502_and_the_ticket_stays_claimed(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)
    rasa.down = True

    response = await client.post(f"/console/api/tickets/{number}/resolve", headers=alice.post)

    assert response.status == 502 and "was not resolved" in (await response.json())["error"]
    assert ticket_state(store, number) == ("claimed", "alice")
    assert audit(store, "ticket_resolved") == []


async def test_close_releases_the_conversation_and_closes_the_ticket(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff, supervisor: Staff) -> None:
    held = queue_ticket(store, conversation="conv-held")
    waiting = queue_ticket(store, conversation="conv-waiting")
    await claim(client, alice, held)

    by_holder = await client.post(f"/console/api/tickets/{held}/close", headers=alice.post)
    by_agent = await client.post(f"/console/api/tickets/{waiting}/close", headers=alice.post)
    by_supervisor = await client.post(f"/console/api/tickets/{waiting}/close", headers=supervisor.post)
    again = await client.post(f"/console/api/tickets/{waiting}/close", headers=supervisor.post)

    assert (by_holder.status, by_agent.status, by_supervisor.status, again.status) == (200, 409, 200, 409)
    assert rasa.made("release") == [("release", "conv-held"), ("release", "conv-waiting")]
    assert ticket_state(store, held)[0] == ticket_state(store, waiting)[0] == "closed"


# --- metrics -----------------------------------------------------------------------------------


async def test_metrics_are_for_supervisors_as_json_and_as_a_page_with_charts(
        client: TestClient, store: Container, alice: Staff, supervisor: Staff) -> None:
    queue_ticket(store, "fraud", conversation="c-1")
    queue_ticket(store, "fraud", conversation="c-2")
    with store.uow() as uow:
        uow.session.add_all([ConversationStart(conversation_id=f"c-{i}", channel="rest") for i in range(1, 5)])
        uow.commit()

    as_agent = await client.get("/console/api/metrics", headers=alice.cookie)
    page_as_agent = await client.get("/console/metrics", headers=alice.cookie)
    body = await (await client.get("/console/api/metrics?days=7", headers=supervisor.cookie)).json()
    bad = await client.get("/console/api/metrics?days=0", headers=supervisor.cookie)
    page = await client.get("/console/metrics", headers=supervisor.cookie)

    assert (as_agent.status, page_as_agent.status, bad.status) == (403, 403, 400)
    assert (body["days"], body["handoffs"], body["per_reason"]["fraud"], body["waiting_now"]) == (7, 2, 2, 2)
    assert (body["sessions"], body["contained_sessions"], body["containment"]) == (4, 2, 0.5)
    assert len(body["per_day"]) == 7 and body["per_day"][-1]["count"] == 2
    html = await page.text()
    assert page.status == 200 and html.count("<svg") == 2 and 'class="bar"' in html
    assert '<dd id="containment">50%</dd>' in html and '<dd id="handoffs">2</dd>' in html
    assert body["reminders"] == {"sent": 0, "delivered": 0, "answered": 0, "paid_within_48h": 0}
    assert '<dd id="reminders-sent">0</dd>' in html


# --- websocket ---------------------------------------------------------------------------------


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "QUEUE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(feed, "TRANSCRIPT_POLL_SECONDS", 0.05)


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive_json(), timeout=5)
        if message["type"] == kind:
            return message


async def test_the_websocket_pushes_the_queue_and_only_new_transcript_lines(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff, fast_polls: None) -> None:
    first = queue_ticket(store, summary=SCRIPT)
    rasa.say("conv-1", "customer", "hello?")

    async with client.ws_connect("/console/ws", headers=alice.cookie) as ws:
        queue = await next_of(ws, "queue")
        assert [ticket["summary"] for ticket in queue["tickets"]] == [SCRIPT]  # JSON; the page escapes
        second = queue_ticket(store, "fraud", conversation="conv-2")
        queue = await next_of(ws, "queue")
        assert [ticket["ticket_number"] for ticket in queue["tickets"]] == [second, first]

        await ws.send_json({"type": "watch", "ticket": first})
        lines = (await next_of(ws, "transcript"))["lines"]
        assert [(line["seq"], line["text"]) for line in lines] == [(1, "hello?")]
        rasa.say("conv-1", "customer", "anyone there?")
        update = await next_of(ws, "transcript")
        assert (update["ticket"], [(line["seq"], line["sender"], line["text"]) for line in update["lines"]]) == (
            first, [(3, "customer", "anyone there?")])


async def test_the_websocket_refuses_a_ticket_the_viewer_may_not_open(
        client: TestClient, store: Container, alice: Staff, bob: Staff, fast_polls: None) -> None:
    number = queue_ticket(store)
    await claim(client, alice, number)

    async with client.ws_connect("/console/ws", headers=bob.cookie) as ws:
        await ws.send_json({"type": "watch", "ticket": number})
        error = await next_of(ws, "error")
        await ws.send_str("not json")
        garbage = await next_of(ws, "error")

    assert error["ticket"] == number and "Another agent holds" in error["error"]
    assert "watch" in garbage["error"]


async def test_the_websocket_tells_when_rasa_is_down(
        client: TestClient, store: Container, rasa: FakeRasa, alice: Staff, fast_polls: None) -> None:
    number = queue_ticket(store)
    rasa.down = True

    async with client.ws_connect("/console/ws", headers=alice.cookie) as ws:
        await ws.send_json({"type": "watch", "ticket": number})
        error = await next_of(ws, "transcript_error")

    assert error["ticket"] == number and "not answering" in error["error"]


async def test_the_websocket_needs_a_session_and_the_same_origin(
        client: TestClient, alice: Staff) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as signed_out:
        await client.ws_connect("/console/ws")
    with pytest.raises(aiohttp.WSServerHandshakeError) as cross_site:
        await client.ws_connect("/console/ws", headers=alice.cookie, origin="http://evil.example")
    same_site = await client.ws_connect("/console/ws", headers=alice.cookie,
                                        origin=f"http://{client.host}:{client.port}")

    assert (signed_out.value.status, cross_site.value.status) == (401, 403)
    assert (await next_of(same_site, "queue"))["tickets"] == []
    await same_site.close()


async def test_signing_out_ends_the_websocket(
        client: TestClient, alice: Staff, fast_polls: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "SESSION_CHECK_SECONDS", 0.05)

    async with client.ws_connect("/console/ws", headers=alice.cookie) as ws:
        await next_of(ws, "queue")
        signed_out = await client.delete("/console/api/session", headers=alice.post)
        closing = await asyncio.wait_for(ws.receive(), timeout=5)

    assert signed_out.status == 204
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, feed.CLOSE_SIGNED_OUT)
