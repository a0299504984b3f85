"""`python -m bench [--customers N] [--levels 1,10,50]`: both assistants, same load, one report.

Runs our embedded stack on a store bulk-seeded with synthetic customers, then the stock
`rasa init` assistant under plain `rasa run`, each through the same concurrency levels, and
writes reports/bench/report.md and latency.svg. Numbers mean something only on an idle machine.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Callable

from autofinance.entrypoints.stack import PROJECT_ROOT
from autofinance.adapters.store.db import make_engine
from bench import report, servers, soak
from bench.load import ConversationScript, LevelResult, run_level
from bench.scenarios import ServicingCustomer, StockCustomer

WORK = PROJECT_ROOT / "var" / "bench"
OUT = PROJECT_ROOT / "reports" / "bench"
CONVERSATIONS_EACH = {1: 10, 10: 3}  # more levels: 2 conversations per customer


async def _levels(url: str, levels: list[int], new_script: Callable[[int], ConversationScript],
                  label: str, cpu: Callable[[], dict[str, float]]) -> list[LevelResult]:
    """Each level in turn; `cpu` reads each service's CPU seconds so far (before and after)."""
    await run_level(url, 1, 1, new_script, 9_000, f"{label}-warmup")  # load lazy parts first
    results, index = [], 0
    for concurrency in levels:
        each = CONVERSATIONS_EACH.get(concurrency, 2)
        before = cpu()
        result = await run_level(url, concurrency, each, new_script, index, f"{label}-{concurrency}")
        result.cpu_seconds = {name: used - before.get(name, 0.0) for name, used in cpu().items()}
        index += concurrency * each
        print(f"    {label}: {concurrency:>3} at once: p50 {result.median:6.0f} ms, "
              f"p99 {result.percentile(99):6.0f} ms, {result.per_second:6.1f} msg/s, "
              f"Rasa CPU {result.cpu_ms_per_message('rasa'):5.1f} ms/msg, "
              f"{result.errors} errors, {result.silent} unanswered, "
              f"{result.failed_conversations} failed conversations", flush=True)
        results.append(result)
    return results


def seeded_store(customers: int) -> Path:
    """A store with `customers` synthetic customers, seeded once; each run works on a copy."""
    path = WORK / "seeded-accounts.db"
    path.unlink(missing_ok=True)
    print(f"==> seeding {customers} synthetic customers", flush=True)
    servers.seed(f"sqlite:///{path}", customers)
    return path


def bench_ours(levels: list[int], seeded: Path, customers: int) -> report.Run:
    """Our stack as `make run` starts it (SQLite stores and locks, Rasa in one Sanic worker per
    core), on a fresh copy of the seeded store."""
    work = WORK / "meridian"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with sqlite3.connect(seeded) as source, sqlite3.connect(work / "accounts.db") as copy:
        source.backup(copy)  # a consistent copy, whatever the seed left in its write-ahead log
    database_url = f"sqlite:///{work / 'accounts.db'}"
    stack = servers.start_ours(work, database_url)
    workers = stack.env.get("SANIC_WORKERS", "1")
    print(f"==> Meridian assistant as make run starts it (Rasa in {workers} Sanic worker(s), "
          "action server, web app)", flush=True)
    engine = make_engine(database_url)
    try:
        def cpu() -> dict[str, float]:
            return {s.name: servers.tree_cpu_seconds(s.process.pid)
                    for s in stack.services if s.process}

        results = asyncio.run(_levels(stack.env["RASA_URL"], levels,
                                      lambda i: ServicingCustomer(i, engine), "meridian", cpu))
        memory = {s.name: servers.tree_peak_memory_mb(s.process.pid)
                  for s in stack.services if s.process}
        proportional = {s.name: servers.tree_proportional_memory_mb(s.process.pid)
                        for s in stack.services if s.process}
    finally:
        stack.stop()
        engine.dispose()
    return report.Run("Meridian", results, memory, proportional_memory_mb=proportional,
                      notes=f"Meridian: `make run`'s default configuration (SQLite tracker, lock "
                            f"and account stores; Rasa in {workers} Sanic workers, one per core), "
                            f"{customers} synthetic customers; each conversation identifies, "
                            "verifies with the code from the outbox, asks the balance, pays $25 "
                            "(a failed conversation missed the balance or the payment's "
                            "confirmation), asks something out of scope, types nonsense, says goodbye.")


def bench_stock(levels: list[int]) -> report.Run:
    project = servers.stock_project(WORK)
    print("==> stock `rasa init` assistant (plain `rasa run`)", flush=True)
    process, url = servers.start_stock(project, WORK / "stock.log")
    try:
        results = asyncio.run(_levels(url, levels, lambda i: StockCustomer(), "stock",
                                      lambda: {"rasa": servers.tree_cpu_seconds(process.pid)}))
        memory = {"rasa": servers.peak_memory_mb(process.pid)}
    finally:
        servers.stop(process)
    return report.Run("stock", results, memory,
                      notes="Stock: the `rasa init` project, 14 messages a conversation that its "
                            "intents cover (greet, mood, bot challenge, goodbye).")


def load_note(load: list[float]) -> str:
    """The 1-minute load average before, between and after the runs: the report is only as
    good as the machine was idle (each run itself keeps about one core busy)."""
    start, between, end = (f"{value:.1f}" for value in load)
    return (f"Load average (1 min) before / between / after the runs: {start} / {between} / "
            f"{end} on {os.cpu_count()} cores; more than about 1 means other work competed.")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--soak", action="store_true",
                        help="instead: hold 70%% of the busiest level's throughput for --minutes "
                             "and chart memory, latency, open files and connections over time")
    parser.add_argument("--minutes", type=float, default=20.0, help="the soak's length")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    load = [os.getloadavg()[0]]
    seeded = seeded_store(args.customers)
    if args.soak:
        return soak.main(levels[-1], seeded, args.minutes, WORK, OUT)
    ours = bench_ours(levels, seeded, args.customers)
    load.append(os.getloadavg()[0])
    stock = bench_stock(levels)
    load.append(os.getloadavg()[0])
    settings = (f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}. Levels: {levels}; 14 messages a conversation; "
                "every message waits for its answer, as a person does. "
                f"{load_note(load)}")
    written = report.write(OUT, ours, stock, settings)
    print(written.read_text())
    print(f"Report: {written.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
