"""The widget's socket.io channel as a browser uses it: replies reach the page (the room fix),
a portal token signs the customer in, a bad token or a foreign origin is refused."""
from __future__ import annotations

import asyncio
import subprocess
from typing import Any, Optional

import aiohttp
import pytest
import socketio

from autofinance.config import Settings
from autofinance.portal_tokens import issue_token
from autofinance.stack import APP_PYTHON, PROJECT_ROOT
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(embedded_stack: RunningStack) -> RunningStack:
    return embedded_stack


def _customer_id(running: RunningStack, account_number: str) -> int:
    script = ("from sqlalchemy import select; from autofinance.bootstrap import bootstrap; "
              "from autofinance.store.models import Account; c = bootstrap(); u = c.uow()\n"
              f"with u: print(u.session.scalar(select(Account.customer_id).where(Account.account_number == '{account_number}')))")
    out = subprocess.run([str(APP_PYTHON), "-c", script], cwd=PROJECT_ROOT, env=running.env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


class Widget:
    """A socket.io client doing what the chat widget does."""

    def __init__(self, running: RunningStack, origin: str) -> None:
        self.url, self.origin = running.url("rasa"), origin
        self.http = aiohttp.ClientSession()
        self.client = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.client.on("bot_uttered", self.replies.put_nowait)
        self.client.on("session_confirm", lambda sid: self.session.done() or self.session.set_result(sid))

    async def open(self, token: Optional[str] = None, session_id: Optional[str] = None) -> str:
        await self.client.connect(self.url, headers={"Origin": self.origin}, transports=["websocket"],
                                  auth={"token": token} if token else None, wait_timeout=10)
        await self.client.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.session, 10)

    async def close(self) -> None:
        await self.client.disconnect()
        await self.http.close()

    async def say(self, text: str, metadata: Optional[dict[str, Any]] = None) -> str:
        await self.client.emit("user_uttered", {"message": text, "metadata": metadata or {}})
        first = await asyncio.wait_for(self.replies.get(), 60)
        texts = [first.get("text", "")]
        while True:
            try:
                texts.append((await asyncio.wait_for(self.replies.get(), 2)).get("text", ""))
            except asyncio.TimeoutError:
                return " ".join(texts)


def _origin(running: RunningStack) -> str:
    return f"http://localhost:{running.env['WEB_PORT']}"


async def test_an_anonymous_visitor_hears_the_assistant_and_is_asked_to_verify(running: RunningStack) -> None:
    widget = Widget(running, _origin(running))
    session = await widget.open(session_id="portal-1")  # a visitor cannot pick a portal id
    assert not session.startswith("portal-")
    reply = await widget.say("what's my balance", metadata={"portal_token": "x", "customer_id": 1})
    assert "account number" in reply.lower() and "$" not in reply
    await widget.close()


async def test_a_signed_in_customer_is_greeted_and_sees_the_balance_without_a_code(running: RunningStack) -> None:
    maria = _customer_id(running, "7301004821")
    token = issue_token(maria, "Maria", Settings.from_env(running.env))
    widget = Widget(running, _origin(running))
    assert await widget.open(token=token) == f"portal-{maria}"
    reply = await widget.say("what's my balance")
    assert "Hi Maria" in reply and "$18,420.55" in reply
    await widget.close()


async def test_a_bad_token_or_a_foreign_origin_cannot_connect(running: RunningStack) -> None:
    for widget, token in ((Widget(running, _origin(running)), "not-a-valid-token"),
                          (Widget(running, "http://evil.example"), None)):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await widget.open(token=token)
        await widget.close()
