"""Recognising the assistant's verification prompts, and the moment it says "you're verified".

The wording is the assistant's own: the form prompts are read from domain.yml
(utter_ask_identifier, utter_ask_identity_factor, utter_ask_otp_code, utter_ask_contact_code);
the prompts and re-prompts the actions write themselves are those of actions/identity.py
(action_ask_otp_channel, validate_identity_form, action_identity_submit) and actions/contact.py
(validate_contact_value / _code). tests/unit/evaluation checks these phrases still occur there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = PROJECT_ROOT / "domain.yml"

# What the simulated customer is being asked for.
IDENTIFIER, FACTOR, CHANNEL, CODE, CONTACT_CODE = "identifier", "factor", "channel", "code", "contact_code"
CODE_AGAIN = "code_again"  # "the code is 6 digits" / "didn't match": whichever code was asked last
KINDS = (IDENTIFIER, FACTOR, CHANNEL, CODE, CONTACT_CODE)

DOMAIN_PROMPTS = {  # response name in domain.yml -> what it asks for
    "utter_ask_identifier": IDENTIFIER,
    "utter_ask_identity_factor": FACTOR,
    "utter_ask_otp_code": CODE,
    "utter_ask_contact_code": CONTACT_CODE,
}

# Written by the actions themselves (not in domain.yml). Checked in order, so the contact-change
# code ("I've sent a 6-digit code to your new email address") wins over the verification code.
ACTION_PROMPTS: tuple[tuple[str, str], ...] = (
    # actions/identity.py
    (IDENTIFIER, r"That doesn't look like an account number \(10 digits\) or an online username"),
    (IDENTIFIER, r"let's start from your account number or username again"),
    (FACTOR, r"Please send your 5-digit ZIP code, your date of birth"),
    (CHANNEL, r"Where should I send your verification code"),
    (CHANNEL, r"Should I send the code by email or by text message\?"),
    # actions/contact.py (before the identity one: both start "I've sent a 6-digit code")
    (CONTACT_CODE, r"I've sent a 6-digit code (?:to your new email address|by text to your new "
                   r"number|to the email address on file)"),
    (CODE, r"I've sent a 6-digit code by (?:email|text) to"),
    (CODE_AGAIN, r"The code is 6 digits\. Please type it as you received it"),
    (CODE_AGAIN, r"That code didn't match"),
)

# action_identity_submit: f"Thank you, {name}, you're verified."
VERIFIED = re.compile(r"\byou're verified\b", re.IGNORECASE)


def _plain(text: str) -> str:
    """Curly quotes straightened and whitespace collapsed, so wording compares as written."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


@dataclass(frozen=True)
class Prompt:
    kind: str
    pattern: re.Pattern[str]


@lru_cache(maxsize=4)
def prompts(domain_path: Path = DOMAIN) -> tuple[Prompt, ...]:
    """Every prompt the runner answers: the domain's texts (as literal phrases) and the actions'."""
    responses = (yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}).get("responses", {})
    found: list[Prompt] = []
    for name, kind in DOMAIN_PROMPTS.items():
        variants = responses.get(name) or []
        if not variants:
            raise LookupError(f"{domain_path} has no response {name}")
        for variant in variants:
            text = _plain(str(variant.get("text", "")))
            if text:
                found.append(Prompt(kind, re.compile(re.escape(text), re.IGNORECASE)))
    found += [Prompt(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in ACTION_PROMPTS]
    return tuple(found)


def kind_of(reply: str, known: Sequence[Prompt]) -> Optional[str]:
    text = _plain(reply)
    for prompt in known:
        if prompt.pattern.search(text):
            return prompt.kind
    return None


def recognise(replies: Sequence[str], known: Optional[Sequence[Prompt]] = None) -> Optional[str]:
    """What the assistant is asking the customer for at the end of `replies` (the answers to one
    message): the kind of the last reply that is a verification prompt, or None. Replies after
    it that are no prompt (SMS button lines, a hint) do not hide it."""
    known = prompts() if known is None else known
    for reply in reversed(replies):
        kind = kind_of(reply, known)
        if kind is not None:
            return kind
    return None


def verified_at(replies: Sequence[str]) -> Optional[int]:
    """Index of the first reply saying the customer is verified, or None."""
    for index, reply in enumerate(replies):
        if VERIFIED.search(_plain(reply)):
            return index
    return None
