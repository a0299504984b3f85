"""The benchmark's arithmetic and report: exact percentiles, both columns, the ratios, the chart."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from autofinance.entrypoints.stack import PROJECT_ROOT, rasa_service, service_environment
from bench import servers, soak
from bench.__main__ import load_note
from bench.load import LevelResult
from bench.report import Run, latency_svg, markdown, targets


def level(concurrency: int, latencies: list[float], seconds: float, errors: int = 0,
          rasa_cpu: float = 0.0) -> LevelResult:
    return LevelResult(concurrency, latencies_ms=latencies, errors=errors, conversations=1,
                       seconds=seconds, cpu_seconds={"rasa": rasa_cpu})


def test_percentiles_are_nearest_rank_over_every_message() -> None:
    result = level(1, [float(ms) for ms in range(1, 101)], seconds=10)
    assert (result.median, result.percentile(95), result.percentile(99)) == (50.5, 95, 99)
    assert result.messages == 100 and result.per_second == 10


def test_the_report_puts_both_assistants_side_by_side_with_ratios_and_targets() -> None:
    ours = Run("Meridian", [level(1, [20, 24, 50], 1.0), level(50, [90] * 300, 4.0, rasa_cpu=6.0)],
               {"rasa": 900, "actions": 80}, proportional_memory_mb={"rasa": 760})
    stock = Run("stock", [level(1, [30, 36, 40], 1.0), level(50, [200] * 300, 10.0, rasa_cpu=9.0)],
                {"rasa": 1100})
    text = markdown(ours, stock, "2 cores")
    assert "| 50 | Rasa CPU per message | 20.0 ms | 30.0 ms | 0.67× |" in text
    assert "| 1 | p50 latency | 24 ms | 36 ms | 0.67× |" in text
    assert "every worker together: 760 MB" in text
    assert "| 50 | messages / s | 75.0 | 30.0 | 2.50× |" in text
    assert "| rasa | 900 MB | 1100 MB |" in text and "| actions | 80 MB | – |" in text
    verdicts = targets(ours, stock)
    assert verdicts[0].endswith("met") and "NOT" not in verdicts[0]  # p50 24 ms, p99 50 ms
    assert "2.50× stock" in verdicts[1] and "NOT" not in verdicts[1]
    assert "760 MB" in verdicts[2] and "NOT" not in verdicts[2]


def test_a_missed_target_says_so() -> None:
    slow = Run("Meridian", [level(1, [200, 300], 1.0)], {"rasa": 900},
               proportional_memory_mb={"rasa": 1100})
    stock = Run("stock", [level(1, [30, 40], 1.0)], {"rasa": 1100})
    assert all("NOT met" in line for line in targets(slow, stock))


def test_the_chart_is_well_formed_svg_with_a_bar_per_series_and_level() -> None:
    ours = Run("Meridian", [level(1, [30, 40], 1.0), level(10, [60, 70], 1.0)], {})
    stock = Run("stock", [level(1, [20, 30], 1.0), level(10, [50, 90], 1.0)], {})
    root = ElementTree.fromstring(latency_svg(ours, stock))
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find(
        "{http://www.w3.org/2000/svg}title") is not None]
    assert len(bars) == 2 * 3 * 2  # two assistants × p50/p95/p99 × two levels


def test_the_report_says_how_busy_the_machine_was() -> None:
    note = load_note([0.2, 1.25, 3.0])
    assert "0.2 / 1.2 / 3.0" in note and "other work competed" in note


def test_memory_is_judged_with_shared_pages_once_and_unread_memory_is_not_met() -> None:
    stock = Run("stock", [level(1, [30, 36], 1.0), level(50, [1500] * 300, 10.0)], {"rasa": 1100})
    fast = [level(1, [20, 22], 1.0), level(50, [600] * 300, 5.0)]
    # two workers' peaks add up past 1 GB, yet together they use 900 MB: met
    assert "NOT" not in targets(Run("Meridian", fast, {"rasa": 1300},
                                    proportional_memory_mb={"rasa": 900}), stock)[2]
    assert "NOT met" in targets(Run("Meridian", fast, {"rasa": 900}), stock)[2]  # Pss unread
    slow = Run("Meridian", [level(1, [20], 1.0), level(50, [900] * 300, 20.0)], {"rasa": 600},
               proportional_memory_mb={"rasa": 600})
    assert "15.0 msg/s = 0.50× stock" in targets(slow, stock)[1] and "NOT met" in targets(slow, stock)[1]


def test_cpu_time_of_a_process_tree_adds_its_children() -> None:
    busy = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n" \
           "time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        time.sleep(1.5)
        alone = servers.cpu_seconds(os.getpid())
        assert servers.cpu_seconds(child.pid) >= 0.39
        assert servers.tree_cpu_seconds(os.getpid()) >= alone + 0.39
    finally:
        child.kill()
        child.wait()


def test_a_level_without_cpu_figures_reports_none() -> None:
    assert str(LevelResult(1, latencies_ms=[10.0]).cpu_ms_per_message("rasa")) == "nan"
    assert level(1, [10.0] * 4, 1.0, rasa_cpu=0.2).cpu_ms_per_message("rasa") == 50.0


def test_peak_memory_of_a_process_tree_adds_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        assert child.pid in servers.children(os.getpid())
        alone = servers.peak_memory_mb(os.getpid())
        assert servers.tree_peak_memory_mb(os.getpid()) >= alone + servers.peak_memory_mb(child.pid)
    finally:
        child.kill()
        child.wait()


def test_proportional_memory_counts_pages_a_forked_child_shares_once() -> None:
    shared = bytearray(64 * 1024 * 1024)
    shared[::4096] = b"x" * len(range(0, len(shared), 4096))  # 64 MB resident before the fork
    child = os.fork()
    if child == 0:  # the child only keeps the pages it shares with its parent
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(0.5)
        resident_each = servers.peak_memory_mb(os.getpid()) + servers.peak_memory_mb(child)
        shared_once = servers.tree_proportional_memory_mb(os.getpid())
        assert servers.proportional_memory_mb(child) > 0
        assert shared_once < resident_each - 50  # the 64 MB counted once, not twice
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    del shared


def test_a_stack_that_does_not_come_up_is_stopped_whole(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    calls: list[str] = []

    class Failing:
        def start(self) -> None:
            calls.append("start")

        def wait_until_healthy(self, timeout: float) -> None:
            raise RuntimeError("rasa exited with code 2")

        def stop(self) -> None:
            calls.append("stop")

    monkeypatch.setattr(servers.Stack, "from_env", classmethod(lambda cls, env, log_to: Failing()))
    with pytest.raises(RuntimeError, match="exited"):
        servers.start_ours(tmp_path, "sqlite://")
    assert calls == ["start", "stop"]


def minute(at: float, p99: float, rasa_mb: float, files: int = 40, databases: int = 6,
           errors: int = 0, sockets: int = 100) -> soak.Minute:
    return soak.Minute(at=at, latencies_ms=[p99 / 2] * 98 + [p99] * 2, errors=errors,
                       memory_mb={"rasa": rasa_mb}, open_files={"rasa": files},
                       database_files={"rasa": databases}, sockets={"rasa": sockets})


def test_a_steady_soak_meets_every_target() -> None:
    minutes = [minute(60, 100, 700), minute(120, 105, 760, sockets=140),
               minute(180, 110, 770, sockets=90), minute(240, 112, 775, files=41, sockets=120)]
    lines = soak.verdicts(minutes)
    assert all(line.endswith(": met") for line in lines), lines
    assert "760 MB after warm-up, 775 MB at the end: +2.0%" in lines[0]  # sockets rise and fall
    text = soak.markdown(minutes, rate=35.0, maximum=50.0, customers=50)
    assert "| 4 | 1.7 | 0 | 56 ms | 112 ms | 775 | 41 (6) / 120 |" in text
    root = ElementTree.fromstring(soak.chart(minutes))
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 2


def test_a_leak_drift_or_growing_files_is_not_met() -> None:
    leaking = [minute(60, 100, 700), minute(120, 100, 760), minute(180, 100, 800)]
    assert "NOT met" in soak.verdicts(leaking)[0]  # +5.3% after warm-up
    drifting = [minute(60, 100, 700), minute(120, 100, 700), minute(180, 125, 700)]
    assert "NOT met" in soak.verdicts(drifting)[1]  # p99 +25%
    failing = [minute(60, 100, 700), minute(120, 100, 700), minute(180, 100, 700, errors=1)]
    assert "NOT met" in soak.verdicts(failing)[2]
    files = [minute(60, 100, 700), minute(120, 100, 700), minute(180, 100, 700, files=50)]
    assert any("open files" in line and "NOT met" in line for line in soak.verdicts(files))
    leaking_connections = [minute(60, 100, 700), minute(120, 100, 700, sockets=100),
                           minute(180, 100, 700, sockets=150)]
    assert any("connections" in line and "NOT met" in line
               for line in soak.verdicts(leaking_connections))
    assert soak.verdicts(files[:2]) == ["NOT met: fewer than three minutes were measured"]


def test_descriptors_count_files_database_files_and_sockets_of_a_process_tree(tmp_path: Path) -> None:
    before_files, before_databases, before_sockets = soak.descriptors(os.getpid())
    with open(tmp_path / "x.db", "w"), open(tmp_path / "y.txt", "w"), socket.socket():
        files, databases, sockets = soak.descriptors(os.getpid())
    assert (files, databases, sockets) == (before_files + 2, before_databases + 1, before_sockets + 1)
