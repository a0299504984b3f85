"""Public pages, and how a page reached by a secret link is served."""
from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from autofinance.entrypoints.web import portal

# a page whose URL holds a secret (a reset, registration or document link): never cached, never
# sent on as a referrer, never indexed
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def private_page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page reached by a secret link; its form posts back to the same path."""
    response = aiohttp_jinja2.render_template(
        template, request, {"action": request.rel_url.path, **context}, status=status)
    response.headers.update(PRIVATE_HEADERS)
    return response


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def home(request: web.Request) -> web.Response:
    """The demo portal's "My Account" page, with the chat widget."""
    return await portal.page(request)
