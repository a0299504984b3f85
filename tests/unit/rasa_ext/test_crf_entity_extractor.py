"""The stored CRF entity extractor (`rasa_ext.crf_entity_extractor`): it finds what Rasa's CRF
finds, stores the trained CRFs (crfsuite's own files, no pickle) and loads them without
training again; a model stored by Rasa's own class still loads, Rasa's way. The checks need
Rasa, so they run in Rasa's environment (`crf_entity_extractor_checks.py`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("crf_entity_extractor_checks.py")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


def test_it_extracts_entities_as_trained(results: dict[str, Any]) -> None:
    assert results["trained"][0] == [["amount", "$200"], ["date", "monday"]]
    assert results["trained"][2] == []  # no entity in "what's my balance"


def test_loading_opens_the_stored_crfs_without_training_again(results: dict[str, Any]) -> None:
    assert results["trainings_at_load"] == 0
    assert results["loaded_same"]
    assert results["stored"] == ["crf_dataset.json", "crf_entity.crfsuite", "crf_order.json"]
    assert results["magic"] == {"crf_entity.crfsuite": "lCRF"}  # crfsuite's format, not pickle


def test_models_of_either_class_load_with_either_class(results: dict[str, Any]) -> None:
    assert results["rasas_load_same"]  # Rasa's class retrains from the data we also keep
    assert results["fallback_same"] and results["trainings_at_fallback"] == 1
    assert results["missing_untrained"]
