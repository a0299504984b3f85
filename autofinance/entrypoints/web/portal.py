"""The demo portal page ("My Account") with the website chat widget, and the widget's assets.

The page itself shows no account data: the lender's real portal would, and this one only stands
in for it so the widget has a home. In demo mode, "Sign in as ..." plays the portal's part of a
sign-in: it issues the portal token (`portal_tokens.issue_token`) that the widget presents when it
connects to Rasa's socket.io channel, which then knows the customer without asking for a code.
The token lives in an HttpOnly, SameSite=Strict cookie and is handed to the widget in the page.

The browser loads the socket.io client from here (installed into node_modules/ by
`make web-assets`), never from a CDN; the page's Content-Security-Policy allows scripts from this
origin only and connections to this origin and the widget's socket.io server.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from autofinance.config import PROJECT_ROOT, Settings
from autofinance.adapters.portal_tokens import DEFAULT_LIFETIME, issue_token, verify_token
from autofinance.demo.seed import DEMO_CUSTOMERS
from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.services import portal as service
from autofinance.services import reminders

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SOCKET_IO_CLIENT = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
WIDGET_ASSETS = {"widget.js": "application/javascript", "widget.css": "text/css"}
COOKIE = "meridian_portal"  # the demo portal's sign-in: the portal token itself
DEMO_KEYS = {customer.username: customer for customer in DEMO_CUSTOMERS}
_ASSET_HEADERS = {"Cache-Control": "no-cache"}  # revalidated (ETag / Last-Modified), never stale


@dataclass(frozen=True)
class SignedIn:
    customer_id: int
    full_name: str
    token: str


def socket_origins(url: str) -> list[str]:
    """The widget socket URL's origin in its http(s) and ws(s) forms, for connect-src."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return []  # relative or empty: the socket is on this origin ('self')
    websocket = "wss" if parts.scheme == "https" else "ws"
    return [f"{parts.scheme}://{parts.netloc}", f"{websocket}://{parts.netloc}"]


def content_security_policy(settings: Settings) -> str:
    connect = " ".join(["'self'", *socket_origins(settings.widget_socket_url)])
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"connect-src {connect}; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'; object-src 'none'")


# --- the page ------------------------------------------------------------------------------


async def signed_in(request: web.Request) -> Optional[SignedIn]:
    """The demo portal's signed-in customer: a valid token in the cookie, for a customer we have."""
    container = request.app[CONTAINER]
    token = request.cookies.get(COOKIE)
    claims = verify_token(token, container.settings)
    if claims is None or token is None:
        return None
    name = await asyncio.to_thread(service.full_name, claims.customer_id, container.uow())
    return SignedIn(claims.customer_id, name, token) if name else None


async def page(request: web.Request) -> web.Response:
    """GET /: the portal page. Anonymous: placeholder text only. Signed in (demo): the name."""
    container = request.app[CONTAINER]
    settings = container.settings
    customer = await signed_in(request) if settings.demo_mode else None
    alerts = (await asyncio.to_thread(reminders.unread_alerts, customer.customer_id, container.uow())
              if customer else [])
    context = {
        "demo_mode": settings.demo_mode,
        "signed_in": customer,
        "demo_customers": [(c.username, f"{c.first_name} {c.last_name}") for c in DEMO_CUSTOMERS],
        "widget": {
            "socket_url": settings.widget_socket_url,
            "token": customer.token if customer else "",
            # The widget keeps one conversation per scope: signing in or out starts another.
            "scope": f"portal-{customer.customer_id}" if customer else "anonymous",
            # reminders the signed-in customer has not seen yet, listed in the widget
            "alerts": [{"id": a.id, "title": a.title} for a in alerts],
        },
    }
    response = aiohttp_jinja2.render_template("home.html", request, context)
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    response.headers["Cache-Control"] = "no-store"  # a signed-in page carries the token
    if request.cookies.get(COOKIE) and customer is None:
        response.del_cookie(COOKIE, path="/")  # expired, or for a customer no longer here
    return response


# --- demo sign-in --------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def require_same_origin(request: web.Request) -> None:
    """A CSRF check for the demo forms: the POST must come from a page of this site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise web.HTTPForbidden(text="This form only works from the portal page itself.")
    claimed = request.headers.get("Origin") or _origin(request.headers.get("Referer", ""))
    ours = {_origin(f"{request.scheme}://{request.host}"),
            _origin(request.app[CONTAINER].settings.public_base_url)}
    if not claimed or claimed.lower() not in ours:
        logger.info("refused a demo portal form from another origin")
        raise web.HTTPForbidden(text="This form only works from the portal page itself.")


async def sign_in_as(request: web.Request) -> web.Response:
    """POST /demo/sign-in-as (demo mode only): customer=<demo username>; sets the portal cookie."""
    require_same_origin(request)
    form = await request.post()
    demo = DEMO_KEYS.get(str(form.get("customer", "")))
    if demo is None:
        raise web.HTTPBadRequest(text="Choose one of the demo customers.")
    container = request.app[CONTAINER]
    customer_id = await asyncio.to_thread(service.customer_of_account, demo.account_number,
                                          container.uow())
    if customer_id is None:
        raise web.HTTPConflict(text="The demo customers are not in the store: run 'make db'.")
    token = issue_token(customer_id, demo.first_name, container.settings)
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict",
                        secure=container.settings.secure_cookies,
                        max_age=int(DEFAULT_LIFETIME.total_seconds()))
    logger.info("demo portal sign-in as customer %s", customer_id)
    raise response


async def alerts_read(request: web.Request) -> web.Response:
    """POST /demo/alerts/read (demo mode only), {"ids": [...]}: the widget showed these alerts
    to the signed-in customer; only their own are marked."""
    require_same_origin(request)
    customer = await signed_in(request)
    if customer is None:
        raise web.HTTPUnauthorized(text="Not signed in.")
    try:
        ids = [int(i) for i in (await request.json()).get("ids", [])][:50]
    except (ValueError, TypeError, AttributeError):
        raise web.HTTPBadRequest(text="ids must be a list of numbers") from None
    container = request.app[CONTAINER]
    await asyncio.to_thread(reminders.mark_alerts_read, customer.customer_id, ids, container.uow())
    return web.Response(status=204)


async def sign_out(request: web.Request) -> web.Response:
    """POST /demo/sign-out (demo mode only): back to the anonymous visitor."""
    require_same_origin(request)
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    raise response


# --- assets --------------------------------------------------------------------------------


async def widget_asset(request: web.Request) -> web.StreamResponse:
    """GET /static/widget.js and /static/widget.css."""
    name = request.match_info["name"]
    if name not in WIDGET_ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={**_ASSET_HEADERS, "Content-Type": WIDGET_ASSETS[name]})


async def socket_io_client(request: web.Request) -> web.StreamResponse:
    """GET /static/vendor/socket.io.min.js: the official client, from node_modules/."""
    if not SOCKET_IO_CLIENT.is_file():
        logger.warning("%s is missing: run 'make web-assets'", SOCKET_IO_CLIENT)
        raise web.HTTPNotFound(text="The chat widget's assets are not installed: run 'make web-assets'.")
    return web.FileResponse(SOCKET_IO_CLIENT,
                            headers={**_ASSET_HEADERS, "Content-Type": "application/javascript"})
