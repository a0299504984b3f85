"""Entry point of the action server: rasa_sdk's app, locked with the shared secret.

rasa_sdk has no authentication of its own. Rasa sends the token configured in
`endpoints.yml` (`action_endpoint.token`) as `?token=`; every call without it is refused.
Run with `python -m actions.server`.
"""
from __future__ import annotations

import gc
import logging
import secrets
import sys

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from autofinance.config import Settings, process_settings

logger = logging.getLogger(__name__)


def create_action_app(settings: Settings) -> Sanic:
    app = create_app("actions", cors_origins="")
    expected = settings.action_server_token.reveal()

    @app.middleware("request")
    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path == "/health":
            return None
        supplied = request.args.get("token", "")
        if not expected or not secrets.compare_digest(supplied.encode(), expected.encode()):
            return response.json({"error": "unauthorized"}, status=401)
        return None

    app.listener("after_server_start")(settle_heap)
    return app


async def settle_heap(*_: object) -> None:
    """What is loaded at start lives as long as the server: frozen, full garbage collections
    stop walking it again (a sixth of this server's CPU under load)."""
    gc.collect()
    gc.freeze()


def main() -> int:
    settings = process_settings("the action server")  # in production: refuses demo or missing secrets
    app = create_action_app(settings)
    app.run(host=settings.action_server_host, port=settings.action_server_port,
            workers=settings.action_server_sanic_workers, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
