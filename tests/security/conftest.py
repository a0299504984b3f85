"""The adversarial suite: attacks against the running stack (the e2e stack, shared) and against
the pure rules behind the defences. Helpers to send what a client would not normally send."""
from __future__ import annotations

import json
import socket
import sqlite3
import urllib.error
import urllib.request
from typing import Any, Optional

import pytest

from tests.e2e.conftest import RunningStack, embedded_stack  # noqa: F401 - the shared stack


@pytest.fixture
def running(embedded_stack: RunningStack) -> RunningStack:  # noqa: F811
    return embedded_stack


def post_raw(running: RunningStack, body: bytes, headers: Optional[dict[str, str]] = None,
             path: str = "/webhooks/rest/webhook", timeout: float = 60) -> tuple[int, Any]:
    """POSTs `body` as it is; returns the status and the JSON answer (None if not JSON)."""
    request = urllib.request.Request(running.url("rasa", path), data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
        error.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def post_json(running: RunningStack, payload: Any, **kwargs: Any) -> tuple[int, Any]:
    return post_raw(running, json.dumps(payload).encode(), **kwargs)


def raw_http(running: RunningStack, request: bytes, timeout: float = 10) -> bytes:
    """Sends bytes on a new connection to Rasa; returns what comes back before it goes quiet."""
    port = int(running.env["RASA_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while b"\r\n\r\n" not in received or not received.endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except socket.timeout:
            pass
        return received


def stored_events(running: RunningStack, sender: str) -> list[dict[str, Any]]:
    """Every event the tracker store holds for `sender`, as stored (JSON)."""
    with sqlite3.connect(running.env["TRACKER_SQLITE_PATH"]) as connection:
        rows = connection.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id",
                                  (sender,)).fetchall()
    return [json.loads(data) for (data,) in rows]


def stored_senders(running: RunningStack) -> set[str]:
    with sqlite3.connect(running.env["TRACKER_SQLITE_PATH"]) as connection:
        return {sender for (sender,) in connection.execute("SELECT DISTINCT sender_id FROM events")}


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("text") or "" for e in events if e.get("event") == "user"]


def conversation_id(confirmed: str) -> str:
    """The conversation a widget's `session_confirm` names (its signed copy: `<id>.<t>.<mac>`)."""
    return confirmed.split(".")[0]
