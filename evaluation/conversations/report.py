"""reports/eval/conversations.md and conversations.json, and the short printed summary.

Figures: task success overall and per flow, channel and style (a scenario counts once for each
of its styles); turns used against `fewest_turns` (mean of used / fewest, over all scenarios and
over the successful ones); how many scenarios showed account data before verification; and
every failure with its reasons and full transcript.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean
from typing import Any, Iterable, Sequence

from evaluation.conversations.judge import Result, unanswered_messages

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = PROJECT_ROOT / "reports" / "eval"


def _rate(results: Sequence[Result]) -> dict[str, Any]:
    passed = sum(r.success for r in results)
    return {"scenarios": len(results), "succeeded": passed,
            "success_rate": round(passed / len(results), 4) if results else None}


def _by(results: Iterable[Result], keys: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        for key in keys(result):
            groups[key].append(result)
    return {key: _rate(group) for key, group in sorted(groups.items())}


def _ratio(results: Sequence[Result]) -> float | None:
    ratios = [r.turns_used / r.fewest_turns for r in results if r.fewest_turns]
    return round(mean(ratios), 3) if ratios else None


def summarise(results: Sequence[Result]) -> dict[str, Any]:
    return {
        "overall": _rate(results),
        "per_flow": _by(results, lambda r: [r.flow]),
        "per_channel": _by(results, lambda r: [r.channel]),
        "per_style": _by(results, lambda r: list(r.style) or ["(none)"]),
        "turns": {"mean_ratio_used_to_fewest": _ratio(results),
                  "mean_ratio_successful": _ratio([r for r in results if r.success]),
                  "turns_used": sum(r.turns_used for r in results),
                  "fewest_turns": sum(r.fewest_turns for r in results)},
        "account_data_before_verification": sum(bool(r.data_before_verification) for r in results),
        "messages_without_reply": sum(len(unanswered_messages(r.transcript)) for r in results),
        "failures": sum(not r.success for r in results),
    }


def _percent(rate: dict[str, Any]) -> str:
    if rate["success_rate"] is None:
        return "—"
    return f"{rate['succeeded']}/{rate['scenarios']} ({rate['success_rate'] * 100:.0f} %)"


def _table(title: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"### {title}", "", "| | success |", "|---|---|"]
    lines += [f"| {key} | {_percent(rate)} |" for key, rate in rows.items()]
    return lines + [""]


def _transcript(result: Result) -> list[str]:
    lines = ["```"]
    for line in result.transcript:
        who = "customer" if line.speaker == "customer" else "assistant"
        tag = f" (auto: {line.auto})" if line.auto else ""
        text = line.text.replace("```", "'''").replace("\n", "\n" + " " * (len(who) + len(tag) + 2))
        lines.append(f"{who}{tag}: {text}")
    return lines + ["```", ""]


def markdown(results: Sequence[Result], summary: dict[str, Any], when: str) -> str:
    turns = summary["turns"]
    lines = [
        "# Conversation evaluation", "",
        f"{when}. Scenarios: evaluation/conversations/scenarios/*.yml (format: FORMAT.md), played "
        "against the embedded stack, each on a fresh copy of its demo customer. Evaluation only: "
        "nothing here is used for training.", "",
        "## Summary", "",
        "| | |", "|---|---|",
        f"| task success | {_percent(summary['overall'])} |",
        f"| turns used / fewest turns (mean) | {turns['mean_ratio_used_to_fewest']} "
        f"(successful only: {turns['mean_ratio_successful']}) |",
        f"| scenarios with account data before verification | "
        f"{summary['account_data_before_verification']} |",
        f"| failures | {summary['failures']} |",
        f"| customer messages the assistant did not answer at all | "
        f"{summary['messages_without_reply']} |", "",
    ]
    lines += _table("Per flow", summary["per_flow"])
    lines += _table("Per channel", summary["per_channel"])
    lines += _table("Per style", summary["per_style"])
    lines += ["## Scenarios", "", "| scenario | flow | channel | turns (fewest) | result |",
              "|---|---|---|---|---|"]
    lines += [f"| {r.id} | {r.flow} | {r.channel} | {r.turns_used} ({r.fewest_turns}) | "
              f"{'ok' if r.success else 'FAIL'} |" for r in results]
    lines += ["", "## Failures", ""]
    failed = [r for r in results if not r.success]
    if not failed:
        lines += ["None.", ""]
    for result in failed:
        lines += [f"### {result.id} ({result.source}; {result.flow}, {result.channel}, "
                  f"{result.customer}, {', '.join(result.style) or 'no style'})", ""]
        lines += [f"- {reason}" for reason in result.failures]
        lines += [f"- effects seen: {', '.join(result.effects) or 'none'}", ""]
        lines += _transcript(result)
    return "\n".join(lines)


def write_reports(results: Sequence[Result], directory: Path = REPORT_DIR) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    summary = summarise(results)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md, js = directory / "conversations.md", directory / "conversations.json"
    md.write_text(markdown(results, summary, when), encoding="utf-8")
    js.write_text(json.dumps({"generated": when, "summary": summary,
                              "scenarios": [asdict(r) for r in results]}, indent=2, default=str),
                  encoding="utf-8")
    return md, js


def printed_summary(results: Sequence[Result]) -> str:
    summary = summarise(results)
    lines = [f"task success: {_percent(summary['overall'])}; turns used/fewest (mean): "
             f"{summary['turns']['mean_ratio_used_to_fewest']}; account data before verification: "
             f"{summary['account_data_before_verification']}; messages without any reply: "
             f"{summary['messages_without_reply']}"]
    lines += [f"  {flow:<22} {_percent(rate)}" for flow, rate in summary["per_flow"].items()]
    lines += [f"  channel {key:<14} {_percent(rate)}" for key, rate in summary["per_channel"].items()]
    return "\n".join(lines)
