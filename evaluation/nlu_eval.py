"""NLU measurement behind `make eval`.

Two views of how well the assistant understands customers:

* held-out: an NLU-only model trained on ~80 % of data/nlu (stratified per intent, full
  retrieval intent names such as `faq/phishing`), scored on the other ~20 %. It says how well
  the training data generalises to phrasings like our own.
* external: the main model (models/meridian.tar.gz) on independently written utterances in
  ../shared/eval/external, in scope and out of scope. It says how the bot copes with people
  who never saw our data. Those texts are only read at run time: the report shows counts for
  them, never the texts, so nobody copies them into training.

The run is a measurement: it exits 0 whether or not the targets are met, 2 when an input is
missing (and non-zero on any other error).
"""
from __future__ import annotations

import os

# Before the first TensorFlow/SQLAlchemy import (via rasa): keep their start-up chatter out.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

import asyncio  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rasa  # noqa: E402
from rasa.core.agent import Agent  # noqa: E402
from rasa.model_training import train_nlu  # noqa: E402
from rasa.shared.nlu.training_data.loading import load_data  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402
from rasa.utils.log_utils import configure_structlog  # noqa: E402

from evaluation.metrics import (  # noqa: E402
    REFUSAL_LABELS,
    Scores,
    accuracy,
    confusions,
    macro_f1,
    per_label_scores,
    refusal_share,
    stratified_split,
)

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config.yml"
DOMAIN = REPO / "domain.yml"
# our classifier's code: a change to either retrains the held-out model
CLASSIFIER_CODE = (REPO / "rasa_ext" / "intent_classifier.py", REPO / "rasa_ext" / "sentence_encoder.py")
NLU_DIR = REPO / "data" / "nlu"
MAIN_MODEL = REPO / "models" / "meridian.tar.gz"
HELDOUT_DIR = REPO / "models" / "heldout"
HELDOUT_MODEL_NAME = "heldout"
FINGERPRINT_FILE = HELDOUT_DIR / "fingerprint.txt"
REPORT_DIR = REPO / "reports" / "eval"
EXTERNAL_DIR = REPO.parent / "shared" / "eval" / "external"
EXTERNAL_INTENTS = EXTERNAL_DIR / "external_intents.tsv"
EXTERNAL_OOS = EXTERNAL_DIR / "external_oos.tsv"
EXTERNAL_COLUMNS = ("text", "intent", "source")
OOS_LABEL = "out_of_scope"
FALLBACK_LABEL = "nlu_fallback"

TARGET_EXTERNAL_ACCURACY = 0.90
TARGET_EXTERNAL_INTENT_ACCURACY = 0.80
TARGET_OOS_REFUSED = 0.85
TARGET_STILL_UNDERSTOOD = 0.95
TARGET_HELDOUT_MACRO_F1 = 0.95

TOP_CONFUSIONS = 30
EXAMPLES_PER_CONFUSION = 3
PARSE_CHUNK = 250  # progress is logged once per chunk


class EvaluationError(Exception):
    """An input is missing or unusable: the measurement cannot be made."""


@dataclass(frozen=True)
class Predictions:
    """Gold and predicted labels of one evaluated set, in the same order as its texts."""

    texts: list[str]
    gold: list[str]
    predicted: list[str]


@dataclass(frozen=True)
class Results:
    """The raw outcome of a run: predictions plus how they were obtained."""

    heldout: Predictions
    heldout_train_size: int
    heldout_retrained: bool
    fingerprint: str
    in_scope: Predictions
    oos: Predictions
    seconds: dict[str, float]


@dataclass(frozen=True)
class Scorecard:
    """The figures, computed once for the summary, the report and the targets."""

    heldout_accuracy: float
    heldout_scores: dict[str, Scores]
    heldout_macro_f1: float
    heldout_fallback: float
    external_accuracy: float
    external_scores: dict[str, Scores]
    external_macro_f1: float
    still_understood: float
    oos_refused: float


@dataclass(frozen=True)
class Target:
    """One pass/fail line."""

    name: str
    value: str
    passed: bool


# ---------------------------------------------------------------- inputs


def check_inputs() -> None:
    """Fail before any slow work when something the measurement needs is missing."""
    for path in (CONFIG, DOMAIN, NLU_DIR):
        if not path.exists():
            raise EvaluationError(f"{path} is missing; run from a complete checkout")
    if not EXTERNAL_DIR.is_dir():
        raise EvaluationError(
            f"external evaluation set not found at {EXTERNAL_DIR} "
            "(expected next to the repository, in ../shared/eval/external)"
        )
    for path in (EXTERNAL_INTENTS, EXTERNAL_OOS):
        if not path.is_file():
            raise EvaluationError(f"external evaluation file {path} is missing")
    if not MAIN_MODEL.is_file():
        raise EvaluationError(f"{MAIN_MODEL} is missing: run `make train` first")


def read_external(path: Path) -> list[tuple[str, str]]:
    """(text, intent) rows of an external TSV: one header line, tabs, no quoting."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(next(reader, ()))
        if header != EXTERNAL_COLUMNS:
            raise EvaluationError(f"{path}: expected columns {EXTERNAL_COLUMNS}, got {header}")
        rows = [(row[0], row[1]) for row in reader if row]
    if not rows:
        raise EvaluationError(f"{path} has no rows")
    return rows


# ---------------------------------------------------------------- held-out model


def split_training_data() -> tuple[TrainingData, list[Message]]:
    """Training part (synonyms, regexes and lookups kept) and the held-out examples."""
    data = load_data(str(NLU_DIR))
    examples = data.intent_examples
    if not examples:
        raise EvaluationError(f"no intent examples in {NLU_DIR}")
    split = stratified_split([(m.get("text"), m.get_full_intent()) for m in examples])
    heldout_ids = {id(examples[i]) for i in split.heldout}
    train = TrainingData(
        training_examples=[m for m in data.training_examples if id(m) not in heldout_ids],
        entity_synonyms=data.entity_synonyms,
        regex_features=data.regex_features,
        lookup_tables=data.lookup_tables,
        responses=data.responses,
    )
    return train, [examples[i] for i in split.heldout]


def fingerprint(train_yaml: str) -> str:
    """What the held-out model depends on: its training file (so data/nlu and the split),
    the config, the domain (it holds the FAQ answers), our classifier's and encoder's code and
    rasa's version.
    """
    digest = hashlib.sha256()
    for part in (train_yaml.encode("utf-8"), CONFIG.read_bytes(), DOMAIN.read_bytes(),
                 *(code.read_bytes() for code in CLASSIFIER_CODE)):
        digest.update(hashlib.sha256(part).digest())
    digest.update(rasa.__version__.encode("ascii"))
    return digest.hexdigest()


def heldout_model(train: TrainingData) -> tuple[Path, str, bool]:
    """The held-out model, retrained only when its fingerprint changed.

    Returns the model path, the fingerprint and whether it was retrained.
    """
    train_yaml = train.nlu_as_yaml()
    current = fingerprint(train_yaml)
    model = HELDOUT_DIR / f"{HELDOUT_MODEL_NAME}.tar.gz"
    if model.is_file() and FINGERPRINT_FILE.is_file():
        if FINGERPRINT_FILE.read_text(encoding="utf-8").strip() == current:
            logger.info("held-out model is up to date (%s), not retraining", model)
            return model, current, False
    FINGERPRINT_FILE.unlink(missing_ok=True)  # a failed run must not leave a stale match
    logger.info("training the held-out NLU model (under a minute on 2 cores)")
    with tempfile.TemporaryDirectory(prefix="nlu-heldout-") as tmp:
        data_file = Path(tmp) / "train.yml"
        data_file.write_text(train_yaml, encoding="utf-8")
        trained = train_nlu(
            config=str(CONFIG),
            nlu_data=str(data_file),
            output=str(HELDOUT_DIR),
            fixed_model_name=HELDOUT_MODEL_NAME,
            domain=str(DOMAIN),
        )
    if not trained:
        raise EvaluationError("training the held-out NLU model produced no model")
    FINGERPRINT_FILE.write_text(current + "\n", encoding="utf-8")
    return Path(trained), current, True


# ---------------------------------------------------------------- prediction


def predict(model: Path, texts: Sequence[str], full_retrieval_intent: bool) -> list[str]:
    """Predicted intent of every text, loading the model once.

    With `full_retrieval_intent` the FAQ answer chosen by the classifier is named
    (`faq/phishing`); without it the label is `faq`, as the dialogue policies see it.
    """
    logger.info("loading %s", model)
    agent = Agent.load(str(model))
    return asyncio.run(_parse_all(agent, texts, full_retrieval_intent))


async def _parse_all(agent: Agent, texts: Sequence[str], full_retrieval_intent: bool) -> list[str]:
    """Parse in chunks so that a slow machine still shows progress."""
    labels: list[str] = []
    for start in range(0, len(texts), PARSE_CHUNK):
        for text in texts[start : start + PARSE_CHUNK]:
            labels.append(_label(await agent.parse_message(text), full_retrieval_intent))
        logger.info("parsed %d/%d", len(labels), len(texts))
    return labels


def _label(parse_data: dict[str, Any], full_retrieval_intent: bool) -> str:
    intent = parse_data.get("intent") or {}
    full = intent.get("full_retrieval_intent_name") if full_retrieval_intent else None
    return str(full or intent.get("name") or "<none>")


# ---------------------------------------------------------------- measurement


def measure() -> Results:
    """Run both evaluations and time them."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    train, heldout_examples = split_training_data()
    model, model_fingerprint, retrained = heldout_model(train)
    seconds["held-out model"] = time.monotonic() - started

    started = time.monotonic()
    heldout_texts = [m.get("text") for m in heldout_examples]
    heldout = Predictions(
        texts=heldout_texts,
        gold=[m.get_full_intent() for m in heldout_examples],
        predicted=predict(model, heldout_texts, full_retrieval_intent=True),
    )
    seconds["held-out prediction"] = time.monotonic() - started

    started = time.monotonic()
    in_scope_rows = read_external(EXTERNAL_INTENTS)
    oos_rows = read_external(EXTERNAL_OOS)
    texts = [text for text, _ in in_scope_rows + oos_rows]
    predicted = predict(MAIN_MODEL, texts, full_retrieval_intent=False)
    cut = len(in_scope_rows)
    in_scope = Predictions(texts[:cut], [gold for _, gold in in_scope_rows], predicted[:cut])
    oos = Predictions(texts[cut:], [OOS_LABEL] * len(oos_rows), predicted[cut:])
    seconds["external prediction"] = time.monotonic() - started
    return Results(
        heldout=heldout,
        heldout_train_size=len(train.intent_examples),
        heldout_retrained=retrained,
        fingerprint=model_fingerprint,
        in_scope=in_scope,
        oos=oos,
        seconds=seconds,
    )


def score(results: Results) -> Scorecard:
    """All figures of the run (labels of the per-intent scores are the gold intents)."""
    heldout, in_scope = results.heldout, results.in_scope
    heldout_scores = per_label_scores(heldout.gold, heldout.predicted)
    external_scores = per_label_scores(in_scope.gold, in_scope.predicted)
    return Scorecard(
        heldout_accuracy=accuracy(heldout.gold, heldout.predicted),
        heldout_scores=heldout_scores,
        heldout_macro_f1=macro_f1(heldout_scores),
        heldout_fallback=refusal_share(heldout.predicted, frozenset({FALLBACK_LABEL})),
        external_accuracy=accuracy(in_scope.gold, in_scope.predicted),
        external_scores=external_scores,
        external_macro_f1=macro_f1(external_scores),
        still_understood=1 - refusal_share(in_scope.predicted),
        oos_refused=refusal_share(results.oos.predicted),
    )


def targets(card: Scorecard) -> list[Target]:
    """The pass/fail lines (see evaluation/README.md)."""
    recalls = sorted((s.recall, intent) for intent, s in card.external_scores.items())
    weak = [(r, intent) for r, intent in recalls if r < TARGET_EXTERNAL_INTENT_ACCURACY]
    lowest = weak or recalls[:1]
    return [
        Target(
            f"external in-scope accuracy >= {TARGET_EXTERNAL_ACCURACY:.2f}",
            f"{card.external_accuracy:.3f}",
            card.external_accuracy >= TARGET_EXTERNAL_ACCURACY,
        ),
        Target(
            f"external accuracy >= {TARGET_EXTERNAL_INTENT_ACCURACY:.2f} for every intent",
            ("below: " if weak else "lowest: ") + ", ".join(f"{i} {r:.2f}" for r, i in lowest),
            not weak,
        ),
        Target(
            f"external OOS refused >= {TARGET_OOS_REFUSED:.2f} "
            f"while in-scope still understood >= {TARGET_STILL_UNDERSTOOD:.2f}",
            f"refused {card.oos_refused:.3f}, understood {card.still_understood:.3f}",
            card.oos_refused >= TARGET_OOS_REFUSED
            and card.still_understood >= TARGET_STILL_UNDERSTOOD,
        ),
        Target(
            f"held-out macro-F1 >= {TARGET_HELDOUT_MACRO_F1:.2f}",
            f"{card.heldout_macro_f1:.3f}",
            card.heldout_macro_f1 >= TARGET_HELDOUT_MACRO_F1,
        ),
    ]


def figures(results: Results, card: Scorecard) -> list[tuple[str, str]]:
    """The headline numbers, as (name, formatted value)."""
    return [
        (
            "held-out examples (train / held out)",
            f"{results.heldout_train_size} / {len(results.heldout.gold)}",
        ),
        ("held-out intent accuracy", f"{card.heldout_accuracy:.3f}"),
        ("held-out macro-F1", f"{card.heldout_macro_f1:.3f}"),
        ("held-out predicted nlu_fallback", f"{card.heldout_fallback:.3f}"),
        (
            f"external in-scope accuracy (n={len(results.in_scope.gold)})",
            f"{card.external_accuracy:.3f}",
        ),
        ("external in-scope macro-F1", f"{card.external_macro_f1:.3f}"),
        ("external in-scope still understood", f"{card.still_understood:.3f}"),
        (f"external OOS refused (n={len(results.oos.gold)})", f"{card.oos_refused:.3f}"),
    ]


# ---------------------------------------------------------------- stdout summary


def print_summary(results: Results, card: Scorecard, target_lines: list[Target]) -> None:
    """A compact table on stdout; the details are in the report."""
    rows = figures(results, card)
    width = max(len(name) for name, _ in rows)
    print("\nNLU evaluation")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("\nexternal in-scope per intent: accuracy (= recall), n")
    for intent, s in card.external_scores.items():
        print(f"  {intent:<{width}}  {s.recall:.3f}  {s.support:>4}")
    print("\ntargets")
    for target in target_lines:
        print(f"  {'PASS' if target.passed else 'FAIL'}  {target.name}: {target.value}")
    timing = ", ".join(f"{name} {secs:.0f} s" for name, secs in results.seconds.items())
    print(f"\ntime: {timing}")
    print(f"report: {(REPORT_DIR / 'report.md').relative_to(REPO)}")


# ---------------------------------------------------------------- markdown report


def write_report(results: Results, card: Scorecard, target_lines: list[Target]) -> None:
    """reports/eval/report.md: figures, targets, per-intent tables and confusions."""
    state = "retrained" if results.heldout_retrained else "reused: inputs unchanged"
    lines = [
        "# NLU evaluation",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} with rasa {rasa.__version__}. "
        "How to read it: `evaluation/README.md`.",
        "",
        f"- held-out model: `models/heldout/{HELDOUT_MODEL_NAME}.tar.gz` ({state}; "
        f"fingerprint `{results.fingerprint[:12]}`)",
        f"- external set: main model `models/{MAIN_MODEL.name}` on `../shared/eval/external`",
        "- time: " + ", ".join(f"{name} {secs:.0f} s" for name, secs in results.seconds.items()),
        "",
        "## Figures",
        "",
        *_table(("figure", "value"), figures(results, card)),
        "",
        "## Targets",
        "",
        *_table(
            ("result", "target", "value"),
            [("PASS" if t.passed else "**FAIL**", t.name, t.value) for t in target_lines],
        ),
        "",
        *_external_sections(results, card),
        *_heldout_sections(results.heldout, card),
        "## Confusion matrices",
        "",
        "![external](confusion_external.png)",
        "",
        "![held-out](confusion_heldout.png)",
        "",
    ]
    (REPORT_DIR / "report.md").write_text("\n".join(lines), encoding="utf-8")


def _external_sections(results: Results, card: Scorecard) -> list[str]:
    """Counts only: the external texts must never appear in anything we write."""
    in_scope, oos = results.in_scope, results.oos
    refused = Counter(g for g, p in zip(in_scope.gold, in_scope.predicted) if p in REFUSAL_LABELS)
    rows = [
        (*_score_cells(intent, s), f"{refused[intent] / s.support:.2f}")
        for intent, s in card.external_scores.items()
    ]
    top = confusions(in_scope.gold, in_scope.predicted).most_common(TOP_CONFUSIONS)
    return [
        "## External set (main model)",
        "",
        "Counts only: the external texts are never shown, so they cannot leak into training.",
        "",
        "### In scope, per intent",
        "",
        "Precision is over in-scope texts only; "
        "*refused* = predicted out_of_scope or nlu_fallback.",
        "",
        *_table(("intent", "n", "precision", "recall (accuracy)", "F1", "refused"), rows),
        "",
        f"### Out of scope: what the {len(oos.gold)} texts were predicted as",
        "",
        *_table(("predicted", "count"), _prediction_counts(oos.predicted)),
        "",
        f"### Most frequent in-scope confusions (top {TOP_CONFUSIONS}, counts only)",
        "",
        *_table(("gold", "predicted", "count"), [(g, p, str(n)) for (g, p), n in top]),
        "",
    ]


def _heldout_sections(heldout: Predictions, card: Scorecard) -> list[str]:
    """Our own data, so the confusions come with example texts to act on."""
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for text, gold, predicted in zip(heldout.texts, heldout.gold, heldout.predicted):
        if gold != predicted:
            examples[(gold, predicted)].append(text)
    top = confusions(heldout.gold, heldout.predicted).most_common(TOP_CONFUSIONS)
    return [
        "## Held-out split of our own data (NLU-only model)",
        "",
        "### Per intent",
        "",
        *_table(
            ("intent", "n", "precision", "recall", "F1"),
            [_score_cells(intent, s) for intent, s in card.heldout_scores.items()],
        ),
        "",
        f"### Most frequent confusions (top {TOP_CONFUSIONS}, with examples)",
        "",
        *_table(
            ("gold", "predicted", "count", "examples"),
            [(g, p, str(n), _examples_cell(examples[(g, p)])) for (g, p), n in top],
        ),
        "",
    ]


def _examples_cell(texts: Sequence[str]) -> str:
    return " · ".join(f"“{_md(text)}”" for text in texts[:EXAMPLES_PER_CONFUSION])


def _prediction_counts(predicted: Sequence[str]) -> list[tuple[str, str]]:
    ordered = sorted(Counter(predicted).items(), key=lambda item: (-item[1], item[0]))
    return [(label, str(n)) for label, n in ordered]


def _score_cells(label: str, s: Scores) -> tuple[str, ...]:
    return (label, str(s.support), f"{s.precision:.2f}", f"{s.recall:.2f}", f"{s.f1:.2f}")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _md(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------- plots


def plot_confusion(predictions: Predictions, title: str, path: Path) -> None:
    """Counts, coloured by share of the gold row; predicted-only labels get extra columns."""
    rows = sorted(set(predictions.gold))
    columns = rows + sorted(set(predictions.predicted) - set(rows))
    counts = np.zeros((len(rows), len(columns)), dtype=int)
    for gold, predicted in zip(predictions.gold, predictions.predicted):
        counts[rows.index(gold), columns.index(predicted)] += 1
    shares = counts / counts.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(4.5 + 0.34 * len(columns), 3 + 0.34 * len(rows)))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), n in np.ndenumerate(counts):
        if n:
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.03, label="share of the gold row")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def combined_external(results: Results) -> Predictions:
    """In-scope and out-of-scope rows together, for one external confusion matrix."""
    in_scope, oos = results.in_scope, results.oos
    return Predictions(
        in_scope.texts + oos.texts, in_scope.gold + oos.gold, in_scope.predicted + oos.predicted
    )


# ---------------------------------------------------------------- entry point


def run() -> None:
    """Measure, then write the report, the plots and the summary."""
    check_inputs()
    results = measure()
    card = score(results)
    target_lines = targets(card)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    write_report(results, card, target_lines)
    plot_confusion(
        combined_external(results),
        "External set, main model (in scope and out of scope)",
        REPORT_DIR / "confusion_external.png",
    )
    plot_confusion(
        results.heldout, "Held-out split, NLU-only model", REPORT_DIR / "confusion_heldout.png"
    )
    print_summary(results, card, target_lines)


def main() -> int:
    """Exit 0 after a measurement (targets met or not), 2 when an input is missing."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    logger.setLevel(logging.INFO)
    configure_structlog(logging.WARNING)  # rasa's debug parse logs would echo every text
    started = time.monotonic()
    try:
        run()
    except EvaluationError as error:
        logger.error("%s", error)
        return 2
    logger.info("done in %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
