"""The placeholders of FORMAT.md and filling them with one customer copy's details."""
from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDERS = ("account_number", "username", "zip", "dob", "ssn4", "email", "mobile")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class CustomerDetails:
    """What the simulated customer knows about themselves (their copy's own details)."""

    account_number: str
    username: str
    zip: str
    dob: str  # as 1985-03-14
    ssn4: str
    email: str
    mobile: str  # E.164

    def as_placeholders(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PLACEHOLDERS}


def placeholders_in(text: str) -> list[str]:
    """The names written in braces in `text`, known or not, in order."""
    return _PLACEHOLDER.findall(text)


def fill(text: str, details: CustomerDetails | None) -> str:
    """`text` with each {name} replaced by the customer's value. Validation has refused unknown
    names and placeholders for `nobody` already, so either is a programming error here."""
    if details is None:
        if placeholders_in(text):
            raise ValueError(f"placeholders in {text!r} but the customer has no details")
        return text
    values = details.as_placeholders()

    def value(match: re.Match[str]) -> str:
        if match[1] not in values:
            raise KeyError(f"unknown placeholder {{{match[1]}}} in {text!r}")
        return values[match[1]]

    return _PLACEHOLDER.sub(value, text)
