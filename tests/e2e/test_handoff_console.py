"""A person takes over a widget conversation from the console, and gives it back.

The whole path on the real services: the customer asks for a person on the widget's socket.io
channel; the demo agent signs in with password and TOTP, claims the ticket, reads the summary,
sees the customer's next message live on the console's websocket and replies; the reply reaches
the customer's widget; the agent resolves and the assistant answers the customer's next question.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import aiohttp
import pytest

from autofinance.config import Settings
from autofinance.adapters.portal_tokens import issue_token
from autofinance.demo.seed import DEMO_AGENT
from tests.e2e.conftest import RunningStack, demo_agent_code
from tests.e2e.widget import Widget, customer_id, widget_origin

pytestmark = pytest.mark.e2e


class Console:
    """The console's JSON API and websocket, as the console page uses them."""

    def __init__(self, running: RunningStack) -> None:
        self.base = running.url("web")
        # the cookie is set by 127.0.0.1; aiohttp's default jar ignores cookies from IP hosts
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self) -> dict[str, Any]:
        body = {"username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"],
                "code": demo_agent_code()}
        async with self.http.post(f"{self.base}/console/api/session", json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        self.csrf = answer["csrf_token"]
        return answer

    async def get(self, path: str) -> Any:
        async with self.http.get(f"{self.base}{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.post(f"{self.base}{path}", json=body or {},
                                  headers={"X-CSRF-Token": self.csrf}) as response:
            assert response.status == 200, await response.text()
            return await response.json()


@pytest.fixture
async def console(embedded_stack: RunningStack) -> AsyncIterator[Console]:
    console = Console(embedded_stack)
    yield console
    await console.http.close()


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str, check: Any) -> dict[str, Any]:
    """The first websocket message of `kind` that passes `check`."""
    async def wait() -> dict[str, Any]:
        while True:
            message = json.loads((await ws.receive()).data)
            if message.get("type") == kind and check(message):
                return message
    return await asyncio.wait_for(wait(), 30)


async def test_an_agent_takes_over_a_widget_conversation_and_hands_it_back(
    embedded_stack: RunningStack, console: Console,
) -> None:
    # Dana, so that no other test's conversation shares this one's sender id (portal-<id>)
    dana = customer_id(embedded_stack, "7301005530")
    widget = Widget(embedded_stack, widget_origin(embedded_stack))
    await widget.open(token=issue_token(dana, "Dana", Settings.from_env(embedded_stack.env)))
    try:
        # No agent is signed in yet: the ticket waits, and the customer is told so.
        asked = await widget.say("i need to talk to a real person")
        assert "No one from our support team is available" in asked and "ticket HT" in asked

        staff = (await console.sign_in())["staff"]
        assert staff["username"] == "demo.agent"
        ws = await console.http.ws_connect(f"{console.base}/console/ws")
        queue = await _until(ws, "queue", lambda m: m["tickets"])
        ticket = next(t for t in queue["tickets"] if t["customer"].startswith("Dana"))
        number = ticket["ticket_number"]
        assert number in asked and ticket["reason"] == "customer_request"

        await console.post(f"/console/api/tickets/{number}/claim")
        detail = await console.get(f"/console/api/tickets/{number}")
        assert "verified as Dana" in detail["summary"]
        assert "****5530" in json.dumps(detail["account"]) and "7301005530" not in json.dumps(detail)
        await ws.send_json({"type": "watch", "ticket": number})

        # The assistant is paused now: the customer's message reaches the agent, not the bot.
        await widget.send("my payment went out twice this month")
        live = await _until(ws, "transcript", lambda m: any(
            "went out twice" in line["text"] for line in m["lines"]))
        assert live["ticket"] == number
        with pytest.raises(asyncio.TimeoutError):
            await widget.next_reply(timeout=3)  # and the assistant did not talk over the agent

        await console.post(f"/console/api/tickets/{number}/reply",
                           {"text": "Hi Dana, I can see both debits. I'm reversing one now."})
        assert "reversing one now" in await widget.next_reply()

        await console.post(f"/console/api/tickets/{number}/resolve")
        assert "anything else I can help with" in await widget.next_reply()
        answer = await widget.say("what's my balance")
        assert "$9,870.10" in answer
        await ws.close()

        # With an agent on line, the next customer is told they are being connected.
        connected = embedded_stack.say("rest-handoff-2", "can I speak with a human")
        assert any("connecting you" in text for text in connected)
    finally:
        await widget.close()
        if console.csrf:  # signed out, so later tests find nobody on line
            async with console.http.delete(f"{console.base}/console/api/session",
                                           headers={"X-CSRF-Token": console.csrf}):
                pass
