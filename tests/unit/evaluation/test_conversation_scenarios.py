"""Loading and validating conversation scenarios (evaluation/conversations/scenarios.py)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from evaluation.conversations.scenarios import (
    Expectation,
    ScenarioError,
    load_scenarios,
    parse_file,
)

VALID = """
scenarios:
  - id: pay-details-up-front-01
    flow: make_payment
    customer: maria
    channel: rest
    style: [details_up_front]
    identify_with: account
    factor: zip
    fewest_turns: 7
    turns:
      - "hey can I pay $300 this friday from my checking, acct {account_number}"
      - expect_any: ["$300.00"]
      - "yes please"
    success:
      said_any: ["confirmation number"]
      said_all: ["$300.00"]
      effects: [payment_scheduled]
      amount: "300.00"
    never_said: ["$18,420.55"]
"""

MINIMAL = """
scenarios:
  - id: help-hours-plain-01
    flow: support_hours
    customer: nobody
    channel: sms
    fewest_turns: 1
    turns: ["when are you open?"]
    success:
      said_any: ["8am"]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def problems_of(text: str) -> list[str]:
    return parse_file(text, "topic.yml")[1]


def one_problem(text: str) -> str:
    found = problems_of(text)
    assert len(found) == 1, found
    return found[0]


def test_a_scenario_written_as_the_format_shows_loads_with_every_field() -> None:
    [scenario], problems = parse_file(VALID, "payments.yml")
    assert problems == []
    assert scenario.id == "pay-details-up-front-01" and scenario.source == "payments.yml"
    assert scenario.flow == "make_payment" and scenario.customer == "maria"
    assert scenario.fewest_turns == 7 and scenario.style == ("details_up_front",)
    assert scenario.turns[1] == Expectation(("$300.00",))
    assert scenario.messages == (scenario.turns[0], "yes please")
    assert scenario.success.effects == ("payment_scheduled",)
    assert scenario.success.amount == Decimal("300.00")
    assert scenario.never_said == ("$18,420.55",)


def test_identify_with_and_factor_default_to_account_and_zip() -> None:
    [scenario], _ = parse_file(MINIMAL, "help.yml")
    assert (scenario.identify_with, scenario.factor, scenario.style) == ("account", "zip", ())


def test_an_unknown_key_is_an_error_naming_the_file_and_the_id() -> None:
    problem = one_problem(MINIMAL.replace("fewest_turns: 1", "fewest_turns: 1\n    mood: grumpy"))
    assert problem == "topic.yml: help-hours-plain-01: unknown key `mood`"


def test_an_unknown_flow_customer_channel_or_style_is_an_error() -> None:
    assert "unknown flow 'weather'" in one_problem(MINIMAL.replace("support_hours", "weather"))
    assert "unknown customer 'alice'" in one_problem(MINIMAL.replace("nobody", "alice"))
    assert "unknown channel 'fax'" in one_problem(MINIMAL.replace("channel: sms", "channel: fax"))
    assert "unknown style 'rude'" in one_problem(MINIMAL.replace("    turns:", "    style: [rude]\n    turns:"))


def test_an_unknown_effect_is_an_error() -> None:
    problem = one_problem(VALID.replace("[payment_scheduled]", "[payment_made, payment_scheduled]"))
    assert "pay-details-up-front-01: unknown effect 'payment_made'" in problem


def test_an_unknown_placeholder_is_an_error_quoting_the_text() -> None:
    problem = one_problem(VALID.replace("{account_number}", "{acct}"))
    assert "unknown placeholder {acct}" in problem and "this friday" in problem


def test_a_placeholder_for_nobody_is_an_error_since_nobody_has_details() -> None:
    problem = one_problem(MINIMAL.replace("when are you open?", "my zip is {zip}"))
    assert "`nobody` has no details" in problem


def test_a_missing_required_key_is_an_error() -> None:
    assert one_problem(MINIMAL.replace("    fewest_turns: 1\n", "")).endswith("missing `fewest_turns`")


def test_an_amount_without_a_payment_effect_is_an_error() -> None:
    problem = one_problem(VALID.replace("effects: [payment_scheduled]", "effects: [autopay_enrolled]"))
    assert "needs the effect payment_scheduled or payment_cancelled" in problem


def test_nothing_changed_cannot_be_combined_with_another_effect() -> None:
    problem = one_problem(VALID.replace("[payment_scheduled]", "[payment_scheduled, nothing_changed]"))
    assert "cannot be combined" in problem


def test_an_expect_any_before_any_message_is_an_error() -> None:
    text = MINIMAL.replace('turns: ["when are you open?"]',
                           'turns: [{expect_any: ["hi"]}, "when are you open?"]')
    assert "must follow a customer message" in one_problem(text)


def test_an_id_not_shaped_topic_what_number_is_an_error() -> None:
    assert "is not <topic>-<what>-<nn>" in one_problem(MINIMAL.replace("help-hours-plain-01", "Hours1"))


def test_a_boolean_or_zero_fewest_turns_is_an_error() -> None:
    assert "fewest_turns" in one_problem(MINIMAL.replace("fewest_turns: 1", "fewest_turns: 0"))
    assert "fewest_turns" in one_problem(MINIMAL.replace("fewest_turns: 1", "fewest_turns: true"))


def test_a_file_without_a_scenarios_list_is_an_error() -> None:
    assert "exactly one key" in one_problem("- id: x\n")
    assert "not valid YAML" in one_problem("scenarios: [\n")


def test_a_duplicate_id_across_files_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", MINIMAL)
    write(tmp_path, "b.yml", MINIMAL)
    with pytest.raises(ScenarioError) as raised:
        load_scenarios(tmp_path)
    assert raised.value.problems == ["b.yml: help-hours-plain-01: duplicate id (also in a.yml)"]


def test_every_problem_of_every_file_is_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", MINIMAL.replace("support_hours", "weather"))
    write(tmp_path, "b.yml", VALID.replace("maria", "alice"))
    with pytest.raises(ScenarioError) as raised:
        load_scenarios(tmp_path)
    assert len(raised.value.problems) == 2
    assert raised.value.problems[0].startswith("a.yml: ") and raised.value.problems[1].startswith("b.yml: ")


def test_only_and_flow_narrow_the_scenarios_after_all_are_validated(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", MINIMAL)
    write(tmp_path, "b.yml", VALID)
    assert [s.id for s in load_scenarios(tmp_path, flow="make_payment")] == ["pay-details-up-front-01"]
    assert [s.id for s in load_scenarios(tmp_path, only="help-hours-plain-01")] == ["help-hours-plain-01"]
    with pytest.raises(ScenarioError, match="no scenario has this id"):
        load_scenarios(tmp_path, only="nope-nope-01")
    with pytest.raises(ScenarioError, match="is not a flow"):
        load_scenarios(tmp_path, flow="weather")


def test_an_empty_scenario_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios(tmp_path)


def _section(title: str) -> set[str]:
    text = (Path(__file__).resolve().parents[3] / "evaluation/conversations/FORMAT.md").read_text()
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    body = body.split("(", 1)[0]  # nothing_changed's explanation
    return {word.strip(" ,\n") for word in body.replace("\n", " ").split(",") if word.strip(" ,\n")}


def test_the_flows_and_effects_are_exactly_those_format_md_lists() -> None:
    from evaluation.conversations.scenarios import EFFECTS, FLOWS
    assert _section("Flows") == FLOWS
    assert _section("Effects (what the runner checks in the store for this scenario's customer)") == EFFECTS
