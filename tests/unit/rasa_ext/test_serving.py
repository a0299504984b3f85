"""Rasa's serving shortcuts (`rasa_ext.serving`) and the tracker store's reads: same answers,
less repeated work. The checks need Rasa, so they run in Rasa's environment
(`tests/unit/rasa_ext/serving_checks.py`); the launcher check runs here."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from autofinance.entrypoints.stack import RASA_PYTHON, rasa_service, service_environment
from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("serving_checks.py")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


def test_the_action_answer_schema_is_checked_once_and_errors_read_as_rasas(
        results: dict[str, Any]) -> None:
    checked = results["validator_is_built_once_and_errs_like_rasa"]
    assert checked["schema_checks"] == 1  # for 20 answers (Rasa: once per answer)
    assert checked["accepted"] and checked["same_errors"]
    assert all("Failed to validate Action server response" in e for e in checked["errors"])


def test_a_valid_answer_is_recognised_quickly_and_only_a_valid_one(
        results: dict[str, Any]) -> None:
    quick = results["quick_answer_check_accepts_exactly_what_rasa_accepts"]
    assert quick["distinct_types"]  # each event type names its own constant
    assert all(quick["valid_full"]) and all(quick["valid_quick"])
    assert quick["invalid_refused"] and quick["agree"]


def test_event_types_resolve_to_rasas_classes(results: dict[str, Any]) -> None:
    resolved = results["event_types_resolve_as_rasa_does"]
    assert resolved["same"] and resolved["count"] > 20
    assert resolved["unknown"] == "Unknown event name 'no_such_event'."
    assert resolved["default"] and resolved["topic"]


def test_slots_copy_as_rasa_copies_them(results: dict[str, Any]) -> None:
    slots = results["slots_copy_as_copy_copy_does"]
    assert slots["patched"] and slots["count"] > 30 and slots["classes"] >= 3
    assert slots["same"] and slots["new_objects"]  # same class, same attribute objects
    assert slots["original_kept"]  # a copied tracker's slot change stays in the copy


def test_a_prediction_asks_each_states_question_once(results: dict[str, Any]) -> None:
    states = results["states_are_computed_once_per_question_within_a_prediction"]
    assert states["same"]  # the cached answers are Rasa's, and callers' edits do not leak
    assert states["computed_inside"] == 2  # two distinct questions, each asked twice
    assert states["recomputed_after_change"] == 1 and states["changed_states_longer"]
    assert states["computed_outside"] == 2  # no prediction running: no cache


def test_the_tracker_store_reads_what_rasas_reads_from_a_wal_sqlite_file(
        results: dict[str, Any]) -> None:
    store = results["the_store_reads_what_rasa_reads_in_wal_mode"]
    assert store["same"]  # latest session, every session and the count, as Rasa's SQL store
    assert (store["full"], store["latest"], store["count"]) == (16, 2, 2)
    assert store["rows"] == 16 and store["same_columns"]  # as Rasa's store writes them
    assert store["redacted_as_rasas_rows"]  # Rasa's serialised events, redacted
    assert (store["journal"], store["synchronous"]) == ("wal", 1)  # 1: NORMAL
    assert store["connections_opened"] == 0  # kept from the start (Rasa: one per read or save)


def test_the_launcher_serves_rasa_through_the_shortcuts(tmp_path: Path) -> None:
    env = service_environment({"RASA_API_TOKEN": "t"})
    command = rasa_service(env, tmp_path / "credentials.yml").command
    assert command[:4] == [str(RASA_PYTHON), "-m", "rasa_ext.serving", "run"]
    assert "--enable-api" in command and "--endpoints" in command


def test_a_token_that_starts_with_a_dash_reaches_rasa_as_the_token(tmp_path: Path) -> None:
    """token_urlsafe gives one in 64 tokens a leading '-': as a separate argument Rasa's
    argument parser took it for an option and Rasa did not start."""
    env = service_environment({"RASA_API_TOKEN": "-Xy_1"})
    arguments = rasa_service(env, tmp_path / "credentials.yml").command[3:]  # from "run" on
    parse = ("import sys; from rasa.__main__ import create_argument_parser; "
             "print(create_argument_parser().parse_args(sys.argv[1:]).auth_token)")
    parsed = subprocess.run([str(RASA_PYTHON), "-c", parse, *arguments], capture_output=True,
                            text=True, timeout=120)
    assert parsed.stdout.strip().splitlines()[-1:] == ["-Xy_1"], parsed.stderr[-2000:]


def test_calls_to_an_endpoint_reuse_one_connection_with_rasas_headers_and_token(
        results: dict[str, Any]) -> None:
    calls = results["endpoint_calls_reuse_one_connection"]
    assert calls["stock_connections"] == 5  # Rasa: a new session and connection per call
    assert calls["connections"] == 1
    assert calls["same"]  # same answers, same requests as the server saw them
    assert calls["seen"] == [{"token": "secret", "header": "yes",
                              "body": {"n": 0, "text": "café 😀 \ud800 1/2"}}]
    # written by ujson (compact), where Rasa's json.dumps leaves spaces; ASCII-escaped alike
    assert calls["stock_raw"].startswith('{"n": 0, ') and calls["raw"].startswith('{"n":0,')
    assert "\\u00e9" in calls["raw"] and "\\ud800" in calls["raw"] and "1/2" in calls["raw"]


def test_each_server_process_settles_once_its_model_is_loaded(results: dict[str, Any]) -> None:
    settled = results["each_server_process_settles_after_loading_its_model"]
    assert settled["served_frozen"][0] > 100_000  # frozen before Sanic forks its workers
    assert settled["same_arguments"]  # Rasa picks serve_application's arguments by name
    assert settled["agent"]  # Rasa's loader still gives the agent
    assert settled["frozen_before"] == 0 and settled["frozen_after"] > 100_000
    assert settled["blas_threads"] == [1]
