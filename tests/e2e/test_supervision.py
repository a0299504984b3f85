"""`make run`'s launcher keeps the assistant up and stops all of it, whatever its processes do.

- Each service killed in turn (action server, web app, Rasa) is started again by the launcher,
  with the reason logged; while the action server is down a customer hears an apology, not
  silence, and nothing of the message is half done.
- Ctrl-C stops every process within 15 s even while Rasa does not respond (its processes are
  stopped with SIGSTOP, as a Rasa stuck in a long computation ignores SIGTERM).
- The launcher killed outright (SIGKILL) takes every service with it: no Rasa is left holding
  its port for the next `make run`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT
from tests.e2e.conftest import free_port, reachable, seed_store

pytestmark = pytest.mark.e2e
PORT_DEPENDENT = {"RASA_URL", "ACTION_ENDPOINT_URL", "SOCKETIO_ALLOWED_ORIGINS", "PUBLIC_BASE_URL",
                  "RASA_API_TOKEN"}
APOLOGY = "having trouble on our side"


class Launched:
    """`python -m autofinance.entrypoints.stack` on free ports, its output read as it comes."""

    def __init__(self, tmp_path: Path) -> None:
        self.ports = {"RASA_PORT": free_port(), "ACTION_SERVER_PORT": free_port(),
                      "WEB_PORT": free_port()}
        inherited = {k: v for k, v in os.environ.items() if k not in PORT_DEPENDENT}
        env = {**inherited, **{k: str(v) for k, v in self.ports.items()},
               "DATABASE_URL": f"sqlite:///{tmp_path / 'accounts.db'}",
               "TRACKER_SQLITE_PATH": str(tmp_path / "tracker.db")}
        seed_store(env["DATABASE_URL"])
        self.process = subprocess.Popen(
            [str(APP_PYTHON), "-m", "autofinance.entrypoints.stack"], cwd=PROJECT_ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, self.output()[-3000:]
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()[-3000:]}"
            time.sleep(0.2)

    def say(self, sender: str, text: str) -> list[str]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['RASA_PORT']}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return [m.get("text", "") for m in json.load(response)]

    def healthy(self, service: str) -> bool:
        port, path = {"rasa": ("RASA_PORT", "/webhooks/rest/"),
                      "actions": ("ACTION_SERVER_PORT", "/health"),
                      "web": ("WEB_PORT", "/health")}[service]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[port]}{path}", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def service_pid(self, module: str) -> int:
        return next(pid for pid in children(self.process.pid) if module in command_line(pid))


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    direct = children(pid)
    return direct + [grandchild for child in direct for grandchild in descendants(child)]


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Launched]:
    launcher = Launched(tmp_path)
    try:
        launcher.wait_for("Ctrl-C stops everything", timeout=240)
        yield launcher
    finally:
        for pid in descendants(launcher.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if launcher.process.poll() is None:
            launcher.process.kill()
        launcher.process.wait(30)
        launcher.reader.join(10)  # to the end of its output
        assert launcher.process.stdout is not None
        launcher.process.stdout.close()


def test_each_service_killed_is_started_again_and_ctrl_c_stops_a_rasa_that_ignores_it(
        launched: Launched) -> None:
    assert launched.say("kill-1", "hi")

    # the action server: an apology while it is down, then service again
    os.kill(launched.service_pid("actions.server"), signal.SIGKILL)
    answer = launched.say("kill-1", "what's my balance")
    assert len(answer) == 1 and APOLOGY in answer[0]
    launched.wait_for("actions stopped unexpectedly (killed by SIGKILL)", timeout=10)
    wait_until(lambda: launched.healthy("actions"), timeout=30)
    again = launched.say("kill-1", "what's my balance")
    assert any("account number or your online username" in text for text in again), again

    # the web app
    os.kill(launched.service_pid("autofinance.entrypoints.web"), signal.SIGKILL)
    launched.wait_for("web stopped unexpectedly (killed by SIGKILL)", timeout=10)
    wait_until(lambda: launched.healthy("web"), timeout=30)

    # Rasa, its workers included: back with the conversation where it was
    rasa = launched.service_pid("rasa_ext.serving")
    workers = children(rasa)
    os.kill(rasa, signal.SIGKILL)
    launched.wait_for("rasa stopped unexpectedly (killed by SIGKILL)", timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10)  # none left behind
    wait_until(lambda: launched.healthy("rasa"), timeout=180)
    assert launched.say("kill-1", "7301004821")  # the verification it asked for, answered
    assert "rasa started again" in launched.output()

    # Ctrl-C while no Rasa process responds (as one stuck in a computation): all gone in 15 s
    rasa = launched.service_pid("rasa_ext.serving")
    stuck = [rasa, *children(rasa)]
    for pid in stuck:
        os.kill(pid, signal.SIGSTOP)
    everything = descendants(launched.process.pid)
    started = time.monotonic()
    launched.process.send_signal(signal.SIGINT)
    launched.process.wait(30)
    took = time.monotonic() - started
    assert took < 15, took
    left = [f"{pid} {command_line(pid)}" for pid in everything if alive(pid)]
    assert not left, left
    assert not any(reachable("127.0.0.1", port) for port in launched.ports.values())
    assert "Stopped." in launched.output()


def test_the_launcher_killed_outright_takes_every_service_with_it(launched: Launched) -> None:
    everything = descendants(launched.process.pid)
    assert len(everything) >= 4  # Rasa (and its workers), the action server, the web app
    launched.process.kill()  # SIGKILL: the launcher cannot stop anything itself
    launched.process.wait(10)
    took = wait_until(lambda: not any(alive(pid) for pid in everything), timeout=10)
    assert took < 5
    wait_until(lambda: not any(reachable("127.0.0.1", port) for port in launched.ports.values()),
               timeout=5)
