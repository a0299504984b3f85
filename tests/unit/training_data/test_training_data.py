"""Checks on the NLU training data in data/nlu.

(a) every required intent is present with at least its minimum number of examples;
(b) no example text appears under two intents;
(c) no overlap with the external evaluation set in ../shared/eval/external (exact match after
    normalisation, or a near copy: token Jaccard >= 0.9 for texts of 5+ tokens);
(d) the YAML parses, has the Rasa 3.x layout, and every annotated entity is an allowed one.

Only the training data is printed in failure messages, never the external utterances.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[3]
NLU_DIR = REPO_ROOT / "data" / "nlu"
EXTERNAL_DIR = REPO_ROOT.parent / "shared" / "eval" / "external"
EXTERNAL_FILES = ("external_intents.tsv", "external_oos.tsv")

MIN_COUNTS: dict[str, int] = {
    **{name: 45 for name in ("check_balance", "make_payment", "reset_password", "report_fraud", "hardship_help")},
    **{
        name: 25
        for name in (
            "greet", "goodbye", "affirm", "deny", "thank", "bot_challenge", "payoff_quote",
            "payment_history", "setup_autopay", "cancel_autopay", "forgot_username", "login_help",
            "update_contact_info", "request_statement", "lease_end_options", "loan_terms",
            "human_handoff", "cancel_payment", "frustrated", "cancel", "request_followup", "extend_lease",
            "change_due_date", "past_due", "next_payment", "lease_buyout", "statement_delivery",
            "tax_document", "fee_question", "waive_fee", "returned_payment", "register_online", "title_status",
            "insurance_info", "update_insurance", "total_loss", "add_bank_account", "add_debit_card",
            "switch_account",
        )
    },
    **{
        f"faq/{name}": 15
        for name in (
            "payment_fees", "pay_by_phone", "phishing", "support_hours", "credit_reporting",
            "mailing_address",
        )
    },
    "inform": 80,
    "out_of_scope": 120,
}

ALLOWED_ENTITIES = {
    "amount", "amount_choice", "date", "funding_source", "otp_channel", "account_number",
    "zip_code", "ssn_last4", "otp_code", "dob", "email", "phone", "address", "username",
    "followup_method",
}

# value kinds the inform intent must cover
INFORM_ENTITY_KINDS = {
    "account_number", "zip_code", "dob", "ssn_last4", "otp_code", "amount", "date",
    "funding_source", "email", "phone", "address",
}

REQUIRED_REGEXES = {"account_number", "zip_code", "ssn_last4", "otp_code", "email"}
REQUIRED_SYNONYMS = {"payoff", "monthly_payment", "past_due", "email", "sms"}

# digit-only entities: exact length (and prefix) by entity
DIGIT_ENTITIES = {"account_number": 10, "otp_code": 6, "zip_code": 5, "ssn_last4": 4}
ACCOUNT_PREFIX = "7301"

JACCARD_THRESHOLD = 0.9
MIN_TOKENS_NEAR_COPY = 5

# [text](entity) / [text](entity:value)  and  [text]{"entity": ..., "value": ...}
ENTITY_PAREN = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<spec>[^)]+)\)")
ENTITY_JSON = re.compile(r"\[(?P<text>[^\]]+)\](?P<spec>\{[^}]*\})")


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in NLU_DIR.rglob("*") if p.suffix in {".yml", ".yaml"})


@lru_cache(maxsize=None)
def _load_all() -> tuple[tuple[Path, dict], ...]:
    yaml = YAML(typ="safe", pure=True)
    docs = []
    for path in _yaml_files():
        with path.open(encoding="utf-8") as fh:
            docs.append((path, yaml.load(fh)))
    return tuple(docs)


def _split_examples(block: str) -> list[str]:
    examples = []
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        assert stripped.startswith("- "), f"example line does not start with '- ': {line!r}"
        examples.append(stripped[2:].strip())
    return examples


@lru_cache(maxsize=None)
def _intent_examples() -> dict[str, tuple[tuple[str, str], ...]]:
    """intent -> ((example, file name), ...)"""
    result: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path, doc in _load_all():
        for item in doc.get("nlu") or []:
            if "intent" in item:
                for example in _split_examples(item["examples"]):
                    result[item["intent"]].append((example, path.name))
    return {intent: tuple(rows) for intent, rows in result.items()}


def _entities(example: str) -> list[tuple[str, str, str | None]]:
    """(text, entity name, value or None) for every annotation in an example."""
    found = []
    for match in ENTITY_JSON.finditer(example):
        spec = json.loads(match.group("spec"))
        found.append((match.group("text"), spec.get("entity"), spec.get("value")))
    for match in ENTITY_PAREN.finditer(example):
        name, _, value = match.group("spec").partition(":")
        found.append((match.group("text"), name, value or None))
    return found


def _strip_markup(example: str) -> str:
    text = ENTITY_JSON.sub(lambda m: m.group("text"), example)
    return ENTITY_PAREN.sub(lambda m: m.group("text"), text)


def normalise(text: str) -> str:
    """lowercase, drop apostrophes, every other non-alphanumeric -> space, collapse spaces."""
    text = _strip_markup(text).lower()
    text = re.sub(r"['\u2019`]", "", text)
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return " ".join(text.split())


@lru_cache(maxsize=None)
def _external_texts() -> tuple[str, ...]:
    if not EXTERNAL_DIR.is_dir():
        pytest.fail(
            f"external evaluation set not found at {EXTERNAL_DIR} "
            "(expected ../shared/eval/external next to the repository); the overlap check "
            "cannot run without it"
        )
    texts = []
    for name in EXTERNAL_FILES:
        path = EXTERNAL_DIR / name
        if not path.is_file():
            pytest.fail(f"external evaluation file missing: {path}")
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        if "text" not in header:
            pytest.fail(f"{path}: header has no 'text' column: {header!r}")
        col = header.index("text")
        for line in lines[1:]:
            if line.strip():
                texts.append(line.split("\t")[col])
    if not texts:
        pytest.fail(f"no utterances read from {EXTERNAL_DIR}")
    return tuple(texts)


# --------------------------------------------------------------------------------------------
# (d) format
# --------------------------------------------------------------------------------------------


def test_yaml_parses_with_rasa_layout():
    files = _yaml_files()
    assert files, f"no YAML files in {NLU_DIR}"
    for path, doc in _load_all():
        assert isinstance(doc, dict), f"{path.name}: top level must be a mapping"
        assert str(doc.get("version")) == "3.1", f"{path.name}: version must be \"3.1\""
        items = doc.get("nlu")
        assert isinstance(items, list) and items, f"{path.name}: needs a non-empty nlu: list"
        for item in items:
            keys = set(item) & {"intent", "regex", "lookup", "synonym"}
            assert len(keys) == 1, f"{path.name}: item needs exactly one of intent/regex/lookup/synonym: {item}"
            assert isinstance(item.get("examples"), str), f"{path.name}: {item} needs an examples: | block"
            assert _split_examples(item["examples"]), f"{path.name}: {item} has no examples"


def test_entity_annotations_use_allowed_names_and_valid_markup():
    problems = []
    for intent, rows in _intent_examples().items():
        for example, fname in rows:
            for text, name, value in _entities(example):
                if name not in ALLOWED_ENTITIES:
                    problems.append(f"{fname} [{intent}] unknown entity {name!r}: {example}")
                if not text.strip():
                    problems.append(f"{fname} [{intent}] empty entity text: {example}")
            leftover = _strip_markup(example)
            if re.search(r"\[[^\]]*\][({]", leftover):
                problems.append(f"{fname} [{intent}] malformed annotation: {example}")
    assert not problems, "\n".join(problems)


def test_lookup_and_regex_names_are_allowed_entities():
    names = {}
    for _path, doc in _load_all():
        for item in doc["nlu"]:
            for kind in ("regex", "lookup"):
                if kind in item:
                    names.setdefault(kind, set()).add(item[kind])
    assert REQUIRED_REGEXES <= names.get("regex", set()), "missing regex entries"
    bad = (names.get("regex", set()) | names.get("lookup", set())) - ALLOWED_ENTITIES
    assert not bad, f"regex/lookup names that are not entities: {bad}"


def test_synonyms_cover_amount_choice_and_otp_channel():
    synonyms: dict[str, set[str]] = {}
    for _path, doc in _load_all():
        for item in doc["nlu"]:
            if "synonym" in item:
                synonyms.setdefault(item["synonym"], set()).update(
                    e.lower() for e in _split_examples(item["examples"])
                )
    assert REQUIRED_SYNONYMS <= set(synonyms), f"missing synonyms: {REQUIRED_SYNONYMS - set(synonyms)}"
    # a surface form may map to one value only
    seen: dict[str, str] = {}
    for value, forms in synonyms.items():
        for form in forms:
            assert seen.setdefault(form, value) == value, f"{form!r} maps to {seen[form]} and {value}"
    # inline values of amount_choice / otp_channel must be known synonym values
    for intent, rows in _intent_examples().items():
        for example, fname in rows:
            for _text, name, value in _entities(example):
                if name in {"amount_choice", "otp_channel"}:
                    assert value in synonyms, f"{fname} [{intent}] {name} value {value!r} has no synonym entry"


def test_digit_entities_are_annotated_by_length():
    problems = []
    for intent, rows in _intent_examples().items():
        for example, fname in rows:
            for text, name, _value in _entities(example):
                if name in DIGIT_ENTITIES:
                    if not (text.isdigit() and len(text) == DIGIT_ENTITIES[name]):
                        problems.append(f"{fname} [{intent}] {name} must be {DIGIT_ENTITIES[name]} digits: {text!r}")
                    if name == "account_number" and not text.startswith(ACCOUNT_PREFIX):
                        problems.append(f"{fname} [{intent}] account numbers start with {ACCOUNT_PREFIX}: {text!r}")
            # a bare 10/6/5-digit number must carry the matching annotation
            for match in re.finditer(r"(?<![\d\[$.,/-])(\d{5,10})(?![\d.,/-])", example):
                digits = match.group(1)
                expected = {10: "account_number", 6: "otp_code", 5: "zip_code"}.get(len(digits))
                if expected and f"[{digits}]({expected})" not in example and not any(
                    digits in text and name in {"address", "funding_source", "phone"}
                    for text, name, _ in _entities(example)
                ):
                    problems.append(f"{fname} [{intent}] {digits} should be annotated as {expected}: {example}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# (a) coverage and counts
# --------------------------------------------------------------------------------------------


def test_required_intents_have_minimum_counts():
    examples = _intent_examples()
    problems = []
    for intent, minimum in sorted(MIN_COUNTS.items()):
        n = len(examples.get(intent, ()))
        if n < minimum:
            problems.append(f"{intent}: {n} examples, need >= {minimum}")
    assert not problems, "\n".join(problems)


def test_every_trained_intent_is_one_the_bot_knows():
    unexpected = set(_intent_examples()) - set(MIN_COUNTS)
    assert not unexpected, f"intents not in the bot's list: {sorted(unexpected)}"


def test_inform_covers_every_value_kind():
    kinds = {name for example, _ in _intent_examples()["inform"] for _t, name, _v in _entities(example)}
    missing = INFORM_ENTITY_KINDS - kinds
    assert not missing, f"inform has no examples for: {sorted(missing)}"


# --------------------------------------------------------------------------------------------
# (b) no example in two intents (and no duplicates inside one intent)
# --------------------------------------------------------------------------------------------


def test_no_example_in_two_intents():
    owners: dict[str, set[str]] = defaultdict(set)
    for intent, rows in _intent_examples().items():
        for example, _ in rows:
            owners[normalise(example)].add(intent)
    clashes = {text: sorted(intents) for text, intents in owners.items() if len(intents) > 1}
    assert not clashes, "examples under several intents:\n" + "\n".join(
        f"  {text!r}: {intents}" for text, intents in sorted(clashes.items())
    )


def test_no_duplicate_examples_within_an_intent():
    problems = []
    for intent, rows in _intent_examples().items():
        seen: set[str] = set()
        for example, fname in rows:
            key = normalise(example)
            if key in seen:
                problems.append(f"{fname} [{intent}] duplicate: {example}")
            seen.add(key)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# (c) no overlap with the external evaluation set
# --------------------------------------------------------------------------------------------


def test_no_exact_overlap_with_external_eval_set():
    external = {normalise(t) for t in _external_texts()}
    external.discard("")
    hits = [
        f"  {fname} [{intent}] {example}"
        for intent, rows in sorted(_intent_examples().items())
        for example, fname in rows
        if normalise(example) in external
    ]
    assert not hits, "training examples identical to an external eval utterance:\n" + "\n".join(hits)


def find_near_copies(
    ours: list[str], external: list[str], threshold: float = JACCARD_THRESHOLD
) -> list[tuple[int, float]]:
    """Indices of `ours` whose token set has Jaccard >= threshold with some external text
    (both 5+ tokens), with the best similarity.

    Indexed with a prefix filter: if J(A, B) >= t then B contains at least one of the
    |A| - ceil(t*|A|) + 1 rarest tokens of A, so only external texts sharing one of those
    tokens are compared.
    """
    ext_sets = []
    for text in external:
        tokens = normalise(text).split()
        if len(tokens) >= MIN_TOKENS_NEAR_COPY:
            ext_sets.append(frozenset(tokens))
    doc_freq: dict[str, int] = defaultdict(int)
    index: dict[str, list[int]] = defaultdict(list)
    for i, tokens in enumerate(ext_sets):
        for tok in tokens:
            doc_freq[tok] += 1
            index[tok].append(i)

    hits = []
    for n, text in enumerate(ours):
        tokens = normalise(text).split()
        if len(tokens) < MIN_TOKENS_NEAR_COPY:
            continue
        mine = frozenset(tokens)
        size = len(mine)
        min_overlap = math.ceil(round(threshold * size, 9))
        prefix_len = size - min_overlap + 1
        rare_first = sorted(mine, key=lambda t: (doc_freq.get(t, 0), t))[:prefix_len]
        candidates = {i for tok in rare_first for i in index.get(tok, ())}
        best = 0.0
        for i in candidates:
            other = ext_sets[i]
            if not (threshold * size - 1e-9 <= len(other) <= size / threshold + 1e-9):
                continue
            inter = len(mine & other)
            best = max(best, inter / (size + len(other) - inter))
        if best >= threshold - 1e-9:
            hits.append((n, best))
    return hits


def test_near_copy_finder_on_synthetic_texts():
    external = [
        "alpha bravo charlie delta echo foxtrot golf hotel india juliet",  # 10 tokens
        "please reset the thing for me now",  # 7 tokens
        "short one",
    ]
    ours = [
        "Alpha, bravo [charlie](x) delta echo foxtrot golf hotel india juliet!",  # 10/10 -> 1.0
        "alpha bravo charlie delta echo foxtrot golf hotel india",  # 9/10 -> exactly 0.9
        "alpha bravo charlie delta echo foxtrot golf hotel kilo",  # 8/11 -> below
        "please reset the thing for me",  # 6/7 -> below
        "short one",  # under 5 tokens: ignored
    ]
    assert [(n, round(j, 2)) for n, j in find_near_copies(ours, external)] == [(0, 1.0), (1, 0.9)]


def test_no_near_copies_of_external_eval_set():
    rows = [
        (intent, example, fname)
        for intent, examples in sorted(_intent_examples().items())
        for example, fname in examples
    ]
    hits = find_near_copies([example for _, example, _ in rows], list(_external_texts()))
    report = [f"  {rows[n][2]} [{rows[n][0]}] {rows[n][1]}  (jaccard {j:.2f})" for n, j in hits]
    assert not report, "training examples that nearly copy an external eval utterance:\n" + "\n".join(report)


def _scenario_turns() -> set[str]:
    """What the conversation scenarios' customers type (evaluation only, never training)."""
    turns: set[str] = set()
    for path in sorted((REPO_ROOT / "evaluation" / "conversations" / "scenarios").glob("*.yml")):
        for scenario in (yaml.safe_load(path.read_text()) or {}).get("scenarios", []):
            for turn in scenario.get("turns", []):
                # short everyday lines ("make a payment") are bound to coincide; longer ones not
                if isinstance(turn, str) and len(normalise(turn).split()) >= 6:
                    turns.add(normalise(turn))
    return turns


def test_no_training_example_copies_a_conversation_scenarios_line():
    """The conversation evaluation measures understanding of words the model never saw."""
    turns = _scenario_turns()
    assert turns, "no scenario turns read"
    hits = [f"  {fname} [{intent}] {example}"
            for intent, rows in sorted(_intent_examples().items())
            for example, fname in rows if normalise(example) in turns]
    assert not hits, "training examples identical to a scenario line:\n" + "\n".join(hits)
