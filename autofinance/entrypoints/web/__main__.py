"""`python -m autofinance.entrypoints.web`: serve the web app."""
from __future__ import annotations

import sys

from aiohttp import web

from autofinance.config import Settings, configure_logging
from autofinance.entrypoints.web.app import create_app


def main() -> int:
    try:
        settings = Settings.from_env()  # in production: refuses demo or missing secrets
    except ValueError as error:
        print(f"Could not start the web app: {error}", file=sys.stderr, flush=True)
        return 1
    configure_logging(settings)
    web.run_app(create_app(settings), host=settings.web_host, port=settings.web_port,
                access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
