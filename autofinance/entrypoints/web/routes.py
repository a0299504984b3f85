"""Every route of the web app, named, in one table (the demo-only ones in a second)."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from autofinance.entrypoints.web import add_card, dev_outbox, documents, pages, password_reset, portal, registration
from autofinance.entrypoints.web.console import api, auth, feed
from autofinance.entrypoints.web.console import pages as console_pages

STATIC = Path(__file__).parent / "static"  # the console's script and style sheet live here

ROUTES: list[web.AbstractRouteDef] = [
    web.get("/", pages.home, name="home"),
    web.get("/health", pages.health, name="health"),
    web.get("/documents/{document_id}", documents.document, name="document"),
    web.get("/reset-password", password_reset.reset_form, name="reset_password"),
    web.post("/reset-password", password_reset.submit_reset, name="reset_password"),
    web.get("/register", registration.register_form, name="register"),
    web.post("/register", registration.submit_registration, name="register"),
    web.get("/add-card", add_card.add_card_form, name="add_card"),
    web.post("/add-card", add_card.submit_card, name="add_card"),
    web.get(r"/static/{name:widget\.(?:js|css)}", portal.widget_asset, name="widget_asset"),
    web.get("/static/vendor/socket.io.min.js", portal.socket_io_client, name="socket_io_client"),
    # the support console: sign-in and session
    web.get(auth.SIGN_IN_PATH, auth.sign_in_page, name="console_sign_in"),
    web.post(auth.SIGN_IN_PATH, auth.submit_sign_in, name="console_sign_in"),
    web.post("/console/sign-out", auth.submit_sign_out, name="console_sign_out"),
    web.get("/console/api/session", auth.get_session, name="console_session"),
    web.post("/console/api/session", auth.create_session, name="console_session"),
    web.delete("/console/api/session", auth.delete_session, name="console_session"),
    # the support console: pages, JSON API, live feed, static files
    web.get(auth.HOME_PATH, console_pages.console_page, name="console"),
    web.get("/console/metrics", console_pages.metrics_page, name="console_metrics"),
    web.get("/console/api/queue", api.queue, name="console_api_queue"),
    web.get("/console/api/metrics", api.metrics, name="console_api_metrics"),
    web.get("/console/api/tickets/{number}", api.ticket, name="console_api_ticket"),
    web.post("/console/api/tickets/{number}/claim", api.claim, name="console_api_claim"),
    web.post("/console/api/tickets/{number}/reply", api.reply, name="console_api_reply"),
    web.post("/console/api/tickets/{number}/notes", api.note, name="console_api_notes"),
    web.post("/console/api/tickets/{number}/resolve", api.resolve, name="console_api_resolve"),
    web.post("/console/api/tickets/{number}/close", api.close, name="console_api_close"),
    web.post("/console/api/fraud-cases/{case_number}/clear", api.clear_fraud_case,
             name="console_api_clear_fraud_case"),
    web.get("/console/api/work-items", api.work_items, name="console_api_work_items"),
    web.post("/console/api/work-items/{reference}/{action:claim|release|complete|decline}",
             api.work_item_action, name="console_api_work_item"),
    web.get("/console/work", console_pages.work_page, name="console_work"),
    web.post("/console/work/{reference}/{action:claim|release|complete|decline}",
             console_pages.submit_work_item, name="console_work_item"),
    web.get("/console/ws", feed.live_updates, name="console_ws"),
    web.static("/console/static", STATIC, name="console_static"),
]

DEMO_ROUTES: list[web.AbstractRouteDef] = [  # outside demo mode these do not exist: 404
    web.get("/dev/outbox.json", dev_outbox.outbox_json, name="dev_outbox_json"),
    web.get("/dev/outbox", dev_outbox.outbox_page, name="dev_outbox"),
    web.post("/demo/sign-in-as", portal.sign_in_as, name="demo_sign_in_as"),
    web.post("/demo/sign-out", portal.sign_out, name="demo_sign_out"),
    web.post("/demo/alerts/read", portal.alerts_read, name="demo_alerts_read"),
]


def setup(app: web.Application, demo_mode: bool) -> None:
    app.router.add_routes(ROUTES)
    if demo_mode:
        app.router.add_routes(DEMO_ROUTES)
