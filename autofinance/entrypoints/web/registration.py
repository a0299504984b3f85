"""GET/POST /register: choose a username and password from the emailed single-use link.

As on the password-reset page, the link's token is the credential: it rides in a hidden field,
is checked again on POST (which also protects the form against cross-site request forgery: a
forged POST must already hold the secret token) and is never logged; the pages are never cached
and never sent on as a referrer.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.entrypoints.web.pages import private_page
from autofinance.services.errors import InvalidRegistrationLink, InvalidUsername, WeakPassword
from autofinance.services.online_access import MAX_LENGTH, MIN_LENGTH, PASSPHRASE_LENGTH, SUPPORT_PHONE
from autofinance.services.online_registration import (
    USERNAME_MAX, USERNAME_MIN, register, registration_link_valid,
)

logger = logging.getLogger(__name__)

_MISMATCH = "The two passwords don't match. Please type the same password in both boxes."
_RULES = {"min_length": MIN_LENGTH, "max_length": MAX_LENGTH, "passphrase": PASSPHRASE_LENGTH,
          "username_min": USERNAME_MIN, "username_max": USERNAME_MAX, "support_phone": SUPPORT_PHONE}


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return private_page(request, template, status, **_RULES, **context)


def _invalid(request: web.Request) -> web.Response:
    return _page(request, "register_invalid.html", status=400, message=InvalidRegistrationLink.message)


async def _link_valid(request: web.Request, token: str) -> bool:
    container = request.app[CONTAINER]
    return await asyncio.to_thread(registration_link_valid, token, container.uow(),
                                   container.settings.secret_pepper)


async def register_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not await _link_valid(request, token):
        logger.info("refused a registration link")  # never the token: it is the credential
        return _invalid(request)
    return _page(request, "register.html", token=token)


async def submit_registration(request: web.Request) -> web.Response:
    container = request.app[CONTAINER]
    form = await request.post()
    values = [form.get(name, "") for name in ("token", "username", "password", "confirm")]
    if not all(isinstance(value, str) for value in values):
        return _invalid(request)  # a file upload where text belongs: not our form
    token, username, password, confirm = (str(value) for value in values)
    if password != confirm:
        if not await _link_valid(request, token):
            return _invalid(request)
        return _page(request, "register.html", status=400, token=token, username=username, error=_MISMATCH)
    try:
        done = await asyncio.to_thread(register, token, username, password, container.uow(),
                                       container.settings.secret_pepper)
    except InvalidRegistrationLink:
        return _invalid(request)
    except (InvalidUsername, WeakPassword) as refused:  # the link is not used up: try again
        return _page(request, "register.html", status=400, token=token, username=username,
                     error=refused.message)
    return _page(request, "register_done.html", first_name=done.first_name, username=done.username)
