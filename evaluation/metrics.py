"""Pure logic behind `make eval`: the held-out split and the intent metrics.

Kept free of rasa (and of any third-party import) so the unit tests can run in the app
environment, which does not have rasa installed.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

HOLDOUT_EVERY = 5  # one example in five (~20 %) of each intent is held out
REFUSAL_LABELS = frozenset({"out_of_scope", "nlu_fallback"})


@dataclass(frozen=True)
class Split:
    """Indices into the labelled examples the split was made from."""

    train: tuple[int, ...]
    heldout: tuple[int, ...]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one label, with its number of gold examples."""

    precision: float
    recall: float
    f1: float
    support: int


def text_hash(text: str) -> str:
    """A hash that is stable across runs and machines (Python's hash() is salted)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stratified_split(labelled: Sequence[tuple[str, str]], every: int = HOLDOUT_EVERY) -> Split:
    """Hold out every `every`-th example of each label, in order of the text's hash.

    `labelled` holds (text, label) pairs. Ordering by hash keeps the split stable when
    examples are added elsewhere and independent of file order. Position 0 is held out, so
    a label with n >= 2 examples gets ceil(n / every) held out and at least one left to
    train on; a label's only example always stays in training.
    """
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, (_, label) in enumerate(labelled):
        by_label[label].append(index)
    heldout: set[int] = set()
    for indices in by_label.values():
        if len(indices) < 2:
            continue
        ordered = sorted(indices, key=lambda i: (text_hash(labelled[i][0]), labelled[i][0], i))
        heldout.update(ordered[::every])
    train = tuple(i for i in range(len(labelled)) if i not in heldout)
    return Split(train=train, heldout=tuple(sorted(heldout)))


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of predictions equal to the gold label."""
    _check_pairs(gold, predicted)
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def per_label_scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Iterable[str] | None = None
) -> dict[str, Scores]:
    """Precision, recall and F1 per label (0.0 where undefined, as sklearn's zero_division=0).

    Labels default to the gold labels: a predicted-only label such as `nlu_fallback` costs
    recall of the gold label but gets no row (and no weight in the macro average) itself.
    """
    _check_pairs(gold, predicted)
    gold_counts = Counter(gold)
    predicted_counts = Counter(predicted)
    hits = Counter(g for g, p in zip(gold, predicted) if g == p)
    return {
        label: _scores(hits[label], predicted_counts[label], gold_counts[label])
        for label in sorted(labels if labels is not None else gold_counts)
    }


def macro_f1(scores: dict[str, Scores]) -> float:
    """Unweighted mean F1, so every intent counts the same however many examples it has."""
    if not scores:
        raise ValueError("no labels to average")
    return sum(s.f1 for s in scores.values()) / len(scores)


def refusal_share(predicted: Sequence[str], refusals: frozenset[str] = REFUSAL_LABELS) -> float:
    """Share of predictions that decline the message (out of scope or NLU fallback)."""
    if not predicted:
        raise ValueError("no predictions")
    return sum(p in refusals for p in predicted) / len(predicted)


def confusions(gold: Sequence[str], predicted: Sequence[str]) -> Counter[tuple[str, str]]:
    """Counts of (gold, predicted) pairs that differ."""
    _check_pairs(gold, predicted)
    return Counter((g, p) for g, p in zip(gold, predicted) if g != p)


def _scores(hits: int, predicted: int, support: int) -> Scores:
    precision = hits / predicted if predicted else 0.0
    recall = hits / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision=precision, recall=recall, f1=f1, support=support)


def _check_pairs(gold: Sequence[str], predicted: Sequence[str]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("nothing to score")
