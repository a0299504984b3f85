"""Which messaging channels the launcher turns on, and the credentials file it gives Rasa."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autofinance.entrypoints import channels
from autofinance.entrypoints.stack import Stack, banner

TELEGRAM = {"TELEGRAM_ACCESS_TOKEN": "123:abc", "TELEGRAM_BOT_NAME": "meridian_bot",
            "TELEGRAM_WEBHOOK_URL": "https://example.test/webhooks/telegram/webhook"}
SLACK = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "twilio-secret",
          "TWILIO_NUMBER": "+15005550006"}
WHATSAPP = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "twilio-secret",
            "TWILIO_WHATSAPP_NUMBER": "+14155238886"}
FACEBOOK = {"FACEBOOK_VERIFY": "v", "FACEBOOK_SECRET": "s", "FACEBOOK_PAGE_ACCESS_TOKEN": "p"}
EVERYTHING = {**TELEGRAM, **SLACK, **TWILIO, **WHATSAPP, **FACEBOOK}


def test_no_messaging_channel_is_on_without_its_variables() -> None:
    assert channels.enabled_channels({}) == []
    assert channels.enabled_channels({"PATH": "/usr/bin", "RASA_PORT": "5005"}) == []


@pytest.mark.parametrize("env, expected", [
    (TELEGRAM, ["telegram"]),
    (SLACK, ["slack"]),
    (TWILIO, ["twilio"]),
    (WHATSAPP, ["twilio_whatsapp"]),
    (FACEBOOK, ["facebook"]),
    ({**TWILIO, **WHATSAPP}, ["twilio", "twilio_whatsapp"]),
    (EVERYTHING, ["telegram", "slack", "twilio", "twilio_whatsapp", "facebook"]),
])
def test_a_channel_is_on_when_all_its_required_variables_are_set(
    env: dict[str, str], expected: list[str],
) -> None:
    assert channels.enabled_channels(env) == expected


BY_CHANNEL = {"telegram": TELEGRAM, "slack": SLACK, "twilio": TWILIO, "twilio_whatsapp": WHATSAPP,
              "facebook": FACEBOOK}


@pytest.mark.parametrize("missing", sorted(EVERYTHING))
def test_one_missing_or_empty_variable_turns_off_the_channels_that_need_it(missing: str) -> None:
    still_on = [name for name, needs in BY_CHANNEL.items() if missing not in needs]
    assert len(still_on) < len(BY_CHANNEL)
    for env in ({k: v for k, v in EVERYTHING.items() if k != missing}, {**EVERYTHING, missing: "  "}):
        assert channels.enabled_channels(env) == still_on


def test_the_api_base_urls_are_optional() -> None:
    by_name = {c.name: c for c in channels.messaging_channels()}
    assert by_name["telegram"].required() == list(TELEGRAM)
    assert "TELEGRAM_API_BASE_URL" in by_name["telegram"].variables()
    assert by_name["twilio"].required() == list(TWILIO)
    assert by_name["twilio_whatsapp"].required() == list(WHATSAPP)
    assert by_name["slack"].required() == list(SLACK)
    assert by_name["facebook"].required() == list(FACEBOOK)


def test_every_channel_has_its_webhook_under_its_rasa_name() -> None:
    paths = {c.name: c.webhook_path for c in channels.messaging_channels()}
    assert paths == {"telegram": "/webhooks/telegram/webhook", "slack": "/webhooks/slack/webhook",
                     "twilio": "/webhooks/twilio/webhook",
                     "twilio_whatsapp": "/webhooks/twilio_whatsapp/webhook",
                     "facebook": "/webhooks/facebook/webhook"}


def test_every_messaging_channel_is_our_subclass_behind_the_message_rules() -> None:
    """Rasa's stock `slack` and `facebook` entries skipped the length limit and let a typed
    `/EXTERNAL_...` intent through; every entry is one of rasa_ext.messaging's channels, which
    wrap Rasa's with `guarded` (tests/security/test_security_rasa_checks.py checks that)."""
    keys = {c.name: c.key for c in channels.messaging_channels()}
    assert keys == {"telegram": "rasa_ext.messaging.TelegramInput",
                    "slack": "rasa_ext.messaging.SlackInput",
                    "twilio": "rasa_ext.messaging.TwilioInput",
                    "twilio_whatsapp": "rasa_ext.messaging.TwilioWhatsAppInput",
                    "facebook": "rasa_ext.messaging.FacebookInput"}
    assert set(channels.CHANNEL_NAMES) == set(keys.values())


def _written(env: dict[str, str], tmp_path: Path) -> tuple[str, dict]:
    path = channels.write_credentials(env, tmp_path / "sub" / "credentials.5005.yml")
    assert path == tmp_path / "sub" / "credentials.5005.yml"
    text = path.read_text()
    return text, yaml.safe_load(text)


def test_the_written_credentials_are_the_always_on_part_without_messaging_variables(
    tmp_path: Path,
) -> None:
    text, written = _written({}, tmp_path)
    assert written == yaml.safe_load(channels.ALWAYS_ON_CREDENTIALS.read_text())
    assert list(written) == ["rasa_ext.channels.RestInput", "rasa_ext.channels.WidgetSocketIOInput"]
    assert "No messaging channel is on" in text
    assert list(tmp_path.glob("sub/.*")) == []  # no temporary file left behind


def test_the_written_credentials_add_the_complete_channels_as_variable_references(
    tmp_path: Path,
) -> None:
    text, written = _written({**TELEGRAM, **TWILIO, "SLACK_BOT_TOKEN": "xoxb-1"}, tmp_path)
    assert list(written) == ["rasa_ext.channels.RestInput", "rasa_ext.channels.WidgetSocketIOInput",
                             "rasa_ext.messaging.TelegramInput", "rasa_ext.messaging.TwilioInput"]
    assert written["rasa_ext.messaging.TwilioInput"] == {
        "account_sid": "${TWILIO_ACCOUNT_SID}", "auth_token": "${TWILIO_AUTH_TOKEN}",
        "twilio_number": "${TWILIO_NUMBER}"}  # no api_base_url: TWILIO_API_BASE_URL is unset
    # Rasa fills in ${...} only in plain (unquoted) scalars; no value is written to the file
    assert "\n  auth_token: ${TWILIO_AUTH_TOKEN}\n" in text
    assert "\n  access_token: ${TELEGRAM_ACCESS_TOKEN}\n" in text
    assert not any(value in text for value in ("twilio-secret", "123:abc", "xoxb-1"))
    assert "on for this run, from deploy/messaging-channels.yml: telegram, twilio" in text


def test_an_optional_base_url_is_kept_when_set(tmp_path: Path) -> None:
    _, written = _written({**TELEGRAM, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9"}, tmp_path)
    assert written["rasa_ext.messaging.TelegramInput"]["api_base_url"] == "${TELEGRAM_API_BASE_URL}"


def test_rewriting_replaces_the_previous_selection(tmp_path: Path) -> None:
    _written(EVERYTHING, tmp_path)
    _, written = _written(SLACK, tmp_path)
    assert list(written)[2:] == ["rasa_ext.messaging.SlackInput"]


def test_a_half_configured_channel_is_named_with_what_it_misses() -> None:
    env = {**TWILIO, "TELEGRAM_ACCESS_TOKEN": "123:abc"}
    assert channels.incomplete_channels(env) == {
        "telegram": ["TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL"]}  # not WhatsApp: SMS uses its SID
    line = channels.describe(env)
    assert line.startswith("twilio  (webhooks: /webhooks/<channel>/webhook)")
    assert "telegram (missing TELEGRAM_BOT_NAME, TELEGRAM_WEBHOOK_URL)" in line
    assert channels.describe({}).startswith("none")


def test_the_launcher_gives_rasa_the_written_credentials(tmp_path: Path) -> None:
    env = {**TELEGRAM, "RASA_API_TOKEN": "t", "RASA_PORT": "5123", "WEB_PORT": "8123"}
    stack = Stack.from_env(env, log_to=tmp_path)
    command = next(s.command for s in stack.services if s.name == "rasa")
    credentials = Path(command[command.index("--credentials") + 1])
    assert credentials == tmp_path / "credentials.5123.yml"
    assert "rasa_ext.messaging.TelegramInput" in yaml.safe_load(credentials.read_text())
    shown = banner(stack.env, generated_token=False)
    assert "Messaging:      telegram  (webhooks: /webhooks/<channel>/webhook)" in shown
