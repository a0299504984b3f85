"""Public pages."""
from __future__ import annotations

from aiohttp import web

from autofinance.entrypoints.web import portal


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def home(request: web.Request) -> web.Response:
    """The demo portal's "My Account" page, with the chat widget."""
    return await portal.page(request)
