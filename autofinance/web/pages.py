"""Public pages."""
from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict[str, object]:
    return {}
