"""The catalogue of reminder and alert texts (reminder_texts.yml), read once and filled in.

The wording lives in the YAML file, next to this module, so that it can be reviewed and
translated without touching the rules; a test checks that every reminder kind has its email
and its text and that their placeholders are all given.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

CATALOGUE = Path(__file__).with_name("reminder_texts.yml")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    with open(CATALOGUE, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle))


def piece(section: str, key: str, **values: str) -> str:
    """A piece another text takes in ('outcomes', 'approved')."""
    return str(catalogue()[section][key]).format(**values)


def email(template: str, values: Mapping[str, str]) -> tuple[str, str]:
    """(subject, body) of the email for `template`."""
    entry = catalogue()[template]
    return entry["subject"].format(**values), entry["body"].format(**values)


def text(template: str, values: Mapping[str, str], channel: str) -> str:
    """The short message for SMS, WhatsApp or Telegram; SMS carries the opt-out line."""
    message = str(catalogue()[template]["text"]).format(**values)
    return message + (str(catalogue()["sms_footer"]) if channel == "sms" else "")
