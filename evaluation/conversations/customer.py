"""The simulated customer's own answers to verification prompts (FORMAT.md, "What the
simulated customer does by itself"), with a guard against loops."""
from __future__ import annotations

from typing import Callable, Optional

from evaluation.conversations.placeholders import CustomerDetails
from evaluation.conversations.prompts import (
    CHANNEL,
    CODE,
    CODE_AGAIN,
    CONTACT_CODE,
    FACTOR,
    IDENTIFIER,
)

MAX_ANSWERS_PER_PROMPT = 3
WHAT = {IDENTIFIER: "the account number or username", FACTOR: "the second detail",
        CHANNEL: "where to send the code", CODE: "the verification code",
        CONTACT_CODE: "the contact-change code"}

CodeReader = Callable[[str], Optional[str]]  # prompt kind (CODE | CONTACT_CODE) -> newest code


class LoopGuard(RuntimeError):
    """The assistant kept asking for the same thing: the scenario fails with this reason."""


class SimulatedCustomer:
    """Answers what the assistant asks to verify: identifier (`identify_with`), factor
    (`factor`), "email" for the code's destination, and the code read from this customer's
    outbox (`read_code`). `nobody` (details None) never answers: the writer's turns go on."""

    def __init__(self, details: Optional[CustomerDetails], identify_with: str, factor: str,
                 read_code: CodeReader, cap: int = MAX_ANSWERS_PER_PROMPT) -> None:
        self.details, self.identify_with, self.factor = details, identify_with, factor
        self.read_code, self.cap = read_code, cap
        self.asked: dict[str, int] = {}
        self.last_code_kind = CODE

    def answer(self, kind: Optional[str]) -> Optional[str]:
        """What the customer types to prompt `kind`, or None when it is not theirs to answer.
        Raises LoopGuard past `cap` answers to one prompt, or when no code arrived."""
        if kind is None or self.details is None:
            return None
        if kind == CODE_AGAIN:
            kind = self.last_code_kind
        self.asked[kind] = self.asked.get(kind, 0) + 1
        if self.asked[kind] > self.cap:
            raise LoopGuard(f"the assistant asked for {WHAT[kind]} more than {self.cap} times")
        if kind == IDENTIFIER:
            return self.details.account_number if self.identify_with == "account" else self.details.username
        if kind == FACTOR:
            return {"zip": self.details.zip, "dob": self.details.dob, "ssn": self.details.ssn4}[self.factor]
        if kind == CHANNEL:
            return "email"
        self.last_code_kind = kind
        code = self.read_code(kind)
        if code is None:
            raise LoopGuard(f"the assistant asked for {WHAT[kind]} but none is in the outbox")
        return code
