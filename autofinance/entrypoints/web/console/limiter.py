"""Sign-in attempts per client address: a sliding window.

It adds to the per-account lockout in `services.staff`. `SignInLimiter` counts in this process's
memory (the embedded default: one web app). `SharedSignInLimiter` counts in Redis, so that web
app replicas behind a balancer share one count per address (the production profile); while
Redis cannot be reached it counts in memory, so attempts stay limited per replica. Behind a
reverse proxy every client has the proxy's address, so the proxy must limit per client itself.
"""
from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import deque
from typing import Any, Optional

import redis

logger = logging.getLogger(__name__)

DEFAULT_LIMIT, DEFAULT_WINDOW_SECONDS = 20, 15 * 60

# One atomic step: forget attempts older than the window, refuse at the limit, else count this one.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""


class SignInLimiter:
    """At most `limit` sign-in attempts per client address in a sliding window (memory only)."""

    _MAX_CLIENTS = 10_000  # past this many addresses, forget the ones that are quiet

    def __init__(self, limit: int = DEFAULT_LIMIT, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
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


class SharedSignInLimiter(SignInLimiter):
    """The same window, counted in Redis for every replica (a sorted set per address)."""

    def __init__(self, url: str, key_prefix: str, limit: int = DEFAULT_LIMIT,
                 window_seconds: float = DEFAULT_WINDOW_SECONDS, client: Any = None) -> None:
        super().__init__(limit, window_seconds)
        self.redis = client or redis.Redis.from_url(url, socket_timeout=0.5,
                                                    socket_connect_timeout=0.5)
        self.key_prefix = key_prefix
        self._script = self.redis.register_script(_SLIDING_WINDOW)

    def key(self, client: str) -> str:
        """The address is not kept in clear: a hash of it names the count."""
        return f"{self.key_prefix}:console-sign-in:{hashlib.sha256(client.encode()).hexdigest()[:32]}"

    def allow(self, client: str, now: Optional[float] = None) -> bool:
        now = time.time() if now is None else now  # one clock for every replica
        try:
            return bool(self._script(keys=[self.key(client)],
                                     args=[now, self.window, self.limit, f"{now}:{uuid.uuid4().hex}"]))
        except Exception:  # noqa: BLE001 - Redis down: still limited, in this replica's memory
            logger.warning("sign-in limiter: Redis unreachable, counting in memory", exc_info=True)
            return super().allow(client, time.monotonic())
