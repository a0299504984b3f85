"""The console's JSON API under /console/api/: queue, ticket, claim, reply, notes, resolve/close,
metrics, the fraud team's clearing of a fraud case, and the specialist work queues.

Every answer is JSON: a service error becomes `{"error": ...}` with its status. Order matters
where Rasa is involved: a resolve first hands the conversation back and only then marks the
ticket, so a Rasa outage leaves the ticket claimed rather than a customer stuck with a silent
assistant.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

from autofinance.adapters.rasa_api import RasaUnavailable
from autofinance.entrypoints.web.console import auth
from autofinance.entrypoints.web.console.common import PRIVATE, RASA_DOWN, metrics_days, plain, run
from autofinance.entrypoints.web.keys import CONTAINER, RASA
from autofinance.services import console as service
from autofinance.services import fraud
from autofinance.services.errors import (
    FraudCaseNotFound,
    FraudCaseNotOpen,
    FraudTeamOnly,
    InvalidMetricsPeriod,
    InvalidNote,
    InvalidReply,
    ServiceError,
    TicketAlreadyClaimed,
    TicketNotClaimed,
    TicketNotFound,
    TicketNotOpen,
    TicketNotYours,
    WorkItemAlreadyClaimed,
    WorkItemAlreadyDecided,
    WorkItemCannotComplete,
    WorkItemNotClaimed,
    WorkItemNotFound,
    WorkItemNotYours,
    WorkItemNoteRequired,
)
from autofinance.services import work_queue
from autofinance.services.staff import StaffPrincipal

logger = logging.getLogger(__name__)

ERROR_STATUS: dict[type[ServiceError], int] = {
    TicketNotFound: 404, TicketNotYours: 403, TicketAlreadyClaimed: 409, TicketNotClaimed: 409,
    TicketNotOpen: 409, InvalidNote: 400, InvalidReply: 400, InvalidMetricsPeriod: 400,
    FraudCaseNotFound: 404, FraudTeamOnly: 403, FraudCaseNotOpen: 409,
    WorkItemNotFound: 404, WorkItemNotYours: 403, WorkItemAlreadyClaimed: 409, WorkItemNotClaimed: 409,
    WorkItemAlreadyDecided: 409, WorkItemCannotComplete: 409, WorkItemNoteRequired: 400,
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(plain(data), status=status, headers=PRIVATE)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


def _api(handler: Handler) -> Handler:
    """Every API answer is JSON: expected errors with their status, anything else a bare 500."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ServiceError as error:
            return _error(ERROR_STATUS.get(type(error), 400), error.message)
        except web.HTTPException:
            raise  # sign-in and CSRF refusals: auth shapes them
        except Exception:
            logger.exception("console API %s %s failed", request.method, request.path)
            return _error(500, "Something went wrong. Please reload the console.")

    return wrapped


async def _post_guard(request: web.Request) -> StaffPrincipal:
    """The signed-in staff member, after the CSRF header of this POST checked out."""
    staff = await auth.require_staff(request)
    auth.require_csrf(request, request.headers.get("X-CSRF-Token"))
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


def today(request: web.Request) -> date:
    return datetime.now(ZoneInfo(request.app[CONTAINER].settings.lender_timezone)).date()


def _number(request: web.Request) -> str:
    return request.match_info["number"]


@_api
async def queue(request: web.Request) -> web.StreamResponse:
    staff = await auth.require_staff(request)
    return _json({"tickets": await run(request, service.queue, staff)})


@_api
async def claim(request: web.Request) -> web.StreamResponse:
    """Claims, then pauses the assistant (it may have resumed if the ticket waited for hours)."""
    staff = await _post_guard(request)
    view = await run(request, service.claim, _number(request), staff)
    conversation = await run(request, service.conversation_of, _number(request), staff)
    answer: dict[str, Any] = {"ticket": view}
    try:
        await request.app[RASA].pause(conversation)
    except RasaUnavailable:
        answer["warning"] = ("The ticket is yours, but the assistant could not be paused: "
                             "it may still answer the customer. " + RASA_DOWN)
    return _json(answer)


@_api
async def ticket(request: web.Request) -> web.StreamResponse:
    staff = await auth.require_staff(request)
    detail = await run(request, service.ticket_detail, _number(request), staff,
                       today=today(request))
    conversation = await run(request, service.conversation_of, _number(request), staff)
    answer = plain(detail)
    answer.update(answer.pop("ticket"))  # one flat object: the ticket's fields and the extras
    try:
        answer["transcript"] = plain(await request.app[RASA].transcript(conversation))
    except RasaUnavailable:
        answer["transcript"], answer["transcript_error"] = [], RASA_DOWN
    return _json(answer)


@_api
async def reply(request: web.Request) -> web.StreamResponse:
    """Speaks to the customer as the agent; only the holder of the ticket may."""
    staff = await _post_guard(request)
    text = service.clean_reply(await _body_text(request, "text"))
    conversation = await run(request, service.conversation_of, _number(request), staff,
                             action="reply")
    try:
        await request.app[RASA].send_agent_message(conversation, text, staff.display_name)
    except RasaUnavailable:
        return _error(502, "Your reply was not delivered. " + RASA_DOWN)
    await run(request, service.reply_sent, _number(request), staff, len(text))
    return _json({"sent": True})


@_api
async def note(request: web.Request) -> web.StreamResponse:
    staff = await _post_guard(request)
    body = await _body_text(request, "body")
    return _json({"note": await run(request, service.add_note, _number(request), staff, body)},
                 status=201)


async def _finish(request: web.Request, action: Literal["resolve", "close"]) -> web.StreamResponse:
    """Resolve or close: Rasa first, so a failure there changes nothing in the store."""
    staff = await _post_guard(request)
    conversation = await run(request, service.conversation_of, _number(request), staff,
                             action=action)
    rasa = request.app[RASA]
    try:
        await (rasa.hand_back if action == "resolve" else rasa.release)(conversation)
    except RasaUnavailable:
        return _error(502, f"The ticket was not {action}d: the assistant could not take the "
                           f"conversation back. {RASA_DOWN}")
    finish = service.resolve if action == "resolve" else service.close
    return _json({"ticket": await run(request, finish, _number(request), staff)})


@_api
async def resolve(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "resolve")


@_api
async def close(request: web.Request) -> web.StreamResponse:
    return await _finish(request, "close")


@_api
async def metrics(request: web.Request) -> web.StreamResponse:
    await auth.require_staff(request, supervisor=True)
    return _json(await run(request, service.metrics, days=metrics_days(request)))


@_api
async def clear_fraud_case(request: web.Request) -> web.StreamResponse:
    """The fraud team's review is done: the case closes and, with no other open case, the
    customer's online access is unlocked and payments work again (supervisors, audited)."""
    staff = await _post_guard(request)
    cleared = await run(request, fraud.clear_fraud_case, request.match_info["case_number"], staff)
    return _json({"fraud_case": cleared})


# --- specialist work queues ----------------------------------------------------------------


@_api
async def work_items(request: web.Request) -> web.StreamResponse:
    """GET ?kind=hardship|lease_extension|insurance_document|fee_waiver (all when absent)."""
    staff = await auth.require_staff(request)
    return _json({"items": await run(request, work_queue.work_queue, staff,
                                     kind=request.query.get("kind") or None)})


async def _optional_note(request: web.Request) -> str:
    """The "note" of a JSON body, "" when the body or the note is absent (the service decides
    whether one is needed)."""
    if not request.can_read_body:
        return ""
    try:
        body = await request.json()
    except ValueError:
        raise _BadRequest("The request body must be JSON.") from None
    note = body.get("note", "") if isinstance(body, dict) else None
    if not isinstance(note, str):
        raise _BadRequest('The "note" field must be text.')
    return note


@_api
async def work_item_action(request: web.Request) -> web.StreamResponse:
    """POST .../{reference}/claim|release|complete|decline; a decline needs {"note"}."""
    staff = await _post_guard(request)
    reference, action = request.match_info["reference"], request.match_info["action"]
    if action in ("claim", "release"):
        change = work_queue.claim_item if action == "claim" else work_queue.release_item
        return _json({"item": await run(request, change, reference, staff)})
    decide = work_queue.complete_item if action == "complete" else work_queue.decline_item
    note = await _optional_note(request)
    return _json({"item": await run(request, decide, reference, staff, note, today=today(request))})
