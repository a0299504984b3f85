"""`python -m autofinance.entrypoints.web`: serve the web app."""
from __future__ import annotations

import logging
import os

from aiohttp import web

from autofinance.config import Settings
from autofinance.entrypoints.web.app import create_app


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    web.run_app(create_app(settings), host=settings.web_host, port=settings.web_port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
