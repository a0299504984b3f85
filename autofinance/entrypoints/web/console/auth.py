"""Console sign-in (password + TOTP code), the session cookie, CSRF tokens and the staff guard.

The cookie holds the only copy of the session token (HttpOnly, SameSite=Strict, Path=/console).
A CSRF token is an HMAC of that token under the pepper: nothing to store, useless for any other
session. Sign-in attempts are limited per client address (`limiter`) on top of the per-account
lockout in the service. The JSON sign-in accepts only `application/json`, which a cross-site
form cannot send without a CORS preflight. The routes are in `web.routes`.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, Optional

import aiohttp_jinja2
from aiohttp import web

from autofinance.config import Settings
from autofinance.adapters.security import keyed_hash
from autofinance.entrypoints.web.keys import CONTAINER, SIGN_IN_LIMITER
from autofinance.services.errors import NotSignedIn, SignInFailed, SignInLocked
from autofinance.services.staff import (
    SignedIn, StaffPrincipal, principal_for, sign_in, sign_out,
)

logger = logging.getLogger(__name__)

COOKIE = "meridian_console"
STAFF_KEY = web.RequestKey("console_staff", StaffPrincipal)  # set by require_staff
SIGN_IN_PATH = "/console/sign-in"
HOME_PATH = "/console"
_COOKIE_PATH = "/console"  # sent to the console only, never to the public pages

_TOKEN_KEY = web.RequestKey("console_new_token", str)  # a token issued during this request
_PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                    "X-Robots-Tag": "noindex"}
_INCOMPLETE = "Enter your username, password and the 6-digit code from your authenticator app."
_NOT_JSON = 'Send a JSON object: {"username": "...", "password": "...", "code": "123456"}.'
_UNREADABLE_FORM = "The sign-in form could not be read. Reload the page and try again."
_TOO_MANY = "Too many sign-in attempts from your network. Please try again later."
_SUPERVISORS_ONLY = "Only a supervisor can do that."
_BAD_CSRF = "This request is missing its security token. Reload the console and try again."


# --- what the console pages and API use -------------------------------------------------


async def require_staff(request: web.Request, *, supervisor: bool = False) -> StaffPrincipal:
    """The signed-in staff member (also left at request[STAFF_KEY]), or the answer that ends
    the request: 401 JSON on /console/api/ and /console/ws, a redirect to sign-in on pages,
    403 when a supervisor is required and this is an agent."""
    container = request.app[CONTAINER]
    try:
        principal = await asyncio.to_thread(
            principal_for, _session_token(request), container.uow(),
            pepper=container.settings.secret_pepper,
            idle_minutes=container.settings.console_idle_minutes)
    except NotSignedIn as ended:
        if _is_api(request):
            raise _json_error(web.HTTPUnauthorized, ended.message) from None
        raise web.HTTPFound(SIGN_IN_PATH, headers=_PRIVATE_HEADERS) from None
    if supervisor and not principal.is_supervisor:
        if _is_api(request):
            raise _json_error(web.HTTPForbidden, _SUPERVISORS_ONLY)
        raise web.HTTPForbidden(text=_SUPERVISORS_ONLY, headers=_PRIVATE_HEADERS)
    request[STAFF_KEY] = principal
    return principal


def csrf_token(request: web.Request) -> str:
    """The CSRF token of this request's session, for forms (`csrf_token` field) and the API
    (`X-CSRF-Token` header). Only call it for a signed-in request."""
    token = _session_token(request)
    if not token:
        raise RuntimeError("csrf_token needs a signed-in request (call require_staff first)")
    return _csrf_for(token, request.app[CONTAINER].settings)


def require_csrf(request: web.Request, supplied: Optional[str]) -> None:
    """Refuses (403) a state-changing request whose CSRF token is missing or wrong."""
    token = _session_token(request)
    expected = _csrf_for(token, request.app[CONTAINER].settings) if token else ""
    if not (supplied and expected
            and hmac.compare_digest(supplied.encode(), expected.encode())):
        logger.info("console request refused: missing or wrong CSRF token")
        if _is_api(request):
            raise _json_error(web.HTTPForbidden, _BAD_CSRF)
        raise web.HTTPForbidden(text=_BAD_CSRF, headers=_PRIVATE_HEADERS)


# --- pages ------------------------------------------------------------------------------


async def sign_in_page(request: web.Request) -> web.Response:
    return _page(request)


async def submit_sign_in(request: web.Request) -> web.Response:
    """Form sign-in: 303 to the console with the cookie, or the form again (401, 429, 400)."""
    if not _attempt_allowed(request):
        return _page(request, 429, _TOO_MANY)
    try:
        form = await request.post()
    except ValueError:  # a broken multipart body
        return _page(request, 400, _UNREADABLE_FORM)
    credentials = _credentials(form)
    username = form.get("username")
    typed = username if isinstance(username, str) else ""
    if credentials is None:
        return _page(request, 400, _INCOMPLETE, typed)
    try:
        signed = await _sign_in(request, *credentials)
    except SignInLocked as locked:
        return _page(request, 429, locked.message, typed)
    except SignInFailed as failed:
        return _page(request, 401, failed.message, typed)
    response = web.Response(status=303, headers={"Location": HOME_PATH, **_PRIVATE_HEADERS})
    _set_cookie(response, signed.token, request.app[CONTAINER].settings)
    return response


async def submit_sign_out(request: web.Request) -> web.Response:
    """Form sign-out (needs the form's csrf_token); always ends on the sign-in page."""
    token = _session_token(request)
    if token:
        try:
            form = await request.post()
        except ValueError:
            form = None
        supplied = form.get("csrf_token") if form is not None else None
        require_csrf(request, supplied if isinstance(supplied, str) else None)
        await _sign_out(request, token)
    response = web.Response(status=303, headers={"Location": SIGN_IN_PATH, **_PRIVATE_HEADERS})
    _clear_cookie(response, request.app[CONTAINER].settings)
    return response


# --- JSON API ---------------------------------------------------------------------------


async def create_session(request: web.Request) -> web.Response:
    """POST {"username", "password", "code"}: 200 with the session and the cookie, 401, 429, 400."""
    if not _attempt_allowed(request):
        return _json(429, _TOO_MANY)
    if request.content_type != "application/json":
        return _json(400, _NOT_JSON)
    try:
        body = await request.json()
    except ValueError:  # not JSON, or not UTF-8
        return _json(400, _NOT_JSON)
    credentials = _credentials(body) if isinstance(body, dict) else None
    if credentials is None:
        return _json(400, _NOT_JSON)
    try:
        signed = await _sign_in(request, *credentials)
    except SignInLocked as locked:
        return _json(429, locked.message)
    except SignInFailed as failed:
        return _json(401, failed.message)
    request[_TOKEN_KEY] = signed.token
    response = _session_json(request, signed.principal)
    _set_cookie(response, signed.token, request.app[CONTAINER].settings)
    return response


async def get_session(request: web.Request) -> web.Response:
    return _session_json(request, await require_staff(request))


async def delete_session(request: web.Request) -> web.Response:
    """Sign out; needs the X-CSRF-Token header. 204."""
    await require_staff(request)
    require_csrf(request, request.headers.get("X-CSRF-Token"))
    await _sign_out(request, _session_token(request))
    response = web.Response(status=204, headers=_PRIVATE_HEADERS)
    _clear_cookie(response, request.app[CONTAINER].settings)
    return response


# --- helpers ----------------------------------------------------------------------------


def _session_token(request: web.Request) -> str:
    """The token issued during this request, else the cookie's ('' when there is none)."""
    return request.get(_TOKEN_KEY) or request.cookies.get(COOKIE, "")


def _csrf_for(token: str, settings: Settings) -> str:
    # A prefix keeps it distinct from the stored session hash, which is keyed_hash(token).
    return keyed_hash("console-csrf:" + token, settings.secret_pepper)


def _is_api(request: web.Request) -> bool:
    """Machine clients (fetch, websocket) get JSON statuses; people get pages and redirects."""
    path = request.path
    return (path.startswith("/console/api/") or path == "/console/ws"
            or path.startswith("/console/ws/"))


def _attempt_allowed(request: web.Request) -> bool:
    client = request.remote or "unknown"
    if request.app[SIGN_IN_LIMITER].allow(client):
        return True
    logger.warning("console sign-in attempts limited for %s", client)
    return False


def _credentials(data: Any) -> Optional[tuple[str, str, str]]:
    """(username, password, code) when all three are non-empty text, else None."""
    values = [data.get(name) for name in ("username", "password", "code")]
    if not all(isinstance(value, str) and value.strip() for value in values):
        return None
    username, password, code = values
    return username, password, code


async def _sign_in(request: web.Request, username: str, password: str, code: str) -> SignedIn:
    container = request.app[CONTAINER]
    settings = container.settings
    return await asyncio.to_thread(
        sign_in, username, password, code, container.uow(), pepper=settings.secret_pepper,
        session_minutes=settings.console_session_minutes, demo_mode=settings.demo_mode)


async def _sign_out(request: web.Request, token: str) -> None:
    container = request.app[CONTAINER]
    await asyncio.to_thread(sign_out, token, container.uow(), pepper=container.settings.secret_pepper)


def _set_cookie(response: web.StreamResponse, token: str, settings: Settings) -> None:
    response.set_cookie(COOKIE, token, max_age=settings.console_session_minutes * 60,
                        path=_COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=settings.secure_cookies)


def _clear_cookie(response: web.StreamResponse, settings: Settings) -> None:
    response.del_cookie(COOKIE, path=_COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=settings.secure_cookies)


def _page(request: web.Request, status: int = 200, error: Optional[str] = None,
          username: str = "") -> web.Response:
    response = aiohttp_jinja2.render_template(
        "console_sign_in.html", request,
        {"action": SIGN_IN_PATH, "error": error, "username": username}, status=status)
    response.headers.update(_PRIVATE_HEADERS)
    return response


def _session_json(request: web.Request, principal: StaffPrincipal) -> web.Response:
    return web.json_response(
        {"staff": {"username": principal.username, "display_name": principal.display_name,
                   "role": principal.role},
         "csrf_token": csrf_token(request)},
        headers=_PRIVATE_HEADERS)


def _json(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status, headers=_PRIVATE_HEADERS)


def _json_error(kind: type[web.HTTPException], error: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": error}), content_type="application/json",
                headers=_PRIVATE_HEADERS)
