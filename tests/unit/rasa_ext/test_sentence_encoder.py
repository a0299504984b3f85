"""The sentence encoder (`rasa_ext.sentence_encoder`): our ONNX graph of all-MiniLM-L6-v2 gives
the embeddings sentence-transformers publishes, its 8-bit version stays close to them, and the
weights are refused unless they are the published ones. Run in Rasa's environment
(`sentence_encoder_checks.py`); the weights come from `make envs`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("sentence_encoder_checks.py")
PUBLISHED = [0.6660, 0.1046, 0.1411]  # sentence-transformers' documented similarities


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


def test_the_graph_reproduces_the_published_embeddings(results: dict[str, Any]) -> None:
    assert results["published_full"] == pytest.approx(PUBLISHED, abs=1e-4)


def test_the_eight_bit_model_stays_close_to_the_full_one(results: dict[str, Any]) -> None:
    assert results["published_small"] == pytest.approx(PUBLISHED, abs=0.03)
    assert min(results["small_vs_full_cosines"]) > 0.95
    assert results["small_model_mb"] < 30  # a quarter of the 90 MB of weights


def test_every_message_gets_the_same_unit_vector_alone_or_among_others(
        results: dict[str, Any]) -> None:
    assert results["norms"] == pytest.approx([1.0] * 5, abs=1e-5)  # the empty message too
    assert results["together_vs_alone"] == 0  # training encodes as serving does
    assert results["reloaded_same"]


def test_text_is_split_as_bert_splits_it(results: dict[str, Any]) -> None:
    assert results["tokens"] == ["[CLS]", "cafe", ":", "pay", "$", "1", ",", "250", ".", "50",
                                 "!", "[SEP]"]
    assert results["long_word"] == ["[CLS]", "[UNK]", "ok", "[SEP]"]
    assert results["longest"] == results["max_tokens"]  # a very long message is cut, not refused


def test_missing_or_other_weights_are_refused_with_the_way_out(results: dict[str, Any]) -> None:
    assert "make envs" in results["missing"]
    assert "SHA-256" in results["tampered"]
