"""A socket.io client doing what the chat widget does, for the end-to-end tests."""
from __future__ import annotations

import asyncio
import subprocess
from typing import Any, Optional

import aiohttp
import socketio

from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT
from tests.e2e.conftest import RunningStack


def customer_id(running: RunningStack, account_number: str) -> int:
    script = ("from sqlalchemy import select; from autofinance.bootstrap import bootstrap; "
              "from autofinance.adapters.store.models import Account; c = bootstrap(); u = c.uow()\n"
              f"with u: print(u.session.scalar(select(Account.customer_id).where(Account.account_number == '{account_number}')))")
    out = subprocess.run([str(APP_PYTHON), "-c", script], cwd=PROJECT_ROOT, env=running.env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def widget_origin(running: RunningStack) -> str:
    return f"http://localhost:{running.env['WEB_PORT']}"


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

    async def send(self, text: str) -> None:
        """Sends without waiting for an answer (a paused conversation gives none)."""
        await self.client.emit("user_uttered", {"message": text, "metadata": {}})

    async def next_reply(self, timeout: float = 30) -> str:
        return (await asyncio.wait_for(self.replies.get(), timeout)).get("text", "")
