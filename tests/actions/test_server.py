"""The action server's start: what it loaded is frozen out of the garbage collector's way."""
from __future__ import annotations

import asyncio
import gc

from actions.server import create_action_app, settle_heap
from autofinance.config import Settings


def test_the_action_server_freezes_its_start_up_heap_once_started() -> None:
    app = create_action_app(Settings.from_env())
    started = [future.listener for future in app._future_listeners
               if future.event == "after_server_start"]
    assert settle_heap in started
    try:
        asyncio.run(settle_heap(app, None))
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
