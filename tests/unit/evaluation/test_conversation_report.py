"""The report: figures per flow, channel and style, turns, leaks and every failure with its
transcript (evaluation/conversations/report.py)."""
from __future__ import annotations

import json
from pathlib import Path

from evaluation.conversations.judge import Line, Result
from evaluation.conversations.report import printed_summary, summarise, write_reports


def result(id: str, flow: str, ok: bool, channel: str = "rest", style: tuple[str, ...] = ("plain",),
           used: int = 5, fewest: int = 5, leaked: tuple[str, ...] = ()) -> Result:
    failures = [] if ok else ["success.said_any: none of ['$300.00'] was said"]
    if leaked:
        failures.append(f"account data before verification: {', '.join(leaked)}")
    return Result(id, flow, channel, style, "maria", "payments.yml", fewest, used, ok and not leaked,
                  failures, list(leaked), ["nothing_changed"],
                  [Line("customer", "pay $300"), Line("customer", "7912345678", "identifier"),
                   Line("assistant", "Your balance is $18,420.55")])


RESULTS = [
    result("pay-a-01", "make_payment", True, style=("typo", "correction"), used=6, fewest=6),
    result("pay-b-02", "make_payment", False, channel="sms", used=9, fewest=6),
    result("bal-c-03", "check_balance", True, used=5, fewest=4),
    result("bal-d-04", "check_balance", True, leaked=("$18,420.55",), style=()),
]


def test_success_is_counted_overall_and_per_flow_channel_and_style() -> None:
    summary = summarise(RESULTS)
    assert summary["overall"] == {"scenarios": 4, "succeeded": 2, "success_rate": 0.5}
    assert summary["per_flow"]["make_payment"]["succeeded"] == 1
    assert summary["per_flow"]["check_balance"] == {"scenarios": 2, "succeeded": 1, "success_rate": 0.5}
    assert summary["per_channel"]["sms"] == {"scenarios": 1, "succeeded": 0, "success_rate": 0.0}
    assert summary["per_style"]["typo"]["scenarios"] == 1 and summary["per_style"]["(none)"]["scenarios"] == 1


def test_turns_are_the_mean_ratio_of_used_to_fewest() -> None:
    turns = summarise(RESULTS)["turns"]
    assert turns["mean_ratio_used_to_fewest"] == round((1 + 1.5 + 1.25 + 1) / 4, 3)
    assert turns["mean_ratio_successful"] == round((1 + 1.25) / 2, 3)


def test_scenarios_with_account_data_before_verification_are_counted() -> None:
    assert summarise(RESULTS)["account_data_before_verification"] == 1


def test_every_failure_is_written_with_its_reasons_and_full_transcript(tmp_path: Path) -> None:
    md, js = write_reports(RESULTS, tmp_path)
    text = md.read_text()
    assert "| task success | 2/4 (50 %) |" in text
    failures = text.split("## Failures", 1)[1]
    assert "### pay-b-02 (payments.yml; make_payment, sms, maria, plain)" in failures
    assert "### bal-d-04" in failures and "### pay-a-01" not in failures
    assert "- account data before verification: $18,420.55" in failures
    assert "customer (auto: identifier): 7912345678" in failures
    assert "assistant: Your balance is $18,420.55" in failures
    data = json.loads(js.read_text())
    assert data["summary"]["failures"] == 2 and len(data["scenarios"]) == 4
    assert data["scenarios"][1]["transcript"][1] == {"speaker": "customer", "text": "7912345678",
                                                     "auto": "identifier"}


def test_the_printed_summary_is_short_and_gives_each_flow() -> None:
    printed = printed_summary(RESULTS)
    assert printed.splitlines()[0].startswith("task success: 2/4 (50 %)")
    assert any(line.strip().startswith("check_balance") for line in printed.splitlines())
    assert len(printed.splitlines()) <= 1 + 2 + 2


def test_no_scenarios_make_an_empty_report_rather_than_an_error(tmp_path: Path) -> None:
    md, _ = write_reports([], tmp_path)
    assert "| task success | — |" in md.read_text()


def test_customer_messages_without_any_reply_are_counted_as_a_sign_of_a_broken_run() -> None:
    # each transcript above has "pay $300" followed straight by the customer's next message
    assert summarise(RESULTS)["messages_without_reply"] == 4
