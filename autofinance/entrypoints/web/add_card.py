"""GET/POST /add-card: add a debit card from the emailed single-use link.

Card numbers are never taken in chat: the assistant emails this page's link instead. As on the
registration page, the link's token is the credential: it rides in a hidden field, is checked
again on POST (a forged POST must already hold the secret token, so the form needs no other
CSRF token) and is never logged; the pages are never cached and never sent on as a referrer.
The card number is checked with Luhn and never echoed back, logged or stored: the store keeps
the last four and the processor's token.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.entrypoints.web.pages import private_page
from autofinance.services.errors import InvalidCardDetail, InvalidCardLink, NewSourceLimitReached
from autofinance.services.funding_sources import add_debit_card, card_link_valid
from autofinance.services.online_access import SUPPORT_PHONE
from autofinance.services.payments import DEBIT_CARD_FEE

logger = logging.getLogger(__name__)

_CONTEXT = {"support_phone": SUPPORT_PHONE, "fee": f"${DEBIT_CARD_FEE}"}


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    return private_page(request, template, status, **_CONTEXT, **context)


def _invalid(request: web.Request, message: str = InvalidCardLink.message) -> web.Response:
    return _page(request, "add_card_invalid.html", status=400, message=message)


async def add_card_form(request: web.Request) -> web.Response:
    container = request.app[CONTAINER]
    token = request.query.get("token", "")
    if not await asyncio.to_thread(card_link_valid, token, container.uow(), container.settings.secret_pepper):
        logger.info("refused a card link")  # never the token: it is the credential
        return _invalid(request)
    return _page(request, "add_card.html", token=token)


async def submit_card(request: web.Request) -> web.Response:
    container = request.app[CONTAINER]
    form = await request.post()
    values = [form.get(name, "") for name in ("token", "card_number", "exp_month", "exp_year")]
    if not all(isinstance(value, str) for value in values):
        return _invalid(request)  # a file upload where text belongs: not our form
    token, number, month, year = (str(value) for value in values)
    today = datetime.now(ZoneInfo(container.settings.lender_timezone)).date()
    try:
        added = await asyncio.to_thread(add_debit_card, token, number, month, year, container.uow(),
                                        container.settings.secret_pepper, today)
    except InvalidCardLink:
        return _invalid(request)
    except NewSourceLimitReached as refused:
        return _invalid(request, refused.message)
    except InvalidCardDetail as refused:  # the link is not used up: try again (the number is not echoed)
        return _page(request, "add_card.html", status=400, token=token, error=refused.message)
    return _page(request, "add_card_done.html", first_name=added.first_name, card=added.masked_name)
