"""The two assistants under test: ours (the embedded stack, bulk-seeded) and stock `rasa init`."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Mapping, Optional


from autofinance.entrypoints.stack import APP_PYTHON, PROJECT_ROOT, RASA_BIN, Stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_memory_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Every living descendant of a process (Sanic's workers are children of `rasa run`)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(parents.get(child, []))
    return found


def tree_sum(pid: int, measure: Callable[[int], float]) -> float:
    """`measure` of a process and its living descendants (Sanic's workers), summed."""
    total = 0.0
    for member in [pid, *children(pid)]:
        try:
            total += measure(member)
        except OSError:  # ended while we looked
            continue
    return total


def tree_peak_memory_mb(pid: int) -> float:
    """Peak resident memory of a process and its descendants, summed (each worker holds a model)."""
    return tree_sum(pid, peak_memory_mb)


def proportional_memory_mb(pid: int) -> float:
    """The process's resident memory with each page shared with other processes divided among
    them (Pss): what it adds to the machine. Sanic workers share what their parent loaded."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_proportional_memory_mb(pid: int) -> float:
    """Proportional memory of a process and its descendants, summed: shared pages count once."""
    return tree_sum(pid, proportional_memory_mb)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a living process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living descendants (Sanic's workers), summed."""
    return tree_sum(pid, cpu_seconds)


def seed(database_url: str, customers: int) -> None:
    subprocess.run([str(APP_PYTHON), "-m", "autofinance", "seed", "--bulk", str(customers)],
                   cwd=PROJECT_ROOT, check=True, env={**os.environ, "DATABASE_URL": database_url})


def start_ours(work: Path, database_url: str, extra: Optional[Mapping[str, str]] = None) -> Stack:
    rasa_port, action_port, web_port = free_port(), free_port(), free_port()
    env = {**os.environ, "RASA_PORT": str(rasa_port), "ACTION_SERVER_PORT": str(action_port),
           "WEB_PORT": str(web_port), "RASA_URL": f"http://127.0.0.1:{rasa_port}",
           "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
           "RASA_API_TOKEN": secrets.token_urlsafe(16), "DATABASE_URL": database_url,
           "TRACKER_SQLITE_PATH": str(work / "tracker.db"), "LOG_LEVEL": "WARNING",
           "REMINDERS": "",  # no reminders to 10,000 customers due on the 10th in the middle of the load
           **(extra or {})}
    stack = Stack.from_env(env, log_to=work)
    stack.start()
    try:
        stack.wait_until_healthy(timeout=300)
    except BaseException:
        stack.stop()  # one service died or hung: the others must not outlive the bench
        raise
    return stack


def stock_project(work: Path) -> Path:
    """`rasa init` once (it trains its model); kept under var/ for the next run."""
    project = work / "stock-bot"
    if not list((project / "models").glob("*.tar.gz")):
        project.mkdir(parents=True, exist_ok=True)
        print("==> creating and training the stock `rasa init` assistant (first run only)", flush=True)
        subprocess.run([str(RASA_BIN), "init", "--no-prompt", "--init-dir", str(project)],
                       cwd=project, check=True, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
                       stdout=subprocess.DEVNULL)
    return project


def start_stock(project: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Plain `rasa run` of the stock project, as its README would have it."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(RASA_BIN), "run", "--port", str(port), "--model", "models"], cwd=project,
            env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the stock assistant exited; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/webhooks/rest/", timeout=2):
                return process, url
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise TimeoutError("the stock assistant did not start") from None
            time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
