"""The pure logic behind `make eval`: the held-out split and the metrics.

evaluation/metrics.py imports no rasa, so these run in the app environment.
"""
from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from evaluation.metrics import (
    Scores,
    accuracy,
    confusions,
    macro_f1,
    per_label_scores,
    refusal_share,
    stratified_split,
)

# intent -> number of examples: sizes like data/nlu's, plus the small edge cases
SIZES = {
    "greet": 36,
    "check_balance": 59,
    "faq/phishing": 19,
    "out_of_scope": 152,
    "pair": 2,
    "triple": 3,
    "single": 1,
}
Labelled = list[tuple[str, str]]


@pytest.fixture
def labelled() -> Labelled:
    """Examples grouped by intent, as the data files list them."""
    return [(f"{intent} example {n}", intent) for intent, n_examples in SIZES.items()
            for n in range(n_examples)]


def _heldout_per_intent(labelled: Labelled) -> Counter[str]:
    split = stratified_split(labelled)
    return Counter(labelled[i][1] for i in split.heldout)


def test_split_is_deterministic_and_independent_of_order(labelled: Labelled) -> None:
    split = stratified_split(labelled)
    assert stratified_split(list(labelled)) == split

    shuffled = labelled[:]
    random.Random(7).shuffle(shuffled)
    reshuffled = stratified_split(shuffled)
    assert {shuffled[i] for i in reshuffled.heldout} == {labelled[i] for i in split.heldout}


def test_split_is_disjoint_and_covers_every_example(labelled: Labelled) -> None:
    split = stratified_split(labelled)
    assert not set(split.train) & set(split.heldout)
    assert sorted(split.train + split.heldout) == list(range(len(labelled)))


def test_split_holds_out_about_a_fifth_of_each_intent(labelled: Labelled) -> None:
    heldout = _heldout_per_intent(labelled)
    for intent, size in SIZES.items():
        if size >= 5:
            assert heldout[intent] == math.ceil(size / 5), intent
            assert abs(heldout[intent] / size - 0.2) < 0.05, intent
    total = sum(heldout.values()) / len(labelled)
    assert 0.18 <= total <= 0.24


def test_split_keeps_both_sides_for_intents_with_two_or_more(labelled: Labelled) -> None:
    heldout = _heldout_per_intent(labelled)
    for intent, size in SIZES.items():
        if size >= 2:
            assert 1 <= heldout[intent] <= size - 1, intent
    assert heldout["single"] == 0  # a lone example is needed for training


def test_split_keeps_retrieval_sub_intents_apart() -> None:
    labelled = [(f"question {n}", f"faq/topic_{n % 2}") for n in range(20)]
    heldout = _heldout_per_intent(labelled)
    assert heldout == {"faq/topic_0": 2, "faq/topic_1": 2}


def test_split_of_an_intent_does_not_move_when_another_grows(labelled: Labelled) -> None:
    before = stratified_split(labelled)
    grown = labelled + [(f"greet extra {n}", "greet") for n in range(10)]
    after = stratified_split(grown)

    def balance_heldout(data: Labelled, indices: tuple[int, ...]) -> set[str]:
        return {data[i][0] for i in indices if data[i][1] == "check_balance"}

    assert balance_heldout(labelled, before.heldout) == balance_heldout(grown, after.heldout)


# a tiny hand-made example:
# gold a a a b b c ; predicted a a b b nlu_fallback a
GOLD = ["a", "a", "a", "b", "b", "c"]
PREDICTED = ["a", "a", "b", "b", "nlu_fallback", "a"]


def test_accuracy_is_the_share_of_exact_matches() -> None:
    assert accuracy(GOLD, PREDICTED) == pytest.approx(3 / 6)


def test_per_label_scores_are_given_for_gold_labels_only() -> None:
    scores = per_label_scores(GOLD, PREDICTED)
    assert list(scores) == ["a", "b", "c"]  # gold labels only: no row for nlu_fallback
    # a: predicted 3 times, 2 right; 3 gold
    assert scores["a"] == Scores(precision=pytest.approx(2 / 3), recall=pytest.approx(2 / 3),
                                 f1=pytest.approx(2 / 3), support=3)
    # b: predicted 2 times, 1 right; 2 gold
    assert scores["b"] == Scores(precision=pytest.approx(1 / 2), recall=pytest.approx(1 / 2),
                                 f1=pytest.approx(1 / 2), support=2)
    # c: never predicted
    assert scores["c"] == Scores(precision=0.0, recall=0.0, f1=0.0, support=1)


def test_per_label_scores_with_unequal_precision_and_recall() -> None:
    scores = per_label_scores(["x", "x", "y", "y"], ["x", "x", "x", "y"])
    assert scores["x"].precision == pytest.approx(2 / 3)
    assert scores["x"].recall == pytest.approx(1.0)
    assert scores["x"].f1 == pytest.approx(0.8)
    assert scores["y"].precision == pytest.approx(1.0)
    assert scores["y"].recall == pytest.approx(0.5)
    assert scores["y"].f1 == pytest.approx(2 / 3)


def test_macro_f1_weights_every_label_equally() -> None:
    assert macro_f1(per_label_scores(GOLD, PREDICTED)) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_refusal_share_counts_out_of_scope_and_fallback() -> None:
    predicted = ["out_of_scope", "nlu_fallback", "greet", "faq", "out_of_scope"]
    assert refusal_share(predicted) == pytest.approx(3 / 5)
    assert 1 - refusal_share(PREDICTED) == pytest.approx(5 / 6)  # "still understood"


def test_confusions_count_only_mistakes() -> None:
    assert confusions(GOLD, PREDICTED) == Counter({("a", "b"): 1, ("b", "nlu_fallback"): 1,
                                                   ("c", "a"): 1})


def test_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        accuracy(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        accuracy([], [])
    with pytest.raises(ValueError):
        refusal_share([])
    with pytest.raises(ValueError):
        macro_f1({})
