"""GET/POST /reset-password: choose a new website password from the emailed single-use link.

The link's token is the credential, so it rides in a hidden field and is checked again on POST.
It also protects the form against cross-site request forgery: a forged POST must already hold
the secret, single-use token, which only the customer's inbox has. The link is checked on GET
too, so a customer with a stale link learns it before typing a password; that check does not
use the token up. The URL carries the token, so these pages are never cached and never sent on
as a referrer, and neither the token nor a password is ever logged (the web server's access log
is off; a proxy in front must not log query strings either).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.entrypoints.web.pages import private_page
from autofinance.services.errors import InvalidResetLink, WeakPassword
from autofinance.services.online_access import (
    MAX_LENGTH, MIN_LENGTH, PASSPHRASE_LENGTH, SUPPORT_PHONE, reset_link_valid, reset_password,
)

logger = logging.getLogger(__name__)

_MISMATCH = "The two passwords don't match. Please type the same new password in both boxes."
_RULES = {"min_length": MIN_LENGTH, "max_length": MAX_LENGTH, "passphrase": PASSPHRASE_LENGTH,
          "support_phone": SUPPORT_PHONE}


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return private_page(request, template, status, **_RULES, **context)


def _invalid(request: web.Request) -> web.Response:
    return _page(request, "reset_invalid.html", status=400, message=InvalidResetLink.message)


async def _link_valid(request: web.Request, token: str) -> bool:
    container = request.app[CONTAINER]
    return await asyncio.to_thread(reset_link_valid, token, container.uow(),
                                   container.settings.secret_pepper)


async def reset_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not await _link_valid(request, token):
        logger.info("refused a password reset link")  # never the token: it is the credential
        return _invalid(request)
    return _page(request, "reset_password.html", token=token)


async def submit_reset(request: web.Request) -> web.Response:
    container = request.app[CONTAINER]
    form = await request.post()
    values = [form.get(name, "") for name in ("token", "password", "confirm")]
    if not all(isinstance(value, str) for value in values):
        return _invalid(request)  # a file upload where text belongs: not our form
    token, password, confirm = (str(value) for value in values)
    if password != confirm:
        if not await _link_valid(request, token):
            return _invalid(request)
        return _page(request, "reset_password.html", status=400, token=token, error=_MISMATCH)
    try:
        changed = await asyncio.to_thread(
            reset_password, token, password, container.uow(), container.settings.secret_pepper)
    except InvalidResetLink:
        return _invalid(request)
    except WeakPassword as weak:  # the token is not used up: the customer can try again
        return _page(request, "reset_password.html", status=400, token=token, error=weak.message)
    return _page(request, "reset_done.html", first_name=changed.first_name)
