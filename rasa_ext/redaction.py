"""Redacting secrets out of conversation events before they are stored or published.

Pure functions over Rasa's event dicts (no Rasa import), so the rules are testable anywhere.
The number and order of events never change: Rasa's SQL tracker store appends by count.
What goes: whatever the customer types while answering a verification question (account
number or username, ZIP / date of birth / SSN digits, one-time code), the raw values of the
verification slots, message metadata (it may carry a portal token), and anything in any text
that looks like a one-time code, an SSN, a full account or card number, a date of birth or a
reset token.
"""
from __future__ import annotations

import re
from typing import Any, Optional

REDACTED = "[redacted]"
SEALED_PREFIX = "sealed:"  # slot values the actions encrypted themselves
VERIFICATION_SLOTS = frozenset({"identifier", "identity_factor", "otp_code", "contact_code"})
SAFE_SLOT_MARKERS = frozenset({"provided", "verified", "locked"})
VERIFICATION_FORM = "identity_form"

_PATTERNS = [
    re.compile(r"\b\d{3}[- ]?\d{2}[- ]?\d{4}\b"),  # SSN, with or without separators
    re.compile(r"\b(?:\d[ -]?){10,19}\b"),  # account or card numbers
    re.compile(r"\b\d{3}[ -]?\d{3}\b"),  # one-time codes (also written "123 456")
    re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}\b"),  # dates with a year: birth dates
    re.compile(r"\b(?:19|20)\d{2}-\d{2}-\d{2}\b"),
    re.compile(r"\b(?:last\s*(?:4|four)|ssn|social)\D{0,20}\d{4}\b", re.IGNORECASE),
    re.compile(r"\b[A-Za-z0-9_-]{32,}\b"),  # reset tokens, session tokens, JWT parts
]


def redact_text(text: Optional[str]) -> Optional[str]:
    """Masks every secret-looking run in a free text; other words stay readable."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _safe_slot_value(value: Any) -> bool:
    return value is None or value in SAFE_SLOT_MARKERS or (
        isinstance(value, str) and value.startswith(SEALED_PREFIX)
    )


KEPT_METADATA = frozenset({"model_id", "assistant_id"})  # set by Rasa itself, not the client


def _redact_metadata(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    return {key: value if key in KEPT_METADATA else REDACTED for key, value in metadata.items()}


def _redact_user(event: dict[str, Any], answering_verification: bool) -> None:
    text = event.get("text")
    event["text"] = REDACTED if (answering_verification and text) else redact_text(text)
    event["metadata"] = _redact_metadata(event.get("metadata"))
    parse_data = event.get("parse_data") or {}
    if parse_data:
        parse_data["text"] = event["text"]
        parse_data["metadata"] = _redact_metadata(parse_data.get("metadata"))
        for entity in parse_data.get("entities") or []:
            entity["value"] = REDACTED
            entity.pop("text", None)
            entity.pop("additional_info", None)


def json_copy(value: Any) -> Any:
    """A deep copy of serialised events (dicts, lists and scalars): what `copy.deepcopy` gives,
    several times faster, and this runs on every event of every turn."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


FormState = tuple[Optional[str], Optional[str]]  # (active loop, requested slot)


def redact_events(events: list[dict[str, Any]], state: FormState = (None, None)) -> list[dict[str, Any]]:
    """A copy of `events` with secrets masked; same length, same order, same types.

    `state` is the form state before the first of them, when they continue a conversation.
    """
    active_loop, requested_slot = state
    redacted: list[dict[str, Any]] = []
    for original in events:
        event = json_copy(original)
        kind = event.get("event")
        if kind == "active_loop":
            active_loop = event.get("name")
        elif kind == "slot" and event.get("name") == "requested_slot":
            requested_slot = event.get("value")
        elif kind == "slot" and event.get("name") in VERIFICATION_SLOTS:
            if not _safe_slot_value(event.get("value")):
                event["value"] = REDACTED
        elif kind == "user":
            answering = active_loop == VERIFICATION_FORM and requested_slot in VERIFICATION_SLOTS
            _redact_user(event, answering)
        elif kind == "bot":
            event["text"] = redact_text(event.get("text"))
        elif kind == "session_started":
            event["metadata"] = _redact_metadata(event.get("metadata"))
        redacted.append(event)
    return redacted
