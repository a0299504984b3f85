"""Judging one played scenario: its `expect_any` checks, `success`, `never_said`, and for every
scenario no account data before the customer is verified (at all for `nobody`).

Texts are compared case-insensitively as substrings, after filling placeholders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Sequence

from evaluation.conversations.prompts import verified_at
from evaluation.conversations.scenarios import Success


@dataclass(frozen=True)
class Line:
    """One message of a transcript: who said it, and for the customer whether the runner
    answered a prompt by itself (`auto` is the prompt's kind)."""

    speaker: str  # 'customer' | 'assistant'
    text: str
    auto: str = ""


@dataclass
class Result:
    """One scenario played and judged (what the report needs)."""

    id: str
    flow: str
    channel: str
    style: tuple[str, ...]
    customer: str
    source: str
    fewest_turns: int
    turns_used: int
    success: bool
    failures: list[str] = field(default_factory=list)
    data_before_verification: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    transcript: list[Line] = field(default_factory=list)


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    data_before_verification: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures


def _found(needle: str, replies: Sequence[str]) -> bool:
    needle = needle.casefold()
    return any(needle in reply.casefold() for reply in replies)


def expect_any_met(expected: Sequence[str], replies: Sequence[str]) -> bool:
    """At least one expected text appears in the replies since the customer's message."""
    return any(_found(text, replies) for text in expected)


def replies_of(transcript: Sequence[Line]) -> list[str]:
    return [line.text for line in transcript if line.speaker == "assistant"]


def unanswered_messages(transcript: Sequence[Line]) -> list[str]:
    """Customer messages the assistant answered with nothing at all (a turn Rasa dropped, an
    action that failed): always worth a look, and many of them mean a broken run."""
    return [line.text for index, line in enumerate(transcript) if line.speaker == "customer"
            and (index + 1 == len(transcript) or transcript[index + 1].speaker == "customer")]


def judge_success(success: Success, replies: Sequence[str],
                  effects: dict[str, tuple[Decimal, ...]]) -> list[str]:
    """Every key `success` gives must hold; one reason per key that does not."""
    reasons = []
    if success.said_any and not any(_found(t, replies) for t in success.said_any):
        reasons.append(f"success.said_any: none of {list(success.said_any)} was said")
    missing = [t for t in success.said_all if not _found(t, replies)]
    if missing:
        reasons.append(f"success.said_all: never said {missing}")
    for effect in success.effects:
        if effect not in effects:
            seen = ", ".join(sorted(effects)) or "none"
            reasons.append(f"success.effects: {effect} did not happen (effects seen: {seen})")
    if success.amount is not None:
        amounts = [a for e in success.effects if e in effects for a in effects[e]]
        if amounts and success.amount not in amounts:
            reasons.append(f"success.amount: expected {success.amount}, the store has "
                           f"{', '.join(str(a) for a in amounts)}")
    return reasons


def judge_never_said(never_said: Sequence[str], replies: Sequence[str]) -> list[str]:
    return [f"never_said: the assistant said {text!r}" for text in never_said if _found(text, replies)]


def data_before_verification(figures: Sequence[str], replies: Sequence[str],
                             never_verifies: bool) -> list[str]:
    """The figures that appear in a reply before the first "you're verified" (in any reply for
    `nobody`, or when the customer was never verified)."""
    end: Optional[int] = None if never_verifies else verified_at(replies)
    before = replies if end is None else replies[:end]
    return [figure for figure in figures if _found(figure, before)]


def judge(success: Success, never_said: Sequence[str], transcript: Sequence[Line],
          effects: dict[str, tuple[Decimal, ...]], figures: Sequence[str], never_verifies: bool,
          stopped: Optional[str] = None) -> Verdict:
    """The verdict on a played scenario; `stopped` is why play ended early (an expect_any that
    failed, a loop, an error), itself a failure."""
    replies = replies_of(transcript)
    verdict = Verdict()
    if stopped:
        verdict.failures.append(stopped)
    unanswered = unanswered_messages(transcript)
    if unanswered:
        verdict.failures.append(f"no reply to {', '.join(repr(m) for m in unanswered)}")
    verdict.failures += judge_success(success, replies, effects)
    verdict.failures += judge_never_said(never_said, replies)
    leaked = data_before_verification(figures, replies, never_verifies)
    if leaked:
        verdict.data_before_verification = leaked
        verdict.failures.append(f"account data before verification: {', '.join(leaked)}")
    return verdict
