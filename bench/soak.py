"""`python -m bench --soak [--minutes 20]`: `make run`'s assistant held at 70% of its maximum.

First the busiest level runs once to measure the maximum throughput; then the same number of
customers hold a steady 70% of it for `minutes`, each pausing between messages as needed (a
person reading the answer), through whole servicing conversations. Every minute records the
messages, errors, p50/p99, and of each service its memory (Pss: shared pages once), open files,
open SQLite database files and open sockets (its connections: the customers' and the services'
to each other). The verdicts: no service's memory grows by 5% or more from the first minutes
after the warm-up minute to the last ones (means of `TREND_MINUTES`), each minute's p99 stays
within 20% of the first minute's, 0 errors, open files and database files stay flat (within
`FLAT_SLACK`), and connections do not trend upward (they rise and fall with the customers
waiting at any moment). reports/bench/soak.md and soak.svg.
"""
from __future__ import annotations

import asyncio
import math
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

import aiohttp

from autofinance.adapters.store.db import make_engine
from bench import servers
from bench.load import ConversationScript, run_level
from bench.scenarios import ServicingCustomer

SHARE_OF_MAXIMUM = 0.70
WINDOW_SECONDS = 60.0
MEMORY_GROWTH_LIMIT = 0.05  # after the warm-up minute
P99_DRIFT_LIMIT = 0.20  # against the first minute
IDENTITIES_EACH = 150  # synthetic customers each simulated customer takes in turn (50 x 150 seeded)
FLAT_SLACK = 2  # open files / database files may differ by this much from the warm-up minute
TREND_MINUTES = 3  # memory and connections: the mean of the first and the last this many minutes
CONNECTION_GROWTH_LIMIT = 0.10


@dataclass
class Minute:
    """One window of the soak."""

    at: float  # seconds since the steady load began, at the window's end
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    memory_mb: dict[str, float] = field(default_factory=dict)  # service -> Pss of its tree
    open_files: dict[str, int] = field(default_factory=dict)  # not sockets
    database_files: dict[str, int] = field(default_factory=dict)  # of those, SQLite files
    sockets: dict[str, int] = field(default_factory=dict)  # open connections

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / WINDOW_SECONDS


def descriptors(pid: int) -> tuple[int, int, int]:
    """(open files, of them SQLite database files, open sockets) of a process and its
    descendants. Pipes and event-loop handles count as files: they too must stay flat."""
    files = databases = sockets = 0
    for member in [pid, *servers.children(pid)]:
        try:
            entries = list(Path(f"/proc/{member}/fd").iterdir())
        except OSError:  # ended while we looked
            continue
        for entry in entries:
            try:
                target = os.readlink(entry)
            except OSError:
                continue
            if target.startswith("socket:"):
                sockets += 1
                continue
            files += 1
            databases += target.endswith((".db", ".locks", ".relay"))
    return files, databases, sockets


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def verdicts(minutes: list[Minute]) -> list[str]:
    """The soak's targets, each with its figures and "met" or "NOT met"."""
    if len(minutes) < 3:
        return ["NOT met: fewer than three minutes were measured"]
    first, settled, after = minutes[0], minutes[1], minutes[1:]  # minute 1 warms up
    span = max(1, min(TREND_MINUTES, len(after) // 2))
    early, late = after[:span], after[-span:]
    lines = []
    for name in sorted(first.memory_mb):
        start = _mean([m.memory_mb.get(name, 0) for m in early])
        end = _mean([m.memory_mb.get(name, 0) for m in late])
        growth = (end - start) / start if start else float("inf")
        lines.append(f"{name} memory {start:.0f} MB after warm-up, {end:.0f} MB at the end: "
                     f"{growth:+.1%} (< {MEMORY_GROWTH_LIMIT:.0%}): "
                     f"{'met' if growth < MEMORY_GROWTH_LIMIT else 'NOT met'}")
    worst = max(m.percentile(99) for m in minutes)
    drift = (worst - first.percentile(99)) / first.percentile(99) if first.latencies_ms else float("inf")
    lines.append(f"p99 {first.percentile(99):.0f} ms in the first minute, at most {worst:.0f} ms "
                 f"later: {drift:+.1%} (≤ {P99_DRIFT_LIMIT:.0%}): "
                 f"{'met' if drift <= P99_DRIFT_LIMIT else 'NOT met'}")
    errors = sum(m.errors for m in minutes)
    lines.append(f"errors: {errors} (0): {'met' if errors == 0 else 'NOT met'}")
    for label, reading in (("open files", lambda m: m.open_files),
                           ("open database files", lambda m: m.database_files)):
        for name in sorted(reading(first)):
            values = [reading(m).get(name, 0) for m in after]
            base = reading(settled).get(name, 0)
            flat = all(abs(v - base) <= FLAT_SLACK for v in values)
            lines.append(f"{name} {label}: {min(values)}–{max(values)} after warm-up "
                         f"(flat within {FLAT_SLACK}): {'met' if flat else 'NOT met'}")
    for name in sorted(first.sockets):
        start = _mean([m.sockets.get(name, 0) for m in early])
        end = _mean([m.sockets.get(name, 0) for m in late])
        rising = end > start * (1 + CONNECTION_GROWTH_LIMIT) + FLAT_SLACK
        lines.append(f"{name} connections: {start:.0f} after warm-up, {end:.0f} at the end "
                     f"(no rise beyond {CONNECTION_GROWTH_LIMIT:.0%}): {'NOT met' if rising else 'met'}")
    return lines


def markdown(minutes: list[Minute], rate: float, maximum: float, customers: int) -> str:
    services = sorted(minutes[0].memory_mb) if minutes else []
    lines = ["# Soak: `make run`'s assistant at 70% of its maximum", "",
             f"Maximum measured: {maximum:.1f} msg/s with {customers} customers at once; held: "
             f"{rate:.1f} msg/s ({SHARE_OF_MAXIMUM:.0%}) for {len(minutes)} minutes.", "",
             "| minute | msg/s | errors | p50 | p99 | " +
             " | ".join(f"{s} MB" for s in services) + " | " +
             " | ".join(f"{s} files (db) / sockets" for s in services) + " |",
             "|" + "---|" * (5 + 2 * len(services))]
    for number, m in enumerate(minutes, start=1):
        lines.append(f"| {number} | {m.per_second:.1f} | {m.errors} | {m.percentile(50):.0f} ms | "
                     f"{m.percentile(99):.0f} ms | " +
                     " | ".join(f"{m.memory_mb.get(s, 0):.0f}" for s in services) + " | " +
                     " | ".join(f"{m.open_files.get(s, 0)} ({m.database_files.get(s, 0)}) / "
                                f"{m.sockets.get(s, 0)}" for s in services) + " |")
    lines += ["", "## Targets", "", *[f"- {line}" for line in verdicts(minutes)], "",
              "![soak](soak.svg)", ""]
    return "\n".join(lines)


def chart(minutes: list[Minute]) -> str:
    """Two panels over time: Rasa's memory, and p99 latency."""
    width, panel, left = 760, 150, 60
    series = [("Rasa memory (MB, Pss)", [m.memory_mb.get("rasa", 0) for m in minutes], "#1f5fa8"),
              ("p99 latency (ms)", [m.percentile(99) for m in minutes], "#b0561d")]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{2 * panel + 80}" '
             'font-family="sans-serif" font-size="11">']
    count = max(len(minutes) - 1, 1)
    for index, (title, values, colour) in enumerate(series):
        top = 30 + index * (panel + 30)
        high = max(values, default=1) or 1
        points = " ".join(f"{left + (width - left - 20) * i / count:.1f},"
                          f"{top + panel - panel * v / high:.1f}" for i, v in enumerate(values))
        parts += [f'<text x="{left}" y="{top - 8}" font-size="13">{escape(title)}, per minute</text>',
                  f'<line x1="{left}" y1="{top + panel}" x2="{width - 20}" y2="{top + panel}" stroke="#333"/>',
                  f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{high:.0f}</text>',
                  f'<text x="{left - 6}" y="{top + panel}" text-anchor="end">0</text>',
                  f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>']
    parts.append("</svg>")
    return "\n".join(parts)


async def _paced_customer(http: aiohttp.ClientSession, url: str, interval: float, deadline: float,
                          new_script: Callable[[int], ConversationScript], first: int,
                          record: Callable[[float, bool], None]) -> None:
    """Whole conversations, one message every `interval` seconds at most, until `deadline`;
    each as the next of this customer's own `IDENTITIES_EACH` synthetic customers."""
    count = 0
    while time.monotonic() < deadline:
        index = first + count % IDENTITIES_EACH
        script, answer = new_script(index), []
        count += 1
        while time.monotonic() < deadline and (message := await script.next_message(answer)) is not None:
            started = time.monotonic()
            try:
                async with http.post(url, json={"sender": f"soak-{first}-{count}",
                                                "message": message}) as r:
                    body = await r.json(content_type=None) if r.status == 200 else None
            except (aiohttp.ClientError, asyncio.TimeoutError):
                body = None
            took = time.monotonic() - started
            record(took * 1000, isinstance(body, list))
            answer = [str(m.get("text") or "") for m in body] if isinstance(body, list) else []
            await asyncio.sleep(max(0.0, interval - took))


async def _soak(base_url: str, customers: int, rate: float, minutes: float,
                new_script: Callable[[int], ConversationScript],
                sample: Callable[[Minute], None]) -> list[Minute]:
    windows: list[Minute] = []
    current = Minute(at=0.0)
    began = time.monotonic()
    deadline = began + minutes * 60

    def record(latency_ms: float, ok: bool) -> None:
        current.latencies_ms.append(latency_ms)
        current.errors += not ok

    async def sampler() -> None:
        nonlocal current
        while time.monotonic() < deadline - 1:
            await asyncio.sleep(WINDOW_SECONDS)
            current.at = time.monotonic() - began
            sample(current)
            windows.append(current)
            print(f"    minute {len(windows)}: {current.per_second:.1f} msg/s, "
                  f"p99 {current.percentile(99):.0f} ms, {current.errors} errors, "
                  f"rasa {current.memory_mb.get('rasa', 0):.0f} MB", flush=True)
            current = Minute(at=0.0)

    interval = customers / rate
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=customers + 5)) as http:
        url = f"{base_url}/webhooks/rest/webhook"
        await asyncio.gather(sampler(), *(
            _paced_customer(http, url, interval, deadline, new_script, IDENTITIES_EACH * c, record)
            for c in range(customers)))
    return windows


def main(customers: int, seeded: Path, minutes: float, work: Path, out: Path) -> int:
    work = work / "soak"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with sqlite3.connect(seeded) as source, sqlite3.connect(work / "accounts.db") as copy:
        source.backup(copy)
    database_url = f"sqlite:///{work / 'accounts.db'}"
    stack = servers.start_ours(work, database_url)
    engine = make_engine(database_url)
    try:
        def new_script(index: int) -> ConversationScript:
            return ServicingCustomer(index, engine)

        print(f"==> measuring the maximum with {customers} customers", flush=True)
        asyncio.run(run_level(stack.env["RASA_URL"], 1, 1, new_script, 9_000, "soak-warmup"))
        maximum = asyncio.run(run_level(stack.env["RASA_URL"], customers, 1, new_script, 0,
                                        "soak-max")).per_second
        rate = SHARE_OF_MAXIMUM * maximum
        print(f"==> holding {rate:.1f} msg/s ({SHARE_OF_MAXIMUM:.0%} of {maximum:.1f}) for "
              f"{minutes:g} minutes", flush=True)

        def sample(minute: Minute) -> None:
            for service in stack.services:
                if service.process is None:
                    continue
                pid = service.process.pid
                minute.memory_mb[service.name] = servers.tree_proportional_memory_mb(pid)
                (minute.open_files[service.name], minute.database_files[service.name],
                 minute.sockets[service.name]) = descriptors(pid)

        windows = asyncio.run(_soak(stack.env["RASA_URL"], customers, rate, minutes, new_script,
                                    sample))
    finally:
        stack.stop()
        engine.dispose()
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.svg").write_text(chart(windows))
    report = out / "soak.md"
    report.write_text(markdown(windows, rate, maximum, customers))
    print(report.read_text())
    return 0 if windows and not any("NOT met" in line for line in verdicts(windows)) else 1

