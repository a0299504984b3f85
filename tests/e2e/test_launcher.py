"""`make run`'s launcher: prints where to chat once all three services answer, and Ctrl-C
stops every one of them."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT
from tests.e2e.conftest import free_port, reachable, seed_store

pytestmark = pytest.mark.e2e
PORT_DEPENDENT = {"RASA_URL", "ACTION_ENDPOINT_URL", "SOCKETIO_ALLOWED_ORIGINS", "PUBLIC_BASE_URL",
                  "RASA_API_TOKEN"}


def test_the_launcher_announces_the_services_and_ctrl_c_stops_them_all(tmp_path: Path) -> None:
    ports = {"RASA_PORT": free_port(), "ACTION_SERVER_PORT": free_port(), "WEB_PORT": free_port()}
    inherited = {k: v for k, v in os.environ.items() if k not in PORT_DEPENDENT}
    env = {**inherited, **{k: str(v) for k, v in ports.items()},
           "DATABASE_URL": f"sqlite:///{tmp_path / 'accounts.db'}",
           "TRACKER_SQLITE_PATH": str(tmp_path / "tracker.db")}
    seed_store(env["DATABASE_URL"])
    launcher = subprocess.Popen([str(APP_PYTHON), "-m", "autofinance.entrypoints.stack"], cwd=PROJECT_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert launcher.stdout is not None
        for line in launcher.stdout:  # until the banner's last line, or the launcher gives up
            output.append(line)
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        banner = "".join(output)
        assert "assistant is running" in banner, banner[-3000:]
        assert f"http://localhost:{ports['WEB_PORT']}" in banner
        assert "Rasa API token (generated for this run)" in banner
        assert all(reachable("127.0.0.1", port) for port in ports.values())

        launcher.send_signal(signal.SIGINT)
        rest, _ = launcher.communicate(timeout=60)  # keep reading, or a full pipe would block it
        assert launcher.returncode == 0, rest[-2000:]
        assert "Stopped." in rest
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert not any(reachable("127.0.0.1", port) for port in ports.values())


def test_the_launcher_refuses_the_production_profile_with_demo_secrets_and_starts_nothing() -> None:
    ports = {"RASA_PORT": free_port(), "ACTION_SERVER_PORT": free_port(), "WEB_PORT": free_port()}
    inherited = {k: v for k, v in os.environ.items()
                 if k not in PORT_DEPENDENT | {"SECRET_PEPPER", "PORTAL_JWT_SECRET"}}
    env = {**inherited, **{k: str(v) for k, v in ports.items()}, "ASSISTANT_PROFILE": "production",
           "ACTION_SERVER_TOKEN": "demo-action-secret", "SECRET_PEPPER": "demo-pepper-change-me"}
    finished = subprocess.run([str(APP_PYTHON), "-m", "autofinance.entrypoints.stack"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert finished.stdout == "" and "Traceback" not in finished.stderr
    (line,) = finished.stderr.strip().splitlines()  # one line, naming every offending variable
    assert line.startswith("Could not start the assistant: the production profile needs real secrets:")
    for name in ("RASA_API_TOKEN", "ACTION_SERVER_TOKEN", "SECRET_PEPPER", "PORTAL_JWT_SECRET"):
        assert name in line
    assert not any(reachable("127.0.0.1", port) for port in ports.values())
