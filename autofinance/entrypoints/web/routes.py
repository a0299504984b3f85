"""Named routes, in one place."""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from autofinance.entrypoints.web import console, console_auth, dev_outbox, documents, pages, password_reset
from autofinance.entrypoints.web import portal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application, demo_mode: bool) -> None:
    app.router.add_get("/", pages.home, name="home")
    app.router.add_get("/health", pages.health, name="health")
    app.router.add_get("/documents/{document_id}", documents.document, name="document")
    app.router.add_get("/reset-password", password_reset.reset_form, name="reset_password")
    app.router.add_post("/reset-password", password_reset.submit_reset, name="reset_password")
    app.router.add_get(r"/static/{name:widget\.(?:js|css)}", portal.widget_asset, name="widget_asset")
    app.router.add_get("/static/vendor/socket.io.min.js", portal.socket_io_client, name="socket_io_client")
    console_auth.setup(app)
    console.setup(app)
    if demo_mode:  # outside demo mode these routes do not exist: 404
        app.router.add_get("/dev/outbox.json", dev_outbox.outbox_json, name="dev_outbox_json")
        app.router.add_get("/dev/outbox", dev_outbox.outbox_page, name="dev_outbox")
        app.router.add_post("/demo/sign-in-as", portal.sign_in_as, name="demo_sign_in_as")
        app.router.add_post("/demo/sign-out", portal.sign_out, name="demo_sign_out")
