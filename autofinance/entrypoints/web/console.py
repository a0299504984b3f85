"""The support console: queue, tickets, live transcript, reply, notes, resolve/close, metrics.

The rules live in `services.console`; this module only asks `console_auth` who is signed in,
checks CSRF on every POST, turns service errors into JSON `{"error": ...}` with a status, and
talks to Rasa. Order matters where Rasa is involved: a resolve first hands the conversation back and only
then marks the ticket, so a Rasa outage leaves the ticket claimed rather than a customer stuck
with a silent assistant. Customer text reaches the browser as JSON or autoescaped HTML only.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Awaitable, Callable, Literal, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import WSMsgType, web

from autofinance.bootstrap import Container
from autofinance.adapters.rasa_api import RasaClient, RasaUnavailable
from autofinance.services import console as service
from autofinance.services.errors import (
    InvalidMetricsPeriod,
    InvalidNote,
    InvalidReply,
    ServiceError,
    TicketAlreadyClaimed,
    TicketNotClaimed,
    TicketNotFound,
    TicketNotOpen,
    TicketNotYours,
)
from autofinance.services.staff import StaffPrincipal
from autofinance.entrypoints.web import console_auth

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
QUEUE_POLL_SECONDS = 2.0  # module constants so tests can shorten them
TRANSCRIPT_POLL_SECONDS = 1.0
# How often an open socket re-checks its session. Each check counts as activity (so an open
# console keeps its agent "online" for hand-offs); sign-out or expiry closes the socket.
SESSION_CHECK_SECONDS = 30.0
RASA_DOWN = "The conversation service is not answering right now. Please try again in a moment."
CLOSE_SIGNED_OUT = 4401  # websocket close code: the console session ended

_STATUS: dict[type[ServiceError], int] = {
    TicketNotFound: 404, TicketNotYours: 403, TicketAlreadyClaimed: 409, TicketNotClaimed: 409,
    TicketNotOpen: 409, InvalidNote: 400, InvalidReply: 400, InvalidMetricsPeriod: 400,
}
_PRIVATE = {"Cache-Control": "no-store"}
_PAGE_HEADERS = {
    **_PRIVATE,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"),
}

ApiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- plumbing ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Dataclasses, dates and money as JSON-ready values (money as an exact decimal string)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(_plain(data), status=status, headers=_PRIVATE)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


def _api(handler: ApiHandler) -> ApiHandler:
    """Every API answer is JSON: expected errors with their status, anything else a bare 500."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ServiceError as error:
            return _error(_STATUS.get(type(error), 400), error.message)
        except web.HTTPException:
            raise  # sign-in and CSRF refusals: console_auth shapes them
        except Exception:
            logger.exception("console API %s %s failed", request.method, request.path)
            return _error(500, "Something went wrong. Please reload the console.")

    return wrapped


def _container(request: web.Request) -> Container:
    from autofinance.entrypoints.web.app import CONTAINER  # app imports the routes: import late

    return request.app[CONTAINER]


def _rasa(request: web.Request) -> RasaClient:
    from autofinance.entrypoints.web.app import RASA

    return request.app[RASA]


async def _store(request: web.Request, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs a service function off the event loop, with a fresh unit of work as its `uow`."""
    return await asyncio.to_thread(function, *args, uow=_container(request).uow(), **kwargs)


async def _post_guard(request: web.Request) -> StaffPrincipal:
    """The signed-in staff member, after the CSRF header of this POST checked out."""
    staff = await console_auth.require_staff(request)
    console_auth.require_csrf(request, request.headers.get("X-CSRF-Token"))
    return staff


class _BadRequest(ServiceError):
    """A malformed request rather than a broken business rule: 400."""


async def _body_text(request: web.Request, field: str) -> str:
    try:
        body = await request.json()
    except ValueError:  # not JSON, or not UTF-8
        raise _BadRequest("The request body must be JSON.") from None
    value = body.get(field) if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise _BadRequest(f'The request body needs a "{field}" text field.')
    return value


def _today(request: web.Request) -> date:
    return datetime.now(ZoneInfo(_container(request).settings.lender_timezone)).date()


def _number(request: web.Request) -> str:
    return request.match_info["number"]


# --- pages ---------------------------------------------------------------------------------


def _page(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers.update(_PAGE_HEADERS)
    return response


async def console_page(request: web.Request) -> web.Response:
    """The console; the queue is rendered on the server too, so it shows before the script runs."""
    staff = await console_auth.require_staff(request)
    tickets = await _store(request, service.queue, staff)
    return _page(request, "console.html", {
        "staff": staff, "tickets": tickets, "csrf_token": console_auth.csrf_token(request)})


def bar_chart(counts: list[tuple[str, int]], width: int = 560, height: int = 160) -> dict[str, Any]:
    """Geometry of a plain SVG bar chart (one bar per label, its count above it), computed here
    so the template only draws: no script and no external library on the metrics page."""
    top, pad = max((count for _, count in counts), default=0) or 1, 16
    slot = width / max(len(counts), 1)
    every = -(-len(counts) // 20) or 1  # at most 20 captions, so 90 days stay readable
    bars = []
    for index, (label, count) in enumerate(counts):
        bar_height = round(height * count / top, 1)
        y = round(pad + height - bar_height, 1)
        bars.append({"label": label, "count": count, "captioned": index % every == 0,
                     "x": round(index * slot + slot * 0.15, 1),
                     "y": y, "width": round(slot * 0.7, 1), "height": bar_height,
                     "center": round((index + 0.5) * slot, 1), "value_y": round(y - 4, 1)})
    return {"width": width, "total_height": pad + height + 24, "axis_y": pad + height,
            "label_y": pad + height + 16, "bars": bars}


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "no claims yet"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


async def metrics_page(request: web.Request) -> web.Response:
    staff = await console_auth.require_staff(request, supervisor=True)
    try:
        result = await _store(request, service.metrics, days=_days(request))
    except InvalidMetricsPeriod as error:
        raise web.HTTPBadRequest(text=error.message) from None
    return _page(request, "console_metrics.html", {
        "staff": staff, "metrics": result, "csrf_token": console_auth.csrf_token(request),
        "per_day": bar_chart([(day.day.strftime("%m-%d"), day.count) for day in result.per_day]),
        "per_reason": bar_chart([(reason.replace("_", " "), count)
                                 for reason, count in result.per_reason.items()], width=720),
        "average_wait": _duration(result.average_wait_seconds),
        "median_wait": _duration(result.median_wait_seconds),
        "containment": "no sessions yet" if result.containment is None
        else f"{result.containment:.0%}",
    })


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "14")
    if not raw.isdigit():
        raise InvalidMetricsPeriod()
    return int(raw)


# --- JSON API ------------------------------------------------------------------------------


@_api
async def api_queue(request: web.Request) -> web.StreamResponse:
    staff = await console_auth.require_staff(request)
    return _json({"tickets": await _store(request, service.queue, staff)})


@_api
async def api_claim(request: web.Request) -> web.StreamResponse:
    """Claims, then pauses the assistant (it may have resumed if the ticket waited for hours)."""
    staff = await _post_guard(request)
    view = await _store(request, service.claim, _number(request), staff)
    conversation = await _store(request, service.conversation_of, _number(request), staff)
    answer: dict[str, Any] = {"ticket": view}
    try:
        await _rasa(request).pause(conversation)
    except RasaUnavailable:
        answer["warning"] = ("The ticket is yours, but the assistant could not be paused: "
                             "it may still answer the customer. " + RASA_DOWN)
    return _json(answer)


@_api
async def api_ticket(request: web.Request) -> web.StreamResponse:
    staff = await console_auth.require_staff(request)
    detail = await _store(request, service.ticket_detail, _number(request), staff,
                          today=_today(request))
    conversation = await _store(request, service.conversation_of, _number(request), staff)
    answer = _plain(detail)
    answer.update(answer.pop("ticket"))  # one flat object: the ticket's fields and the extras
    try:
        answer["transcript"] = _plain(await _rasa(request).transcript(conversation))
    except RasaUnavailable:
        answer["transcript"], answer["transcript_error"] = [], RASA_DOWN
    return _json(answer)


@_api
async def api_reply(request: web.Request) -> web.StreamResponse:
    """Speaks to the customer as the agent; only the holder of the ticket may."""
    staff = await _post_guard(request)
    text = service.clean_reply(await _body_text(request, "text"))
    conversation = await _store(request, service.conversation_of, _number(request), staff,
                                action="reply")
    try:
        await _rasa(request).send_agent_message(conversation, text, staff.display_name)
    except RasaUnavailable:
        return _error(502, "Your reply was not delivered. " + RASA_DOWN)
    await _store(request, service.reply_sent, _number(request), staff, len(text))
    return _json({"sent": True})


@_api
async def api_note(request: web.Request) -> web.StreamResponse:
    staff = await _post_guard(request)
    body = await _body_text(request, "body")
    return _json({"note": await _store(request, service.add_note, _number(request), staff, body)},
                 status=201)


async def _finish(request: web.Request, action: Literal["resolve", "close"]) -> web.StreamResponse:
    """Resolve or close: Rasa first, so a failure there changes nothing in the store."""
    staff = await _post_guard(request)
    conversation = await _store(request, service.conversation_of, _number(request), staff,
                                action=action)
    rasa = _rasa(request)
    try:
        await (rasa.hand_back if action == "resolve" else rasa.release)(conversation)
    except RasaUnavailable:
        return _error(502, f"The ticket was not {action}d: the assistant could not take the "
                           f"conversation back. {RASA_DOWN}")
    finish = service.resolve if action == "resolve" else service.close
    return _json({"ticket": await _store(request, finish, _number(request), staff)})


@_api
async def api_resolve(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "resolve")


@_api
async def api_close(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "close")


@_api
async def api_metrics(request: web.Request) -> web.StreamResponse:
    await console_auth.require_staff(request, supervisor=True)
    return _json(await _store(request, service.metrics, days=_days(request)))


# --- websocket -----------------------------------------------------------------------------


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
                await self._ws.send_json(_plain(payload))

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
                await console_auth.require_staff(self._request)
                checked = loop.time()
            tickets = _plain(await _store(self._request, service.queue, self._staff))
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
                conversation = await _store(self._request, service.conversation_of, ticket, self._staff)
            except ServiceError as error:
                await self._send({"type": "error", "ticket": ticket, "error": error.message})
                return
            try:
                lines = await _rasa(self._request).transcript(conversation)
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


async def live_updates(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise web.HTTPForbidden(text="Cross-site websocket refused.")
    staff = await console_auth.require_staff(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    await _Feed(request, ws, staff).run()
    return ws


def setup(app: web.Application) -> None:
    """Adds the console pages, its JSON API, the websocket and its static files."""
    app.router.add_get("/console", console_page, name="console")
    app.router.add_get("/console/metrics", metrics_page, name="console_metrics")
    app.router.add_get("/console/api/queue", api_queue)
    app.router.add_get("/console/api/metrics", api_metrics)
    app.router.add_get("/console/api/tickets/{number}", api_ticket)
    app.router.add_post("/console/api/tickets/{number}/claim", api_claim)
    app.router.add_post("/console/api/tickets/{number}/reply", api_reply)
    app.router.add_post("/console/api/tickets/{number}/notes", api_note)
    app.router.add_post("/console/api/tickets/{number}/resolve", api_resolve)
    app.router.add_post("/console/api/tickets/{number}/close", api_close)
    app.router.add_get("/console/ws", live_updates)
    app.router.add_static("/console/static", STATIC, name="console_static")
