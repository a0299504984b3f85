"""Which messaging channels Rasa runs: those whose environment variables are all set.

`credentials.yml` is the always-on part (REST, the widget's socket.io). Each entry of
`deploy/messaging-channels.yml` (Telegram, Slack, Twilio SMS, Twilio WhatsApp, Facebook
Messenger) needs every `${VAR}` it uses, except the optional `*_API_BASE_URL`. Rasa fails on
a `${VAR}` that is not set, so the launcher gives it a file with only the complete entries:
`write_credentials`. The `${VAR}` references are copied, not their values: Rasa reads the
environment itself, and no secret is written to disk.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from autofinance.config import PROJECT_ROOT

ALWAYS_ON_CREDENTIALS = PROJECT_ROOT / "credentials.yml"
MESSAGING_CREDENTIALS = PROJECT_ROOT / "deploy" / "messaging-channels.yml"
OPTIONAL_SUFFIX = "_API_BASE_URL"  # e.g. TELEGRAM_API_BASE_URL: unset means the real API
# Rasa's channel name (its webhook: /webhooks/<name>/webhook) of entries keyed by a class path;
# Rasa's built-in channels are keyed by their name.
CHANNEL_NAMES = {
    "rasa_ext.messaging.TelegramInput": "telegram",
    "rasa_ext.messaging.SlackInput": "slack",
    "rasa_ext.messaging.TwilioInput": "twilio",
    "rasa_ext.messaging.TwilioWhatsAppInput": "twilio_whatsapp",
    "rasa_ext.messaging.FacebookInput": "facebook",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class MessagingChannel:
    key: str  # the entry's key in the credentials file (a Rasa channel name or class path)
    entry: Mapping[str, Any]

    @property
    def name(self) -> str:
        return CHANNEL_NAMES.get(self.key, self.key)

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/{self.name}/webhook"

    def variables(self) -> list[str]:
        found: list[str] = []
        for value in self.entry.values():
            for variable in _VARIABLE.findall(value) if isinstance(value, str) else []:
                if variable not in found:
                    found.append(variable)
        return found

    def required(self) -> list[str]:
        return [v for v in self.variables() if not v.endswith(OPTIONAL_SUFFIX)]

    def missing(self, env: Mapping[str, str]) -> list[str]:
        return [v for v in self.required() if not _is_set(env, v)]

    def entry_for(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The entry, without the keys whose optional variables are unset."""
        return {key: value for key, value in self.entry.items()
                if not (isinstance(value, str) and any(
                    v.endswith(OPTIONAL_SUFFIX) and not _is_set(env, v)
                    for v in _VARIABLE.findall(value)))}


def _is_set(env: Mapping[str, str], variable: str) -> bool:
    return bool((env.get(variable) or "").strip())


def messaging_channels(path: Path = MESSAGING_CREDENTIALS) -> list[MessagingChannel]:
    """Every messaging channel the file configures, in its order."""
    entries = yaml.safe_load(path.read_text()) or {}
    return [MessagingChannel(key, dict(entry or {})) for key, entry in entries.items()]


def enabled_channels(env: Mapping[str, str], path: Path = MESSAGING_CREDENTIALS) -> list[str]:
    """The names of the messaging channels whose required variables are all set."""
    return [c.name for c in messaging_channels(path) if not c.missing(env)]


def incomplete_channels(env: Mapping[str, str],
                        path: Path = MESSAGING_CREDENTIALS) -> dict[str, list[str]]:
    """Channels left off although some of their variables are set: name -> the missing ones.

    A variable an enabled channel uses too (TWILIO_ACCOUNT_SID for SMS and WhatsApp) does not
    make another channel look half-configured.
    """
    channels = messaging_channels(path)
    used = {v for c in channels if not c.missing(env) for v in c.required()}
    incomplete = {}
    for channel in channels:
        missing = channel.missing(env)
        if missing and any(_is_set(env, v) and v not in used for v in channel.required()):
            incomplete[channel.name] = missing
    return incomplete


def write_credentials(env: Mapping[str, str], path: Path,
                      always_on: Path = ALWAYS_ON_CREDENTIALS,
                      messaging: Path = MESSAGING_CREDENTIALS) -> Path:
    """Writes the credentials Rasa gets: the always-on file + the complete messaging entries."""
    enabled = [c for c in messaging_channels(messaging) if not c.missing(env)]
    text = always_on.read_text().rstrip() + "\n"
    if enabled:
        entries = {c.key: c.entry_for(env) for c in enabled}
        text += (f"\n# Messaging channels on for this run, from {_shown(messaging)}: "
                 f"{', '.join(c.name for c in enabled)}\n"
                 + yaml.safe_dump(entries, sort_keys=False, default_flow_style=False, width=4096))
    else:
        text += f"\n# No messaging channel is on: {_shown(messaging)} lists their variables.\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)  # a Rasa starting from an older file never reads half of this one
    return path


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def describe(env: Mapping[str, str], path: Optional[Path] = None) -> str:
    """One line for the launcher's banner: which messaging channels are on, and which are not."""
    path = path or MESSAGING_CREDENTIALS
    on = enabled_channels(env, path)
    if on:
        line = ", ".join(on) + "  (webhooks: /webhooks/<channel>/webhook)"
    else:
        line = "none (set a channel's variables to turn it on: README, Messaging channels)"
    incomplete = incomplete_channels(env, path)
    if incomplete:
        line += "; off, incomplete: " + ", ".join(
            f"{name} (missing {', '.join(missing)})" for name, missing in incomplete.items())
    return line
