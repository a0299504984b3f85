"""Sign-in attempts per client address: a sliding window, in memory and per process.

It adds to the per-account lockout in `services.staff`. Behind a reverse proxy every client has
the proxy's address, so the proxy must limit per client itself.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Optional


class SignInLimiter:
    """At most `limit` sign-in attempts per client address in a sliding window (memory only)."""

    _MAX_CLIENTS = 10_000  # past this many addresses, forget the ones that are quiet

    def __init__(self, limit: int = 20, window_seconds: float = 15 * 60) -> None:
        self.limit, self.window = limit, window_seconds
        self._attempts: dict[str, deque[float]] = {}

    def allow(self, client: str, now: Optional[float] = None) -> bool:
        """Counts an attempt; False once the client has used up its window (not counted)."""
        now = time.monotonic() if now is None else now
        attempts = self._attempts.setdefault(client, deque())
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        if len(attempts) >= self.limit:
            return False
        attempts.append(now)
        if len(self._attempts) > self._MAX_CLIENTS:
            self._attempts = {key: seen for key, seen in self._attempts.items()
                              if seen and seen[-1] > now - self.window}
        return True
