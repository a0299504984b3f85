"""`python -m autofinance.entrypoints.web`: serve the web app."""
from __future__ import annotations

import sys

from aiohttp import web

from autofinance.config import process_settings
from autofinance.entrypoints.web.app import create_app


def main() -> int:
    settings = process_settings("the web app")  # in production: refuses demo or missing secrets
    web.run_app(create_app(settings), host=settings.web_host, port=settings.web_port,
                access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
