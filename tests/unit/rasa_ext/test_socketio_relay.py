"""A bot message reaches a widget whose socket another process holds (`rasa_ext.socketio_relay`).

Two socket.io servers stand for two Sanic workers: a widget's socket sits in a room on one, and
the other emits to that room (an agent's reply that the other worker took). Packets are caught
where the server would write them to the socket.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio

from rasa_ext import socketio_relay
from rasa_ext.socketio_relay import SQLiteRelayManager, client_manager


def server_with(manager: Any) -> tuple[socketio.AsyncServer, list[tuple[str, Any]]]:
    sio = socketio.AsyncServer(async_mode="asgi")
    socketio_relay.attach(sio, manager)
    sent: list[tuple[str, Any]] = []

    async def send_packet(eio_sid: str, packet: Any) -> None:  # '2["event", data]' on the wire
        sent.append((eio_sid, json.loads(packet.data[1:])))

    sio._send_eio_packet = send_packet  # type: ignore[method-assign]
    return sio, sent


async def a_widget_in_a_room(sio: socketio.AsyncServer, room: str) -> None:
    await sio.manager.connect("eio-widget", "/")  # what a websocket's connect does
    sid = sio.manager.sid_from_eio_sid("eio-widget", "/")
    await sio.enter_room(sid, room)
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()  # what the first client's connection does: starts its listener


async def closed(*servers: socketio.AsyncServer) -> None:
    """Stops each listener and closes each manager's connections (no socket left to the GC)."""
    for sio in servers:
        manager = sio.manager
        thread = getattr(manager, "thread", None)
        if thread is not None:
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        for connection in (getattr(manager, "pubsub", None), getattr(manager, "redis", None)):
            if connection is not None:
                await connection.aclose()
        if getattr(manager, "_connection", None) is not None:
            manager._connection.close()


async def delivered(sent: list, timeout: float = 3.0) -> bool:
    for _ in range(int(timeout / 0.02)):
        if sent:
            return True
        await asyncio.sleep(0.02)
    return False


def test_an_emit_on_one_worker_reaches_the_socket_on_the_other(tmp_path: Path) -> None:
    async def scenario() -> tuple[list, list]:
        holder, holder_sent = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
        other, other_sent = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
        await a_widget_in_a_room(holder, "web-customer")
        await asyncio.sleep(0.1)  # the holder's listener has read where the queue stands
        await other.emit("bot_uttered", {"text": "Hi, this is Sam from support."}, room="web-customer")
        await delivered(holder_sent)
        await closed(holder, other)
        return holder_sent, other_sent

    holder_sent, other_sent = asyncio.run(scenario())
    assert len(holder_sent) == 1  # once, to the widget's socket
    assert holder_sent[0][0] == "eio-widget"
    assert holder_sent[0][1] == ["bot_uttered", {"text": "Hi, this is Sam from support."}]
    assert other_sent == []  # the emitting worker holds no socket of that room


def test_workers_forked_from_one_server_relay_to_each_other(tmp_path: Path) -> None:
    """As Sanic does: the server and its manager are built once, then the workers fork. The
    child emits to a room whose socket the parent holds."""
    sio, sent = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
    ready = tmp_path / "listening"
    child = os.fork()
    if child == 0:  # the other worker: emits once the holder listens, then leaves
        try:
            for _ in range(200):
                if ready.exists():
                    break
                time.sleep(0.02)
            asyncio.run(sio.emit("bot_uttered", {"text": "from the other worker"}, room="web-forked"))
        finally:
            os._exit(0)

    async def holder() -> list:
        await a_widget_in_a_room(sio, "web-forked")
        await asyncio.sleep(0.1)
        ready.touch()
        await delivered(sent)
        await closed(sio)
        return sent

    try:
        heard = asyncio.run(holder())
    finally:
        os.waitpid(child, 0)
    assert heard == [("eio-widget", ["bot_uttered", {"text": "from the other worker"}])]


def test_a_socket_on_the_emitting_worker_gets_its_message_once_and_at_once(tmp_path: Path) -> None:
    async def scenario() -> list:
        sio, sent = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
        await a_widget_in_a_room(sio, "web-local")
        await asyncio.sleep(0.1)
        await sio.emit("bot_uttered", {"text": "Your balance is $18,420.55."}, room="web-local")
        assert len(sent) == 1  # before any poll
        await asyncio.sleep(0.3)  # its own relayed copy is ignored
        await closed(sio)
        return sent

    assert len(asyncio.run(scenario())) == 1


def test_the_relay_starts_from_now_not_from_old_messages(tmp_path: Path) -> None:
    async def scenario() -> list:
        earlier, _ = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
        await earlier.emit("bot_uttered", {"text": "old"}, room="web-late")
        late, late_sent = server_with(SQLiteRelayManager(str(tmp_path / "relay.db")))
        await a_widget_in_a_room(late, "web-late")
        await asyncio.sleep(0.3)
        await closed(earlier, late)
        return late_sent

    assert asyncio.run(scenario()) == []


def test_redis_relays_between_replicas() -> None:
    try:
        with redis.Redis(socket_connect_timeout=1) as client:
            client.ping()
    except redis.RedisError as error:
        pytest.fail(f"the tests need the machine's Redis at 127.0.0.1:6379: {error}")

    async def scenario() -> list:
        url = "redis://127.0.0.1:6379/5"
        holder, holder_sent = server_with(client_manager(url, channel="relay-test"))
        other, _ = server_with(client_manager(url, channel="relay-test"))
        await a_widget_in_a_room(holder, "portal-C1001")
        await asyncio.sleep(0.5)  # subscribed
        await other.emit("bot_uttered", {"text": "An agent has joined."}, room="portal-C1001")
        await delivered(holder_sent)
        await closed(holder, other)
        return holder_sent

    assert asyncio.run(scenario())[0][1] == ["bot_uttered", {"text": "An agent has joined."}]


def test_an_empty_url_keeps_one_process_and_an_unknown_one_is_refused() -> None:
    assert client_manager("") is None
    with pytest.raises(ValueError, match="redis:// or sqlite:///"):
        client_manager("kafka://broker:9092")
