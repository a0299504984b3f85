"""GET /documents/{document_id}: a statement or the contract, opened from a signed email link.

The link itself is the credential, so a bad signature and an expired link get the same 403
page (no hint which, nothing an attacker could tune against). The URL carries the signature,
so the page is never cached and never sent on as a referrer.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from autofinance.entrypoints.web.keys import CONTAINER
from autofinance.entrypoints.web.pages import private_page
from autofinance.services.documents import render_statement, verify_document_link
from autofinance.services.errors import ServiceError

logger = logging.getLogger(__name__)

_REFUSED = "This link is not valid or has expired. Ask the assistant to send you a new one."
_GONE = "This document is no longer available. Ask the assistant to list your documents."


def _page(request: web.Request, status: int, body: str = "", message: str = "") -> web.Response:
    return private_page(request, "document.html", status, body=body, message=message)


async def document(request: web.Request) -> web.Response:
    container = request.app[CONTAINER]
    document_id = request.match_info["document_id"]
    query = request.query
    customer, exp, sig = query.get("c", ""), query.get("exp", ""), query.get("sig", "")
    if not verify_document_link(customer, document_id, exp, sig, container.settings.secret_pepper):
        logger.info("refused a document link")  # no ids: the request may be forged
        return _page(request, 403, message=_REFUSED)
    today = datetime.now(ZoneInfo(container.settings.lender_timezone)).date()
    try:
        body = await asyncio.to_thread(
            render_statement, int(customer), document_id, container.uow(), today=today)
    except ServiceError:  # a genuine link to a document that has since gone (account closed)
        logger.info("document %s no longer available for customer %s", document_id, customer)
        return _page(request, 404, message=_GONE)
    logger.info("document %s opened for customer %s", document_id, customer)
    return _page(request, 200, body=body)
