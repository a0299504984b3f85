"""What the console's pages, JSON API and live feed share: services run off the event loop,
answers made JSON-ready, and the words for a Rasa outage."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.services.errors import InvalidMetricsPeriod

RASA_DOWN = "The conversation service is not answering right now. Please try again in a moment."
PRIVATE = {"Cache-Control": "no-store"}


def plain(value: Any) -> Any:
    """Dataclasses, dates and money as JSON-ready values (money as an exact decimal string)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def run(request: web.Request, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs a service function off the event loop, with a fresh unit of work as its `uow`."""
    return await asyncio.to_thread(function, *args, uow=request.app[CONTAINER].uow(), **kwargs)


def metrics_days(request: web.Request) -> int:
    """The `days` of a metrics request (14 unless given); the service checks the range."""
    raw = request.query.get("days", "14")
    if not raw.isdigit():
        raise InvalidMetricsPeriod()
    return int(raw)
