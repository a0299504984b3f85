"""D and E checks that need Rasa's code (run in Rasa's environment, rasa_security_checks.py):
the widget's signed session ids, the channels' limits from credentials.yml, the REST sender
rules, and the events the tracker store stores and publishes to the event broker."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("rasa_security_checks.py")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


def test_issued_session_ids_are_random_and_unguessable(results: dict[str, Any]) -> None:
    ids = results["session_ids"]
    assert ids["issued"].startswith("web-") and len(ids["issued"]) == 4 + 24  # 144 random bits
    assert ids["issued"] != ids["other"]
    assert ids["round_trip"] == ids["issued"]  # the browser's signed copy resumes it


def test_a_bare_conversation_id_does_not_open_the_conversation(results: dict[str, Any]) -> None:
    assert results["session_ids"]["bare_id"] is None  # what agents, logs and the store see


def test_a_signed_id_with_a_forged_signature_is_refused(results: dict[str, Any]) -> None:
    assert results["session_ids"]["forged_mac"] is None


def test_a_signature_cannot_be_moved_to_another_conversation(results: dict[str, Any]) -> None:
    assert results["session_ids"]["other_conversation"] is None


def test_a_signed_id_cannot_be_made_younger(results: dict[str, Any]) -> None:
    assert results["session_ids"]["newer_time"] is None


def test_a_signed_id_from_another_key_is_refused(results: dict[str, Any]) -> None:
    assert results["session_ids"]["other_key"] is None
    assert results["session_ids"]["random_key_fallback"] is None


def test_an_expired_signed_id_is_refused(results: dict[str, Any]) -> None:
    assert results["session_ids"]["expired"] is None


def test_a_signed_portal_id_is_never_honoured_for_an_anonymous_visitor(results: dict[str, Any]) -> None:
    assert results["session_ids"]["portal"] is None


def test_a_session_id_that_is_not_a_string_is_refused(results: dict[str, Any]) -> None:
    assert results["session_ids"]["not_a_string"] is None


def test_another_replica_with_the_same_key_honours_the_signed_id(results: dict[str, Any]) -> None:
    assert results["session_ids"]["same_key_other_replica"] == results["session_ids"]["issued"]


def test_the_limits_come_from_each_channels_credentials_entry_with_defaults(results: dict[str, Any]) -> None:
    limits = results["limits_from_credentials"]
    assert limits["widget"] == [20, 4096] and limits["widget_packet_cap"] == 4096
    assert limits["default_widget"] == [1000, 65536]
    assert limits["rest"] == [50, 2048, "rest"] and limits["default_rest"] == [1000, 65536]
    assert limits["rest_url"] == "rest"  # /webhooks/rest/webhook, as Rasa's channel


@pytest.mark.parametrize("sender, accepted", [
    ("'maria-rest-1'", True), ("'+15551234567'", False), ("'" + "a" * 128 + "'", True),
    ("'default'", False), ("'DEFAULT'", False), ("'portal-1'", False), ("'web-abc'", False),
    ("''", False), ("' '", False), ("'" + "a" * 129 + "'", False), ("'../etc/passwd'", False),
    ("'x\\ny'", False), ("'<script>'", False), ("None", False), ("42", False), ("['a']", False),
])
def test_a_rest_sender_must_be_a_sane_id_of_its_own(results: dict[str, Any], sender: str,
                                                      accepted: bool) -> None:
    assert results["sender_ids"][sender] is accepted


def test_the_event_broker_gets_the_redacted_events_and_no_secret(results: dict[str, Any]) -> None:
    published = results["published_and_stored_events_are_redacted"]
    assert published["leaked_to_broker"] == []
    assert published["same_kinds"] and published["published"] == published["events"]
    assert published["published_sender"]


def test_the_tracker_store_keeps_no_secret_and_every_event(results: dict[str, Any]) -> None:
    stored = results["published_and_stored_events_are_redacted"]
    assert stored["leaked_to_store"] == [] and stored["stored_count"] == stored["events"]


def test_the_client_key_is_a_keyed_hash_of_the_address_not_the_address(results: dict[str, Any]) -> None:
    keys = results["client_keys"]
    assert keys["same"] and keys["other_address"] and keys["other_secret"]
    assert "203.0.113" not in keys["key"] and len(keys["key"]) == 32


def test_a_client_key_sent_by_the_client_is_replaced_by_the_channels_own(
        results: dict[str, Any]) -> None:
    keys = results["client_keys"]
    assert keys["forged"] == {"locale": "en", "client_key": keys["key"]}
    assert keys["no_address"] == {}  # dropped, never passed on
    assert keys["no_secret"] is None


def test_both_channels_read_the_client_key_secret_from_their_credentials(
        results: dict[str, Any]) -> None:
    assert results["client_keys"]["rest_secret"] == "s" * 20
    assert results["client_keys"]["widget_secret"] == "s" * 20


def test_rest_is_off_in_production_without_an_authenticating_gateway(results: dict[str, Any]) -> None:
    gateway = results["rest_gateway"]
    assert gateway["production_without_token"] == 403
    assert gateway["production_with_a_made_up_token"] == 403


def test_behind_a_gateway_rest_answers_only_the_gateways_bearer_token(results: dict[str, Any]) -> None:
    gateway = results["rest_gateway"]
    assert gateway["gated_without_header"] == gateway["gated_wrong"] == gateway["gated_basic"] == 401
    assert gateway["gated_right"] is None  # passed on to Rasa


def test_rest_stays_open_in_the_demo(results: dict[str, Any]) -> None:
    assert results["rest_gateway"]["demo_open"] is None


def test_behind_a_proxy_the_client_is_the_address_the_proxy_names(results: dict[str, Any]) -> None:
    """Behind HAProxy every connection comes from the proxy: without its header, one client's
    failed verifications would block every customer's."""
    addresses = results["client_addresses"]
    assert addresses["behind_proxy_with_header"] == "203.0.113.7"
    assert addresses["header_list"] == "203.0.113.7"
    assert addresses["header_missing"] == "10.0.0.5"
    assert addresses["header_not_configured"] == "10.0.0.5"  # a client's own header is not trusted
    assert addresses["rest"] == addresses["widget"] == "X-Real-IP"


def test_every_replica_signs_widget_ids_with_the_same_configured_key(results: dict[str, Any]) -> None:
    assert results["client_addresses"]["signing_key_shared"] is True


@pytest.mark.parametrize("sender", [
    "+14045550101", "whatsapp:+14045550101", "WhatsApp:+14045550101", "tel:+14045550101",
    "sms:+14045550101", "770001", "1234567890123456", "U024BE7LH", "W012A3CDE",
    "U024BE7LH_C024BE91L", "U0G9QF9C6_C0G9QF9GZ_1700000000.123456",
], ids=["sms-number", "whatsapp", "whatsapp-capitalised", "tel", "sms-scheme", "telegram-chat",
        "messenger-psid", "slack-user", "slack-enterprise-user", "slack-user-in-channel",
        "slack-user-in-thread"])
def test_a_rest_sender_cannot_name_a_messaging_channels_conversation(
        results: dict[str, Any], sender: str) -> None:
    """Where REST is open, a caller naming an SMS customer's number (or a Telegram chat, a
    Slack user...) would write into that conversation, a claimed ticket's transcript included,
    and `/session_start` would end that customer's verification."""
    assert results["sender_ids"][repr(sender)] is False


@pytest.mark.parametrize("sender", ["maria+1@example.com", "u024be7lh", "UNDERSTANDING",
                                    "user-770001", "770001a", "eval-sms-1a2b", "bench-telegram-3"])
def test_a_rest_sender_that_only_resembles_a_messaging_id_is_still_accepted(
        results: dict[str, Any], sender: str) -> None:
    assert results["sender_ids"][repr(sender)] is True


def test_a_refused_messaging_style_sender_is_told_why(results: dict[str, Any]) -> None:
    for sender, message in results["messaging_sender_messages"].items():
        assert message and "messaging channel" in message and "id of your own" in message, sender


@pytest.mark.parametrize("channel", ["telegram", "slack", "twilio", "twilio_whatsapp", "facebook"])
def test_every_messaging_channel_applies_the_length_limit_and_defuses_external_intents(
        results: dict[str, Any], channel: str) -> None:
    """Rasa's stock Slack and Messenger channels passed a 40,000-character message and a typed
    `/EXTERNAL_handoff_resolved` (read as the server-only intent) straight to Rasa."""
    checked = results["messaging_channels_apply_the_message_rules"][channel]
    assert checked["reached_rasa"] == ["EXTERNAL_handoff_resolved", "what are your hours?"]
    assert checked["answered"] == ["That message is too long for me. Could you say it in a few "
                                   "sentences?"]


@pytest.mark.parametrize("channel, rasa_class", [("slack", "SlackInput"),
                                                 ("facebook", "FacebookInput")])
def test_slack_and_messenger_keep_rasas_channel_name_and_webhook_url(
        results: dict[str, Any], channel: str, rasa_class: str) -> None:
    checked = results["messaging_channels_apply_the_message_rules"][channel]
    assert checked["class"] == f"rasa_ext.messaging.{rasa_class}"
    assert checked["rasa_class"] == rasa_class  # Rasa's own channel underneath
    assert checked["url_prefix"] == channel  # /webhooks/<channel>/webhook
