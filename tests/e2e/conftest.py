"""Starting the real services (Rasa, action server, web app) on spare ports for a test module."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from autofinance.demo.seed import DEMO_AGENT
from autofinance.services.staff import authenticator
from autofinance.entrypoints.stack import APP_PYTHON, MODEL_PATH, PROJECT_ROOT, Stack


CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# This machine's network is closed: without these Chromium keeps trying to reach Google.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = f"no Chromium at {CHROMIUM}: 'apt-get install chromium' (make test does it as root)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def seed_store(database_url: str, env: Optional[dict[str, str]] = None) -> None:
    """The demo customers, hashed with the pepper of `env` (the stack's), else this process's."""
    subprocess.run([str(APP_PYTHON), "-m", "autofinance", "seed"], cwd=PROJECT_ROOT, check=True,
                   env={**(os.environ if env is None else env), "DATABASE_URL": database_url},
                   capture_output=True)


class RunningStack:
    """A started stack plus helpers to talk to it like a client would."""

    def __init__(self, stack: Stack, logs: Path) -> None:
        self.stack, self.logs, self.env = stack, logs, stack.env

    def url(self, service: str, path: str = "") -> str:
        port = {"rasa": "RASA_PORT", "actions": "ACTION_SERVER_PORT", "web": "WEB_PORT"}[service]
        return f"http://127.0.0.1:{self.env[port]}{path}"

    def say(self, sender: str, text: str) -> list[str]:
        """Sends a message on the REST channel; returns the assistant's texts."""
        body = json.dumps({"sender": sender, "message": text}).encode()
        headers = {"Content-Type": "application/json"}
        if self.env.get("REST_GATEWAY_TOKEN"):  # as the authenticating gateway in front of REST
            headers["Authorization"] = f"Bearer {self.env['REST_GATEWAY_TOKEN']}"
        request = urllib.request.Request(self.url("rasa", "/webhooks/rest/webhook"), data=body,
                                         headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            return [m.get("text", "") for m in json.load(response)]

    def get(self, service: str, path: str, token: Optional[str] = None) -> tuple[int, Any]:
        url = self.url(service, path) + (f"?token={token}" if token else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            error.close()
            return error.code, None

    def latest_code(self, to: str) -> str:
        _, messages = self.get("web", "/dev/outbox.json")
        body = next(m["body"] for m in messages if m["to"] == to)
        return re.search(r"\b(\d{6})\b", body).group(1)

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")


def start_stack(tmp_path: Path, extra_env: dict[str, str]) -> Iterator[RunningStack]:
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run 'make train' (make test does it first)")
    ports = {"RASA_PORT": free_port(), "ACTION_SERVER_PORT": free_port(), "WEB_PORT": free_port()}
    # Everything that depends on the ports is set here, never inherited from the caller.
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "RASA_URL": f"http://127.0.0.1:{ports['RASA_PORT']}",
           "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['ACTION_SERVER_PORT']}/webhook",
           "SOCKETIO_ALLOWED_ORIGINS": f"http://localhost:{ports['WEB_PORT']}",
           "PUBLIC_BASE_URL": f"http://localhost:{ports['WEB_PORT']}",
           "RASA_API_TOKEN": secrets.token_urlsafe(16), "ACTION_SERVER_TOKEN": secrets.token_urlsafe(16),
           "TRACKER_SQLITE_PATH": str(tmp_path / "tracker.db"), **extra_env}
    seed_store(env["DATABASE_URL"], env)
    stack = Stack.from_env(env, log_to=tmp_path)
    stack.start()
    try:
        try:
            stack.wait_until_healthy(timeout=240)
        except (RuntimeError, TimeoutError) as error:
            logs = "\n".join((tmp_path / f"{s.name}.log").read_text(errors="replace")[-3000:]
                             for s in stack.services)
            pytest.fail(f"the stack did not start: {error}\n{logs}")
        yield RunningStack(stack, tmp_path)
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The embedded default (SQLite stores), shared by the test modules that only talk to it."""
    tmp = tmp_path_factory.mktemp("embedded")
    yield from start_stack(tmp, {"DATABASE_URL": f"sqlite:///{tmp / 'accounts.db'}"})


_last_totp_step = 0


def demo_agent_code() -> str:
    """A TOTP code for the demo agent that the console has not seen yet.

    A code works once (its time step must be newer than the last accepted one), and several tests
    sign the same agent in within one 30-second step: take the next unused step, which the
    console accepts while it is at most one step ahead, waiting when it would be further ahead.
    """
    global _last_totp_step
    totp = authenticator(DEMO_AGENT["totp_secret"], demo_mode=True)
    step = max(int(time.time() // 30), _last_totp_step + 1)
    while step > int(time.time() // 30) + 1:
        time.sleep(1)
    _last_totp_step = step
    return totp.at(step * 30)
