"""The console's HTML pages: the queue (rendered on the server too) and the supervisors' metrics."""
from __future__ import annotations

from typing import Any, Optional

import aiohttp_jinja2
from aiohttp import web

from autofinance.entrypoints.web.console import auth
from autofinance.entrypoints.web.console.chart import bar_chart
from autofinance.entrypoints.web.console.common import PRIVATE, metrics_days, run
from autofinance.services import console as service
from autofinance.services.errors import InvalidMetricsPeriod

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


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "no claims yet"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
