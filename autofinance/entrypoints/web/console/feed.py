"""The console's live feed (/console/ws): the queue when it changes, new lines of a watched ticket.

A page sends `{"type": "watch", "ticket": "HT..."}` (or "unwatch"); the socket pushes JSON
`queue`, `transcript`, `transcript_error` and `error` messages, and closes with
CLOSE_SIGNED_OUT once the console session ends.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Optional
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from autofinance.adapters.rasa_api import RasaUnavailable
from autofinance.entrypoints.web.console import auth
from autofinance.entrypoints.web.console.common import RASA_DOWN, plain, run
from autofinance.entrypoints.web.keys import RASA
from autofinance.services import console as service
from autofinance.services.errors import ServiceError
from autofinance.services.staff import StaffPrincipal

logger = logging.getLogger(__name__)

QUEUE_POLL_SECONDS = 2.0  # module constants so tests can shorten them
TRANSCRIPT_POLL_SECONDS = 1.0
# How often an open socket re-checks its session. Each check counts as activity (so an open
# console keeps its agent "online" for hand-offs); sign-out or expiry closes the socket.
SESSION_CHECK_SECONDS = 30.0
CLOSE_SIGNED_OUT = 4401  # websocket close code: the console session ended


async def live_updates(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise web.HTTPForbidden(text="Cross-site websocket refused.")
    staff = await auth.require_staff(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    await _Feed(request, ws, staff).run()
    return ws


def _same_origin(request: web.Request) -> bool:
    """A browser always sends Origin on a websocket: refuse other sites (cross-site hijacking)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc.lower() == request.host.lower()


class _Feed:
    """One socket's pushes: the queue when it changes, and new lines of the watched ticket."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, staff: StaffPrincipal) -> None:
        self._request, self._ws, self._staff = request, ws, staff
        self._send_lock = asyncio.Lock()  # two tasks write to one socket
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: Optional[asyncio.Task[None]] = None

    async def run(self) -> None:
        self._start(self._push_queue())
        try:
            async for message in self._ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_message(message.data)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Awaitable[None]) -> None:
        """A poller that fails closes the socket (the page reconnects) instead of going quiet."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:
            pass  # the page went away mid-send: nothing to tell anyone
        except web.HTTPException:
            await self._ws.close(code=CLOSE_SIGNED_OUT, message=b"signed out")
        except Exception:
            logger.exception("console websocket poller failed")
            await self._ws.close(code=1011, message=b"server error")

    async def _send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            if not self._ws.closed:
                await self._ws.send_json(plain(payload))

    async def _on_message(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("type") not in {"watch", "unwatch"}:
            await self._send({"type": "error", "error": 'Send {"type": "watch", "ticket": "HT..."}.'})
            return
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        ticket = message.get("ticket")
        if message["type"] == "watch" and isinstance(ticket, str) and ticket:
            self._watch = self._start(self._push_transcript(ticket))

    async def _push_queue(self) -> None:
        """Sends the queue whenever it changes, and ends the socket when the session ends."""
        loop = asyncio.get_running_loop()
        last: Optional[list[dict[str, Any]]] = None
        checked = loop.time()
        while True:
            if loop.time() - checked >= SESSION_CHECK_SECONDS:
                await auth.require_staff(self._request)
                checked = loop.time()
            tickets = plain(await run(self._request, service.queue, self._staff))
            shape = [{**ticket, "waiting_seconds": None} for ticket in tickets]  # the clock ticks
            if shape != last:
                await self._send({"type": "queue", "tickets": tickets})
                last = shape
            await asyncio.sleep(QUEUE_POLL_SECONDS)

    async def _push_transcript(self, ticket: str) -> None:
        """New lines of one conversation, while the viewer may still open the ticket."""
        last_seq, rasa_down = -1, False
        while True:
            try:
                conversation = await run(self._request, service.conversation_of, ticket, self._staff)
            except ServiceError as error:
                await self._send({"type": "error", "ticket": ticket, "error": error.message})
                return
            try:
                lines = await self._request.app[RASA].transcript(conversation)
            except RasaUnavailable:
                if not rasa_down:
                    await self._send({"type": "transcript_error", "ticket": ticket, "error": RASA_DOWN})
                rasa_down = True
            else:
                rasa_down = False
                new = [line for line in lines if line.seq > last_seq]
                if new:
                    await self._send({"type": "transcript", "ticket": ticket, "lines": new})
                    last_seq = new[-1].seq
            await asyncio.sleep(TRANSCRIPT_POLL_SECONDS)
