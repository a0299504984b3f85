"""A TCP proxy in front of a store, for injecting its faults (as toxiproxy does).

The stack reaches PostgreSQL, Redis and RabbitMQ through one of these each, so a test can take
a store away without touching the machine's own server, which other runs share:

- `down()`: every open connection is cut and new ones are closed at once, as when the server
  stops or its host is unreachable; `up()` serves again, as when it is back;
- `slow(seconds)`: every chunk each way waits that long first;
- `flaky(every)`: one connection in `every` is cut shortly after it opens.
"""
from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from typing import Optional

CHUNK = 65536


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.mode, self.delay, self.cut_every = "up", 0.0, 0
        self._opened = itertools.count(1)
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: Optional[asyncio.base_events.Server] = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        ready.set()
        self._loop.run_forever()
        pending = asyncio.all_tasks(self._loop)  # the pipes of cut connections, ending
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    # --- what a test does -------------------------------------------------------------------

    def up(self) -> None:
        self.mode, self.delay, self.cut_every = "up", 0.0, 0

    def down(self) -> None:
        self.mode = "down"
        self._loop.call_soon_threadsafe(self._cut_all)

    def slow(self, seconds: float) -> None:
        self.mode, self.delay = "up", seconds

    def flaky(self, every: int) -> None:
        self.mode, self.cut_every = "up", every

    def close(self) -> None:
        def stop() -> None:
            self._cut_all()
            if self._server is not None:
                self._server.close()
            self._loop.stop()
        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)
        self._loop.close()

    # --- the proxy ------------------------------------------------------------------------------

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        number = next(self._opened)
        if self.cut_every and number % self.cut_every == 0:
            self._loop.call_later(0.2, self._cut, client_writer, upstream_writer)
        await asyncio.gather(self._pipe(client_reader, upstream_writer),
                             self._pipe(upstream_reader, client_writer))
        self._cut(client_writer, upstream_writer)

    def _cut(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            writer.transport.abort()
            self._writers.discard(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.mode == "down":
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
