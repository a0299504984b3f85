"""Conversation locks across processes (`rasa_ext.lock_store`): one turn at a time, a killed
holder's lock lapses within seconds, a live one is renewed. The checks need Rasa and Redis, so
they run in Rasa's environment (`lock_store_checks.py`), four processes racing on one
conversation as Sanic workers or replicas would. (Rasa's own Redis store, raced the same way,
loses tickets and fails with LockError.)"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("lock_store_checks.py")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_processes_racing_on_one_conversation_take_turns_one_at_a_time(
        results: dict[str, Any], backend: str) -> None:
    race = results[f"{backend}_race"]
    assert race["turns"] == 100  # 4 processes x 25 turns, none refused
    assert race["overlaps"] == 0
    assert not race["left_behind"]  # the last turn removes the lock


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_killed_holders_lock_lapses_within_its_ticket_lifetime(
        results: dict[str, Any], backend: str) -> None:
    killed = results[f"{backend}_killed"]
    assert killed["waited"] < killed["ticket_seconds"] + 1.0  # Rasa's: up to 60 s


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_live_holder_keeps_its_turn_past_the_ticket_lifetime(
        results: dict[str, Any], backend: str) -> None:
    assert results[f"{backend}_live"]["order"] == ["holder in", "holder out", "waiter in"]


def test_redis_leaves_no_keys_and_a_redis_outage_is_a_lock_error_at_once(
        results: dict[str, Any]) -> None:
    assert results["redis_keys_left"] == 0
    assert results["redis_down"]["raised"] == "LockError"
    assert results["redis_down"]["seconds"] < 3


def test_rasa_builds_the_sqlite_store_from_its_module_path_and_allows_workers(
        results: dict[str, Any]) -> None:
    built = results["rasa_builds_it"]
    assert built == {"class": "SQLiteLockStore", "path": True, "workers": 2}
