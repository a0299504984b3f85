"""What the customers say, what each answer must contain, and how a message is sent.

Each step's expected text is one that only the answer to that message, at that point of the
conversation, contains: an answer processed twice, out of order or not at all shows up as a
wrong or missing expected text.
"""
from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional, Union

from autofinance.demo.seed import bulk_identity
from rasa_ext.redaction import REDACTED, redact_text

CONFIRMATION = re.compile(r"confirmation number is (MP[A-Z2-7]{8})")
MARIA = {"account_number": "7301004821", "zip_code": "30309", "email": "maria.lopez@example.com"}


@dataclass(frozen=True)
class Step:
    text: Union[str, Callable[[], str]]  # a callable is asked when its turn comes (the code)
    expect: str

    def say(self) -> str:
        return self.text() if callable(self.text) else self.text


def verify_and_pay(account_number: str, zip_code: str, code: Callable[[], str],
                   accounts: int = 1) -> list[Step]:
    """Identify, verify by the one-time code by email, then pay $25 today from checking (asked
    which saved account only when the customer has more than one)."""
    return [
        Step("how much do I owe on my car", "account number"),
        Step(account_number, "ZIP"),
        Step(zip_code, "@example.com"),
        Step("email", "6-digit code"),
        Step(code, "you're verified"),
        Step("i want to make a payment", "How much would you like to pay"),
        Step("$25", "When should the $25.00 payment be made"),
        *([Step("today", "Which saved account"), Step("my checking", "Please confirm: pay $25.00 from checking")]
          if accounts > 1 else [Step("today", "Please confirm: pay $25.00 from checking")]),
        Step("yes", "Your confirmation number is"),
    ]


def bulk_customer(index: int) -> dict[str, str]:
    """Synthetic customer `index` of the seed: account number, ZIP and email."""
    identity = bulk_identity(index)
    return {"account_number": identity["account_number"], "zip_code": identity["zip_code"],
            "email": f"bulk{index:06d}@example.com"}


def confirmation_number(replies: list[str]) -> Optional[str]:
    match = CONFIRMATION.search(" ".join(replies))
    return match.group(1) if match else None


def stored_as(stored: str, sent: str) -> bool:
    """Whether a user event's stored text is `sent` as the redacting tracker store keeps it."""
    return stored in (sent, redact_text(sent), REDACTED)


# The production profile's REST channel answers only the authenticating gateway in front of it:
# the clusters' REST_GATEWAY_TOKEN, sent by every test message as that gateway would.
GATEWAY_TOKEN = secrets.token_urlsafe(24)


class Unanswered(Exception):
    """The message got no answer: an HTTP error, a dropped connection or an empty reply."""


def say(base_url: str, sender: str, text: str, timeout: float = 170) -> list[str]:
    """Sends one message on the REST channel; returns the assistant's texts.

    The timeout is longer than a conversation's lock can be left behind by a replica that died
    (TICKET_LOCK_LIFETIME, 60 s): the message waits for it on the surviving replica.
    """
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{base_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {GATEWAY_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            replies = [m.get("text", "") for m in json.load(response)]
    except urllib.error.HTTPError as error:
        error.close()
        raise Unanswered(f"HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        raise Unanswered(str(error)) from error
    if not replies:  # Rasa answers [] when it could not handle the message (e.g. no lock)
        raise Unanswered("empty reply")
    return replies
