"""Demo only: the messages the assistant "sent", so a tester can read codes and links.

Registered only in demo mode; a production deployment has real senders and no such page.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from autofinance.adapters.store.models import OutboxMessage

LIMIT = 100


def _newest_messages(request: web.Request) -> list[dict[str, Any]]:
    from autofinance.entrypoints.web.app import CONTAINER

    with request.app[CONTAINER].uow() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(LIMIT)
        ).all()
        return [
            {
                "to": row.to,
                "channel": row.channel,
                "subject": row.subject,
                "body": row.body,
                "created_at": row.created_at.isoformat(),
            }
            for row in rows
        ]


async def outbox_json(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(_newest_messages, request)
    return web.json_response(messages, headers={"Cache-Control": "no-store"})


@aiohttp_jinja2.template("outbox.html")
async def outbox_page(request: web.Request) -> dict[str, Any]:
    return {"messages": await asyncio.to_thread(_newest_messages, request)}
