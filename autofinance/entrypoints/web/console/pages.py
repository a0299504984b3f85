"""The console's HTML pages: the queue (rendered on the server too), the supervisors' metrics,
and the specialist work queues (plain forms, no script: claim, release, complete, decline)."""
from __future__ import annotations

from typing import Any, Optional

import aiohttp_jinja2
from aiohttp import web

from autofinance.entrypoints.web.console import auth
from autofinance.entrypoints.web.console.api import ERROR_STATUS, today
from autofinance.entrypoints.web.console.chart import bar_chart
from autofinance.entrypoints.web.console.common import PRIVATE, metrics_days, run
from autofinance.services import console as service
from autofinance.services import work_queue
from autofinance.services.errors import InvalidMetricsPeriod, ServiceError

_PAGE_HEADERS = {
    **PRIVATE,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"),
}


def _page(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers.update(_PAGE_HEADERS)
    return response


async def console_page(request: web.Request) -> web.Response:
    """The console; the queue is rendered on the server too, so it shows before the script runs."""
    staff = await auth.require_staff(request)
    tickets = await run(request, service.queue, staff)
    return _page(request, "console.html", {
        "staff": staff, "tickets": tickets, "csrf_token": auth.csrf_token(request)})


async def metrics_page(request: web.Request) -> web.Response:
    staff = await auth.require_staff(request, supervisor=True)
    try:
        result = await run(request, service.metrics, days=metrics_days(request))
    except InvalidMetricsPeriod as error:
        raise web.HTTPBadRequest(text=error.message) from None
    return _page(request, "console_metrics.html", {
        "staff": staff, "metrics": result, "csrf_token": auth.csrf_token(request),
        "per_day": bar_chart([(day.day.strftime("%m-%d"), day.count) for day in result.per_day]),
        "per_reason": bar_chart([(reason.replace("_", " "), count)
                                 for reason, count in result.per_reason.items()], width=720),
        "average_wait": _duration(result.average_wait_seconds),
        "median_wait": _duration(result.median_wait_seconds),
        "containment": "no sessions yet" if result.containment is None
        else f"{result.containment:.0%}",
    })


# what the page says after each change (a fixed set: nothing from the query string is shown)
_DONE = {"claim": "Item claimed: it is yours to decide.", "release": "Item released back to the queue.",
         "complete": "Item completed: the customer will be told.",
         "decline": "Item declined: the customer will be told."}


async def work_page(request: web.Request, error: Optional[str] = None, status: int = 200) -> web.Response:
    """The four work queues, each oldest first, with the actions the viewer may take."""
    staff = await auth.require_staff(request)
    items = await run(request, work_queue.work_queue, staff)
    queues = [(kind, title, [item for item in items if item.kind == kind])
              for kind, title in work_queue.QUEUE_NAMES.items()]
    response = _page(request, "console_work.html", {
        "staff": staff, "queues": queues, "csrf_token": auth.csrf_token(request), "error": error,
        "done": _DONE.get(request.query.get("done", "")) if error is None else None})
    response.set_status(status)
    return response


async def submit_work_item(request: web.Request) -> web.Response:
    """A form's claim, release, complete or decline: 303 back to the queues, or the page again
    with the refusal (and its status)."""
    staff = await auth.require_staff(request)
    try:
        form = await request.post()
    except ValueError:
        form = None
    supplied = form.get("csrf_token") if form is not None else None
    auth.require_csrf(request, supplied if isinstance(supplied, str) else None)
    note = form.get("note", "") if form is not None else ""
    reference, action = request.match_info["reference"], request.match_info["action"]
    try:
        if action in ("claim", "release"):
            change = work_queue.claim_item if action == "claim" else work_queue.release_item
            await run(request, change, reference, staff)
        else:
            decide = work_queue.complete_item if action == "complete" else work_queue.decline_item
            await run(request, decide, reference, staff, note if isinstance(note, str) else "",
                      today=today(request))
    except ServiceError as refused:
        return await work_page(request, refused.message, ERROR_STATUS.get(type(refused), 400))
    raise web.HTTPSeeOther(f"/console/work?done={action}", headers=PRIVATE)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "no claims yet"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
