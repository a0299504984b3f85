"""The launcher's supervision on a controlled clock: a crashed service starts again after a pause
that doubles while it keeps crashing, up to 30 s, and a service that stayed up a minute starts
the count again. The processes are tiny Pythons that exit at once (or never)."""
from __future__ import annotations

import sys
from pathlib import Path

from autofinance.entrypoints.stack import Service, Stack, exit_reason


def crashing_stack(tmp_path: Path, code: int = 3) -> Stack:
    return Stack(env={}, log_to=tmp_path, services=[
        Service("flaky", [sys.executable, "-c", f"raise SystemExit({code})"], "http://unused")])


def crash_now(stack: Stack) -> None:
    stack.services[0].process.wait(10)  # type: ignore[union-attr]


def test_a_crashed_service_waits_longer_after_each_crash_in_a_row(tmp_path: Path) -> None:
    stack = crashing_stack(tmp_path)
    stack.start()
    service = stack.services[0]
    now, pauses = service.started_at, []
    try:
        for _ in range(7):
            crash_now(stack)
            said = stack.supervise(now)
            assert said[0].startswith("flaky stopped unexpectedly (exit code 3); starting it again in ")
            pauses.append(round(service.restart_at - now, 6))  # type: ignore[operator]
            assert stack.supervise(now + pauses[-1] - 0.1) == []  # not before its time
            now += pauses[-1]
            assert stack.supervise(now) == ["flaky started again"]
            service.started_at = now  # as if started at the controlled clock's time
    finally:
        stack.stop(grace=1)
    assert pauses == [1, 2, 4, 8, 16, 30, 30]


def test_a_service_that_stayed_up_a_minute_starts_the_count_again(tmp_path: Path) -> None:
    stack = crashing_stack(tmp_path)
    stack.start()
    service = stack.services[0]
    try:
        service.crashes = 5
        crash_now(stack)
        stack.supervise(service.started_at + 61)
        assert service.crashes == 1
        assert service.restart_at == service.started_at + 61 + 1
    finally:
        stack.stop(grace=1)


def test_the_reason_names_the_exit_code_or_the_signal() -> None:
    assert exit_reason(3) == "exit code 3"
    assert exit_reason(-9) == "killed by SIGKILL" and exit_reason(-15) == "killed by SIGTERM"
    assert exit_reason(-99) == "killed by signal 99"
