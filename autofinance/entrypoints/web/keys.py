"""Typed keys of what the application holds for its views (`request.app[CONTAINER]`).

Set by `app.create_app`; this module imports no view, so every view can import it without a
circle back through the app and its routes.
"""
from __future__ import annotations

from aiohttp import web

from autofinance.adapters.rasa_api import RasaClient
from autofinance.bootstrap import Container
from autofinance.entrypoints.web.console.limiter import SignInLimiter

CONTAINER = web.AppKey("container", Container)  # settings and units of work
RASA = web.AppKey("rasa", RasaClient)  # the console's way into conversations
SIGN_IN_LIMITER = web.AppKey("console_sign_in_limiter", SignInLimiter)
