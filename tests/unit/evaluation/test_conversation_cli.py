"""`python -m evaluation.conversations`: a measurement that fails only when it cannot run."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.conversations import __main__ as cli
from evaluation.conversations import runner

GOOD = """
scenarios:
  - id: help-hours-plain-01
    flow: support_hours
    customer: nobody
    channel: rest
    fewest_turns: 1
    turns: ["when are you open?"]
    success: {said_any: ["8am"]}
"""


def test_a_bad_scenario_file_exits_2_listing_every_problem(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text(GOOD.replace("support_hours", "weather"))
    assert cli.main(["--scenarios", str(tmp_path)]) == 2
    assert "a.yml: help-hours-plain-01: unknown flow 'weather'" in capsys.readouterr().err


def test_validate_only_checks_the_files_without_starting_anything(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD)
    assert cli.main(["--scenarios", str(tmp_path), "--validate-only"]) == 0


def test_a_stack_that_does_not_start_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yml").write_text(GOOD)

    def no_stack(*args: object, **kwargs: object) -> list[object]:
        raise runner.StackDidNotStart("rasa exited")

    monkeypatch.setattr(runner, "run_all", no_stack)
    assert cli.main(["--scenarios", str(tmp_path)]) == 3
