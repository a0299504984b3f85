"""Starts the services (Rasa, action server, web app) and the workers (the reminder scheduler,
and the outbox's delivery worker when real senders are configured), keeps them up, stops them
together.

`make run` calls `python -m autofinance.entrypoints.stack`; the end-to-end tests use `Stack` to run the
same processes with other ports and profiles.

- A service that dies on its own is started again, after a pause that doubles with each crash
  in a row (1 s up to 30 s; a service up for a minute starts the count again), and the reason
  is logged. Meanwhile customers hear an apology from whichever service is still up
  (rasa_ext/resilience.py), not a connection error.
- Ctrl-C or SIGTERM stops every process within `STOP_SECONDS`: SIGTERM to each service's process
  group (a service and its workers), then SIGKILL to any group still there, whatever it is doing.
- Each service is killed by the kernel if the launcher itself dies, even by SIGKILL
  (Linux's parent-death signal): no Rasa is left holding its port for the next `make run`.
"""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from autofinance import config
from autofinance.entrypoints import channels
from autofinance.config import PROJECT_ROOT, Settings

RASA_BIN = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "rasa"
RASA_PYTHON = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "python"
APP_PYTHON = PROJECT_ROOT / ".venv" / "app" / "bin" / "python"
MODEL_PATH = Path(config.default("RASA_MODEL"))
COLOURS = {"rasa": "\033[35m", "actions": "\033[36m", "web": "\033[32m", "reminders": "\033[33m",
           "delivery": "\033[34m"}
STOP_SECONDS = 10.0  # SIGTERM's grace; then SIGKILL
DELIVERY_EVERY_SECONDS = 5
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 30.0  # before a crashed service starts again
STEADY_SECONDS = 60.0  # up this long: its next crash counts as the first
PR_SET_PDEATHSIG = 1


def service_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment every service gets: the caller's, plus what it lacks of the ports, Rasa's
    address and the variables the Rasa YAML files read, with their defaults from
    autofinance.config (no demo secret in the production profile)."""
    merged = {**env, **config.launcher_environment(env)}
    merged["RASA_TELEMETRY_ENABLED"] = "false"
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), merged.get("PYTHONPATH")]))
    merged.setdefault("PYTHONUNBUFFERED", "1")
    return merged


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: Optional[str]  # None: a worker, up while its process runs
    process: Optional[subprocess.Popen[bytes]] = None
    started_at: float = 0.0
    crashes: int = 0  # in a row
    restart_at: Optional[float] = None  # when a crashed service is to start again


def exit_reason(code: int) -> str:
    """A process's end in words: its exit code, or the signal that killed it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _die_with_launcher() -> None:
    """In the child, before it runs: the kernel sends it SIGKILL when the launcher dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the launcher's own stop still applies
        pass


def rasa_service(env: Mapping[str, str], credentials: Path, name: str = "rasa") -> Service:
    """`rasa run` on the env's RASA_PORT with its profile's endpoints (scale-out runs several),
    through `rasa_ext.serving`, which spares Rasa work it would repeat on every message.
    RASA_ENDPOINTS names another endpoints file (the benchmark's Sanic-workers run)."""
    command = [
        str(RASA_PYTHON), "-m", "rasa_ext.serving", "run",
        # one argument: a token may start with "-" (token_urlsafe does, 1 in 64), which
        # argparse would take for an option and Rasa would refuse to start
        "--enable-api", f"--auth-token={env['RASA_API_TOKEN']}",
        "--port", env["RASA_PORT"], "--credentials", str(credentials),
        "--endpoints", config.value(env, "RASA_ENDPOINTS"), "--model", config.value(env, "RASA_MODEL"),
        "--cors", f"http://localhost:{env['WEB_PORT']}",
    ]
    return Service(name, command, f"http://127.0.0.1:{env['RASA_PORT']}/webhooks/rest/")


def action_service(env: Mapping[str, str], name: str = "actions") -> Service:
    """The action server on the env's ACTION_SERVER_PORT (stateless: scale-out runs several)."""
    return Service(name, [str(APP_PYTHON), "-m", "actions.server"],
                   f"http://127.0.0.1:{env['ACTION_SERVER_PORT']}/health")


def worker_services(env: Mapping[str, str]) -> list[Service]:
    """The reminder scheduler, and the delivery worker when NOTIFIER=smtp (in the demo the
    outbox is the end of the line: /dev/outbox shows what would be sent)."""
    settings = Settings.from_env(env)
    workers = [Service("reminders", [str(APP_PYTHON), "-m", "autofinance", "reminders", "--every",
                                     str(settings.reminder_every_seconds)], None)]
    if settings.notifier == "smtp":
        workers.append(Service("delivery", [str(APP_PYTHON), "-m", "autofinance", "deliver-outbox",
                                            "--every", str(DELIVERY_EVERY_SECONDS)], None))
    return workers


@dataclass
class Stack:
    """The three processes of one deployment, on the ports of `env`."""

    env: dict[str, str]
    log_to: Optional[Path] = None  # None: prefixed lines on stdout; else one log file a service
    services: list[Service] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str], log_to: Optional[Path] = None) -> "Stack":
        env = service_environment(env)
        # credentials.yml + the messaging channels whose variables are set (autofinance.entrypoints.channels),
        # in the stack's own directory when it has one (the tests' temporary one), else var/
        credentials = channels.write_credentials(
            env, (log_to or PROJECT_ROOT / "var") / f"credentials.{env['RASA_PORT']}.yml")
        return cls(env=env, log_to=log_to, services=[
            rasa_service(env, credentials), action_service(env),
            Service("web", [str(APP_PYTHON), "-m", "autofinance.entrypoints.web"],
                    f"http://127.0.0.1:{env['WEB_PORT']}/health"),
            *worker_services(env),
        ])

    def start(self) -> None:
        for service in self.services:
            self.start_one(service)

    def start_one(self, service: Service) -> None:
        """Starts (or starts again) one service; call from the thread that will outlive it
        (the parent-death signal follows the thread that started the child)."""
        if self.log_to is None:
            service.process = self._spawn(service, subprocess.PIPE)
            threading.Thread(target=_relay, args=(service,), daemon=True).start()
        else:
            with open(self.log_to / f"{service.name}.log", "ab") as log:
                service.process = self._spawn(service, log)  # the child keeps its own copy
        service.started_at, service.restart_at = time.monotonic(), None

    def _spawn(self, service: Service, output: Any) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches the launcher only, which stops the children.
        return subprocess.Popen(service.command, cwd=PROJECT_ROOT, env=self.env, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_launcher)

    def supervise(self, now: Optional[float] = None) -> list[str]:
        """Notices services that died and starts them again when their pause is over; returns
        what happened, one line each, for the log."""
        now = time.monotonic() if now is None else now
        said = []
        for service in self.services:
            process = service.process
            if service.restart_at is None and process is not None and process.poll() is not None:
                steady = now - service.started_at >= STEADY_SECONDS
                service.crashes = 1 if steady else service.crashes + 1
                pause = min(FIRST_PAUSE * 2 ** (service.crashes - 1), LONGEST_PAUSE)
                service.restart_at = now + pause
                said.append(f"{service.name} stopped unexpectedly ({exit_reason(process.returncode)}); "
                            f"starting it again in {pause:.0f} s (crash {service.crashes} in a row)")
            elif service.restart_at is not None and now >= service.restart_at:
                self.start_one(service)
                said.append(f"{service.name} started again")
        return said

    def wait_until_healthy(
        self, timeout: float = 300, cancelled: Optional[threading.Event] = None
    ) -> None:
        """Blocks until every service answers its health URL; raises if one dies or time runs out."""
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending:
            if cancelled is not None and cancelled.is_set():
                raise RuntimeError("stopped before every service was up")
            for service in list(pending):
                if service.process and service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited with code {service.process.returncode}")
                if service.health_url is None or _answers(service.health_url):
                    pending.remove(service)
            if time.monotonic() > deadline:
                raise TimeoutError("not answering: " + ", ".join(s.name for s in pending))
            if pending:
                time.sleep(0.5)

    def exited(self) -> Optional[Service]:
        return next((s for s in self.services if s.process and s.process.poll() is not None), None)

    def stop(self, grace: float = STOP_SECONDS) -> None:
        """SIGTERM to every service's group; after `grace`, SIGKILL to each group still there
        (a service's workers included, whatever they are doing)."""
        for service in self.services:
            service.restart_at = None
            if service.process is not None:
                _signal_group(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in self.services:
            if service.process is None:
                continue
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(service.process.pid, signal.SIGKILL)  # its workers too, if any linger
            service.process.wait()
        for service in self.services:  # a killed worker frees its memory and port a moment later
            if service.process is not None:
                _wait_for_group(service.process.pid, GROUP_EXIT_SECONDS)


GROUP_EXIT_SECONDS = 3.0


def _signal_group(pid: int, signum: signal.Signals) -> bool:
    """Signals the process group `pid` leads; False when no process of it is left."""
    try:
        os.killpg(pid, signum)
        return True
    except ProcessLookupError:
        return False


def _wait_for_group(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _signal_group(pid, 0) and time.monotonic() < deadline:  # type: ignore[arg-type]
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _relay(service: Service) -> None:
    """Copies a service's output to ours, each line prefixed with the service's name."""
    assert service.process and service.process.stdout
    colour = COLOURS.get(service.name, "") if sys.stdout.isatty() else ""
    reset = "\033[0m" if colour else ""
    for raw in service.process.stdout:
        line = raw.decode(errors="replace").rstrip()
        print(f"{colour}{service.name:>7} |{reset} {line}", flush=True)


def banner(env: Mapping[str, str], generated_token: bool) -> str:
    web = f"http://localhost:{env['WEB_PORT']}"
    token_line = (f"  Rasa API token (generated for this run): {env['RASA_API_TOKEN']}"
                  if generated_token else "  Rasa API token: from RASA_API_TOKEN")
    return "\n".join([
        "",
        "Meridian Auto Finance assistant is running.",
        f"  Web app:        {web}",
        f"  Rasa server:    http://localhost:{env['RASA_PORT']}  (REST: /webhooks/rest/webhook, socket.io)",
        f"  Action server:  http://localhost:{env['ACTION_SERVER_PORT']}",
        f"  Messaging:      {channels.describe(env)}",
        f"  Reminders:      due ones go to the outbox every {config.value(env, 'REMINDER_EVERY_SECONDS')} s"
        + ("" if config.value(env, "NOTIFIER") == "smtp" else f"  (see {web}/dev/outbox)"),
        token_line,
        "",
        "Try it (REST):",
        f"  curl -s localhost:{env['RASA_PORT']}/webhooks/rest/webhook -d "
        "'{\"sender\":\"me\",\"message\":\"what is my balance\"}'",
        "  then account 7301004821, ZIP 30309, \"email\", and the code from "
        f"{web}/dev/outbox  -> Maria Lopez's balance, $18,420.55",
        "  or: make shell    (talk to the assistant in this terminal)",
        f"Support console: {web}/console" + (
            "  (demo.agent / demo-agent-pass, TOTP secret JBSWY3DPEHPK3PXP)"
            if Settings.from_env(env).demo_mode else ""),
        "Ctrl-C stops everything.",
        "",
    ])


def main() -> int:
    env = dict(os.environ)
    try:
        # a bad setting, or a demo secret in production, is one clear line here, not three
        # tracebacks later
        Settings.from_env(env)
    except ValueError as error:
        print(f"Could not start the assistant: {error}", file=sys.stderr, flush=True)
        return 1
    generated = not config.value(env, "RASA_API_TOKEN")
    if generated:
        env["RASA_API_TOKEN"] = secrets.token_urlsafe(24)
    stack = Stack.from_env(env)
    stopping = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack.start()
    try:
        print("Starting Rasa (loading the model takes a little while), the action server, the web app "
              "and the reminder scheduler...")
        stack.wait_until_healthy(cancelled=stopping)
        print(banner(stack.env, generated), flush=True)
        while not stopping.wait(0.5):
            for line in stack.supervise():
                print(line, flush=True)
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"Could not start the assistant: {error}", flush=True)
        return 1
    finally:
        print("Stopping all services...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
