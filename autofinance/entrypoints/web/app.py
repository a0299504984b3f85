"""App factory: settings in, an aiohttp application out; the store opened and closed with it."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Optional

import aiohttp_jinja2
import jinja2
from aiohttp import web

from autofinance.bootstrap import Container, bootstrap
from autofinance.config import Settings
from autofinance.adapters.rasa_api import RasaClient
from autofinance.entrypoints.web import routes
from autofinance.entrypoints.web.console.limiter import SharedSignInLimiter, SignInLimiter
from autofinance.entrypoints.web.keys import CONTAINER, RASA, SIGN_IN_LIMITER

TEMPLATES = Path(__file__).parent / "templates"
# Every answer's policy unless its handler sets one (the portal and console pages allow their
# scripts and sockets): no script, no plugin, no framing, forms and styles from here only.
DEFAULT_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
SERVER = "Meridian"  # in place of aiohttp's "Python/3.x aiohttp/3.x": no versions to look up


def create_app(settings: Optional[Settings] = None, container: Optional[Container] = None,
               rasa: Optional[RasaClient] = None) -> web.Application:
    """The web app; a given container or Rasa client is the caller's to close (tests pass fakes)."""
    settings = settings or (container.settings if container else Settings.from_env())
    app = web.Application()
    app.on_response_prepare.append(security_headers)
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(default=True)
    )

    async def store(app: web.Application) -> AsyncIterator[None]:
        app[CONTAINER] = container or bootstrap(settings)
        app[RASA] = rasa or RasaClient(settings.rasa_url, settings.rasa_api_token)
        yield
        if rasa is None:
            await app[RASA].close()
        if container is None:
            app[CONTAINER].close()

    app.cleanup_ctx.append(store)
    app[SIGN_IN_LIMITER] = (SharedSignInLimiter(settings.counters_url, settings.redis_key_prefix)
                            if settings.counters_url else SignInLimiter())
    routes.setup(app, demo_mode=settings.demo_mode)
    return app


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Run as every response is prepared, so unlike a middleware it also covers raised
    redirects and errors, the router's 404 and 405, static files and unhandled 500s."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER
