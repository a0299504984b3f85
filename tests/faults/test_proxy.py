"""The fault proxy does what the fault tests rely on: passes traffic, cuts it, refuses it,
slows it, and serves again (against the machine's Redis)."""
from __future__ import annotations

import socket
import time
from typing import Iterator

import pytest
import redis

from tests.faults.proxy import FaultProxy


@pytest.fixture
def proxied() -> Iterator[tuple[FaultProxy, redis.Redis]]:
    proxy = FaultProxy(6379)
    client = redis.Redis(port=proxy.port, socket_timeout=2, socket_connect_timeout=2)
    try:
        yield proxy, client
    finally:
        client.close()
        proxy.close()


def test_it_passes_cuts_refuses_and_serves_again(proxied: tuple[FaultProxy, redis.Redis]) -> None:
    proxy, client = proxied
    assert client.ping()
    proxy.down()  # the open connection is cut, and a new one is refused
    with pytest.raises(redis.ConnectionError):
        client.ping()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    proxy.up()
    assert client.ping()


def test_it_slows_each_chunk_and_drops_some_connections(proxied: tuple[FaultProxy, redis.Redis]) -> None:
    proxy, client = proxied
    proxy.slow(0.2)
    started = time.monotonic()
    client.ping()
    assert time.monotonic() - started >= 0.4  # there and back
    proxy.up()
    proxy.flaky(1)  # every new connection is cut 0.2 s after it opens
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(64) == b"+PONG\r\n"  # served at first
        time.sleep(0.4)
        try:
            raw.sendall(b"PING\r\n")
            answer = raw.recv(64)
        except OSError:
            answer = b""
        assert answer == b""  # then cut
