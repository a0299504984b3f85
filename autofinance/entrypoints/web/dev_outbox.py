"""Demo only: the messages the assistant "sent", so a tester can read codes and links.

Registered only in demo mode; a production deployment has real senders and no such page.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.services.outbox import newest_messages

LIMIT = 100


async def _newest(request: web.Request) -> list[dict[str, Any]]:
    """The newest messages as the page and the JSON show them (the time as ISO 8601 text)."""
    container = request.app[CONTAINER]
    messages = await asyncio.to_thread(newest_messages, container.uow(),
                                       container.settings.secret_pepper, LIMIT)
    return [{"to": message.to, "channel": message.channel, "subject": message.subject,
             "body": message.body, "created_at": message.created_at.isoformat()}
            for message in messages]


async def outbox_json(request: web.Request) -> web.Response:
    return web.json_response(await _newest(request), headers={"Cache-Control": "no-store"})


@aiohttp_jinja2.template("outbox.html")
async def outbox_page(request: web.Request) -> dict[str, Any]:
    return {"messages": await _newest(request)}
