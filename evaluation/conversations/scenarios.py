"""Loading scenarios/*.yml and validating every scenario against FORMAT.md.

Any problem (an unknown key, flow, style, effect, customer or placeholder, a duplicate id, a
missing required key, a wrong type) is a `ScenarioError` naming the file and the scenario id;
all problems of a run are collected and reported together.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml

from evaluation.conversations.placeholders import PLACEHOLDERS, placeholders_in

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

FLOWS = frozenset("""
check_balance payment_history loan_terms next_payment past_due payoff_quote make_payment
cancel_payment setup_autopay change_autopay cancel_autopay request_statement update_contact_info
lease_end_options lease_buyout extend_lease hardship_help change_due_date report_fraud login_help
reset_password forgot_username human_handoff support_hours fees out_of_scope greeting_goodbye
two_questions
""".split())
CUSTOMERS = frozenset({"maria", "james", "dana", "robert", "nobody"})
CHANNELS = frozenset({"rest", "sms"})
STYLES = frozenset({"details_up_front", "correction", "digression", "reference", "typo",
                    "one_word", "paragraph", "two_questions", "cancel", "plain"})
IDENTIFY_WITH = frozenset({"account", "username"})
FACTORS = frozenset({"zip", "dob", "ssn"})
EFFECTS = frozenset("""
payment_scheduled payment_cancelled autopay_enrolled autopay_changed autopay_cancelled
statement_emailed payoff_quote_emailed contact_change_code_sent contact_changed
hardship_request_opened due_date_changed fraud_case_opened lease_extension_requested
password_reset_sent username_sent online_access_unlocked handoff_ticket_opened followup_recorded
nothing_changed
""".split())
AMOUNT_EFFECTS = frozenset({"payment_scheduled", "payment_cancelled"})

SCENARIO_KEYS = frozenset({"id", "flow", "customer", "channel", "style", "identify_with", "factor",
                           "fewest_turns", "turns", "success", "never_said"})
REQUIRED_KEYS = ("id", "flow", "customer", "channel", "fewest_turns", "turns", "success")
SUCCESS_KEYS = frozenset({"said_any", "said_all", "effects", "amount"})
ID_SHAPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*-\d{2}")


class ScenarioError(ValueError):
    """One or more scenarios do not follow FORMAT.md; `problems` are 'file: id: what' lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Expectation:
    """`expect_any` after a customer message: one of these must appear in the replies to it
    (and to the automatic answers that followed it)."""

    expect_any: tuple[str, ...]


Turn = Union[str, Expectation]


@dataclass(frozen=True)
class Success:
    said_any: tuple[str, ...] = ()
    said_all: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    amount: Optional[Decimal] = None


@dataclass(frozen=True)
class Scenario:
    id: str
    flow: str
    customer: str
    channel: str
    fewest_turns: int
    turns: tuple[Turn, ...]
    success: Success
    style: tuple[str, ...] = ()
    identify_with: str = "account"
    factor: str = "zip"
    never_said: tuple[str, ...] = ()
    source: str = ""  # the file it came from, for messages

    @property
    def messages(self) -> tuple[str, ...]:
        """What the writer has the customer type, without the checks."""
        return tuple(t for t in self.turns if isinstance(t, str))


@dataclass
class _Problems:
    where: str
    found: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.found.append(f"{self.where}: {what}")


def _strings(value: Any, key: str, problems: _Problems, allow_empty: bool = False
             ) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(f"`{key}` must be a list of non-empty strings")
        return ()
    if not value and not allow_empty:
        problems.add(f"`{key}` must not be empty")
    return tuple(value)


def _choice(value: Any, key: str, allowed: Iterable[str], problems: _Problems) -> str:
    if not isinstance(value, str) or value not in allowed:
        problems.add(f"unknown {key} {value!r} (one of: {', '.join(sorted(allowed))})")
        return ""
    return value


def _turns(value: Any, problems: _Problems) -> tuple[Turn, ...]:
    if not isinstance(value, list) or not value:
        problems.add("`turns` must be a non-empty list")
        return ()
    turns: list[Turn] = []
    for number, item in enumerate(value, 1):
        if isinstance(item, str):
            if not item.strip():
                problems.add(f"turn {number} is empty")
            turns.append(item)
        elif isinstance(item, dict):
            unknown = set(item) - {"expect_any"}
            if unknown or "expect_any" not in item:
                problems.add(f"turn {number}: a check is `expect_any: [...]` only, not "
                             f"{', '.join(sorted(map(str, item)))}")
                continue
            if not turns or not isinstance(turns[-1], str):
                problems.add(f"turn {number}: `expect_any` must follow a customer message")
            turns.append(Expectation(_strings(item["expect_any"], f"turn {number} expect_any",
                                              problems)))
        else:
            problems.add(f"turn {number} must be a string or `expect_any: [...]`, not "
                         f"{type(item).__name__}")
    if turns and not any(isinstance(t, str) for t in turns):
        problems.add("`turns` has no customer message")
    return tuple(turns)


def _amount(value: Any, problems: _Problems) -> Optional[Decimal]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.add(f"`amount` must be a number like \"300.00\", not {value!r}")
        return None
    try:
        amount = Decimal(str(value).replace("$", "").replace(",", ""))
    except InvalidOperation:
        problems.add(f"`amount` must be a number like \"300.00\", not {value!r}")
        return None
    if not amount.is_finite() or amount <= 0:
        problems.add(f"`amount` must be positive, not {value!r}")
        return None
    return amount.quantize(Decimal("0.01"))


def _success(value: Any, problems: _Problems) -> Success:
    if not isinstance(value, dict) or not value:
        problems.add("`success` must be a mapping with said_any, said_all, effects and/or amount")
        return Success()
    for key in sorted(set(map(str, value)) - SUCCESS_KEYS):
        problems.add(f"unknown key `success.{key}` (one of: {', '.join(sorted(SUCCESS_KEYS))})")
    said_any = _strings(value["said_any"], "success.said_any", problems) if "said_any" in value else ()
    said_all = _strings(value["said_all"], "success.said_all", problems) if "said_all" in value else ()
    effects: tuple[str, ...] = ()
    if "effects" in value:
        effects = _strings(value["effects"], "success.effects", problems)
        for effect in effects:
            if effect not in EFFECTS:
                problems.add(f"unknown effect {effect!r}")
        if "nothing_changed" in effects and len(effects) > 1:
            problems.add("`nothing_changed` cannot be combined with other effects")
    amount = _amount(value.get("amount"), problems)
    if amount is not None and not AMOUNT_EFFECTS & set(effects):
        problems.add("`success.amount` needs the effect payment_scheduled or payment_cancelled")
    if not (said_any or said_all or effects):
        problems.add("`success` needs at least one of said_any, said_all, effects")
    return Success(said_any, said_all, effects, amount)


def parse_scenario(raw: Any, source: str, index: int) -> tuple[Optional[Scenario], list[str]]:
    """One scenario mapping -> (Scenario or None, problems)."""
    name = raw.get("id") if isinstance(raw, dict) else None
    problems = _Problems(f"{source}: {name if isinstance(name, str) else f'scenario #{index}'}")
    if not isinstance(raw, dict):
        problems.add("a scenario must be a mapping")
        return None, problems.found
    for key in sorted(set(map(str, raw)) - SCENARIO_KEYS):
        problems.add(f"unknown key `{key}`")
    for key in REQUIRED_KEYS:
        if key not in raw:
            problems.add(f"missing `{key}`")
    if problems.found:
        return None, problems.found
    if not isinstance(name, str) or not ID_SHAPE.fullmatch(name):
        problems.add(f"id {name!r} is not <topic>-<what>-<nn> (lower case, hyphens, two digits)")
    flow = _choice(raw["flow"], "flow", FLOWS, problems)
    customer = _choice(raw["customer"], "customer", CUSTOMERS, problems)
    channel = _choice(raw["channel"], "channel", CHANNELS, problems)
    style: tuple[str, ...] = ()
    if "style" in raw:
        style = _strings(raw["style"], "style", problems)
        for item in style:
            if item not in STYLES:
                problems.add(f"unknown style {item!r} (one of: {', '.join(sorted(STYLES))})")
    identify_with = _choice(raw.get("identify_with", "account"), "identify_with", IDENTIFY_WITH,
                            problems)
    factor = _choice(raw.get("factor", "zip"), "factor", FACTORS, problems)
    fewest = raw["fewest_turns"]
    if isinstance(fewest, bool) or not isinstance(fewest, int) or fewest < 1:
        problems.add(f"`fewest_turns` must be a whole number of at least 1, not {fewest!r}")
    turns = _turns(raw["turns"], problems)
    success = _success(raw["success"], problems)
    never_said = _strings(raw["never_said"], "never_said", problems) if "never_said" in raw else ()
    texts = [t for t in turns if isinstance(t, str)]
    texts += [e for t in turns if isinstance(t, Expectation) for e in t.expect_any]
    texts += [*success.said_any, *success.said_all, *never_said]
    for text in texts:
        for placeholder in placeholders_in(text):
            if placeholder not in PLACEHOLDERS:
                problems.add(f"unknown placeholder {{{placeholder}}} in {text!r} "
                             f"(one of: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
            elif customer == "nobody":
                problems.add(f"placeholder {{{placeholder}}} in {text!r}, but `nobody` has no details")
    if problems.found:
        return None, problems.found
    return Scenario(id=name, flow=flow, customer=customer, channel=channel, fewest_turns=fewest,
                    turns=turns, success=success, style=style, identify_with=identify_with,
                    factor=factor, never_said=never_said, source=source), []


def parse_file(text: str, source: str) -> tuple[list[Scenario], list[str]]:
    """Every scenario of one file's text -> (scenarios, problems)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return [], [f"{source}: not valid YAML: {error}"]
    if not isinstance(document, dict) or set(document) != {"scenarios"}:
        return [], [f"{source}: the file must hold exactly one key, `scenarios:`, with a list"]
    if not isinstance(document["scenarios"], list) or not document["scenarios"]:
        return [], [f"{source}: `scenarios` must be a non-empty list"]
    found, problems = [], []
    for index, raw in enumerate(document["scenarios"], 1):
        scenario, issues = parse_scenario(raw, source, index)
        problems += issues
        if scenario is not None:
            found.append(scenario)
    return found, problems


def load_scenarios(directory: Path = SCENARIO_DIR, only: Optional[str] = None,
                   flow: Optional[str] = None) -> list[Scenario]:
    """Every scenario of directory/*.yml, validated as a whole (so a typo anywhere stops the run),
    then narrowed to `only` (an id) or `flow`. Raises ScenarioError listing every problem."""
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise ScenarioError([f"{directory}: no scenario files (*.yml)"])
    scenarios: list[Scenario] = []
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    for path in files:
        found, issues = parse_file(path.read_text(encoding="utf-8"), path.name)
        problems += issues
        for scenario in found:
            if scenario.id in first_seen:
                problems.append(f"{path.name}: {scenario.id}: duplicate id (also in "
                                f"{first_seen[scenario.id]})")
                continue
            first_seen[scenario.id] = path.name
            scenarios.append(scenario)
    if flow is not None and flow not in FLOWS:
        problems.append(f"--flow {flow!r} is not a flow of FORMAT.md")
    if problems:
        raise ScenarioError(problems)
    if only is not None:
        scenarios = [s for s in scenarios if s.id == only]
        if not scenarios:
            raise ScenarioError([f"--only {only!r}: no scenario has this id"])
    if flow is not None:
        scenarios = [s for s in scenarios if s.flow == flow]
    return scenarios
