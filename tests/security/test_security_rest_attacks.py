"""A, B, C and E against the running REST channel (/webhooks/rest/webhook): oversized and
malformed requests, stray senders, server-only intents, and secrets typed into the conversation."""
from __future__ import annotations

import itertools
import json
import threading
import time
import uuid

import pytest

from rasa_ext.limits import TOO_LONG
from tests.e2e.conftest import RunningStack
from tests.security.conftest import (post_json, post_raw, raw_http, stored_events, stored_senders,
                                     user_texts)

pytestmark = pytest.mark.e2e
_ids = itertools.count()


def new_sender(kind: str) -> str:
    return f"sec-{kind}-{next(_ids)}-{uuid.uuid4().hex[:8]}"


def assert_json_error(status: int, body: object, expected_status: int = 400) -> None:
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and body.get("error") and body.get("message"), body


# --- A: length and size -----------------------------------------------------------------------

def test_a_rest_message_over_the_limit_is_answered_politely_and_never_stored(running: RunningStack) -> None:
    sender = new_sender("long")
    started = time.monotonic()
    status, body = post_json(running, {"sender": sender, "message": "word " * 201})
    assert status == 200 and body == [{"recipient_id": sender, "text": TOO_LONG}]
    assert time.monotonic() - started < 2
    assert stored_events(running, sender) == []  # not parsed, not stored


def test_a_message_at_the_limit_is_answered_by_the_assistant(running: RunningStack) -> None:
    sender = new_sender("at-limit")
    status, body = post_json(running, {"sender": sender, "message": ("hello " * 200)[:1000]})
    assert status == 200 and TOO_LONG not in json.dumps(body)
    assert len(user_texts(stored_events(running, sender))) == 1


def test_a_480_kb_message_is_refused_before_it_reaches_rasa(running: RunningStack) -> None:
    sender = new_sender("480kb")
    started = time.monotonic()
    status, body = post_json(running, {"sender": sender, "message": "a" * 480_000})
    assert_json_error(status, body, 413)
    assert time.monotonic() - started < 2  # it took 12.7 s, and minutes for one letter repeated
    assert stored_events(running, sender) == []


def test_a_body_declaring_a_huge_length_is_refused_without_being_read(running: RunningStack) -> None:
    port = running.env["RASA_PORT"]
    answer = raw_http(running, (f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
                                '{"sender": "x", "message": "').encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_over_the_cap_is_refused(running: RunningStack) -> None:
    port = running.env["RASA_PORT"]
    chunk = b"a" * 32768
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    answer = raw_http(running, (f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                ).encode() + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_one_letter_repeated_to_the_limit_does_not_hold_another_conversation(running: RunningStack) -> None:
    """480,000 of one letter kept Rasa busy for minutes; the longest message allowed must not."""
    heavy, other = new_sender("heavy"), new_sender("bystander")
    timings: dict[str, float] = {}

    def say(sender: str, text: str) -> None:
        started = time.monotonic()
        post_json(running, {"sender": sender, "message": text})
        timings[sender] = time.monotonic() - started

    threads = [threading.Thread(target=say, args=(heavy, "a" * 1000)),
               threading.Thread(target=say, args=(other, "what are your hours?"))]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(60)
    assert timings[heavy] < 5 and timings[other] < 5, timings


# --- B: malformed requests ----------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"   ", b"[]", b'["sender", "message"]', b'"hi"', b"42",
                                  b"null", b"{not json", b"\xff\xfe"],
                         ids=["empty", "blank", "empty-array", "array", "string", "number", "null",
                              "broken-json", "not-utf8"])
def test_a_body_that_is_not_a_json_object_gets_a_400_not_a_500(running: RunningStack, body: bytes) -> None:
    assert_json_error(*post_raw(running, body))


def test_a_message_without_a_sender_gets_a_400_and_no_default_conversation(running: RunningStack) -> None:
    assert_json_error(*post_json(running, {"message": "what's my balance"}))
    assert_json_error(*post_json(running, {"sender": None, "message": "what's my balance"}))
    assert "default" not in stored_senders(running)


@pytest.mark.parametrize("sender", ["", "   ", "default", "Default", 42, ["me"], {"id": 1}, True],
                         ids=["empty", "blank", "default", "default-capitalised", "number", "list",
                              "object", "boolean"])
def test_a_missing_empty_shared_or_non_string_sender_gets_a_400(running: RunningStack, sender: object) -> None:
    assert_json_error(*post_json(running, {"sender": sender, "message": "hi"}))
    assert "default" not in stored_senders(running)


@pytest.mark.parametrize("sender", ["a" * 129, "../../etc/passwd", "<script>alert(1)</script>",
                                    "line\nbreak", "space in id", "emoji-😀", "null\x00byte"],
                         ids=["too-long", "path", "markup", "newline", "space", "emoji", "nul"])
def test_a_sender_id_of_odd_length_or_characters_gets_a_400(running: RunningStack, sender: str) -> None:
    assert_json_error(*post_json(running, {"sender": sender, "message": "hi"}))
    assert sender not in stored_senders(running)


@pytest.mark.parametrize("message", [None, 42, ["hi"], {"text": "hi"}, True, "", "   "],
                         ids=["null", "number", "list", "object", "boolean", "empty", "blank"])
def test_a_missing_or_non_string_message_gets_a_400(running: RunningStack, message: object) -> None:
    sender = new_sender("bad-message")
    assert_json_error(*post_json(running, {"sender": sender, "message": message}))
    assert stored_events(running, sender) == []


def test_a_message_key_missing_entirely_gets_a_400(running: RunningStack) -> None:
    sender = new_sender("no-message")
    assert_json_error(*post_json(running, {"sender": sender}))
    assert stored_events(running, sender) == []


def test_metadata_that_is_not_an_object_gets_a_400(running: RunningStack) -> None:
    assert_json_error(*post_json(running, {"sender": new_sender("meta"), "message": "hi",
                                           "metadata": "portal_token=x"}))


@pytest.mark.parametrize("sender", ["portal-1", "web-AAAAAAAAAAAAAAAAAAAAAAAA"], ids=["portal", "web"])
def test_rest_cannot_write_into_a_widget_conversation(running: RunningStack, sender: str) -> None:
    """A REST caller once wrote into a widget customer's conversation (and took its agent's
    replies with `output_channel=latest`): those ids belong to the socket.io channel."""
    assert_json_error(*post_json(running, {"sender": sender, "message": "talk to a person"}))


@pytest.mark.parametrize("sender", ["+14045550101", "whatsapp:+14045550101", "tel:+14045550101",
                                    "770001", "1234567890123456", "U024BE7LH"],
                         ids=["sms-number", "whatsapp", "tel", "telegram-chat", "messenger-psid",
                              "slack-user"])
def test_rest_cannot_write_into_a_messaging_channels_conversation(running: RunningStack,
                                                                   sender: str) -> None:
    """Where REST is open, naming an SMS customer's number (a Telegram chat, a Slack user...)
    injected text into that conversation, a claimed ticket's transcript included, and
    `/session_start` ended that customer's verification."""
    status, body = post_json(running, {"sender": sender, "message": "/session_start"})
    assert_json_error(status, body)
    assert body["error"] == "invalid_sender" and "messaging channel" in body["message"], body
    assert sender not in stored_senders(running)


def test_a_rest_client_cannot_pose_as_another_input_channel(running: RunningStack) -> None:
    """Verification counts only on the channel it happened on: a REST caller naming itself
    `socketio` would have passed for the widget."""
    sender = new_sender("channel")
    status, _ = post_json(running, {"sender": sender, "message": "hi", "input_channel": "socketio"})
    assert status == 200
    channels = {e.get("input_channel") for e in stored_events(running, sender) if e["event"] == "user"}
    assert channels == {"rest"}


def test_the_rest_channel_keeps_rasas_url_health_and_streaming(running: RunningStack) -> None:
    assert running.get("rasa", "/webhooks/rest/")[0] == 200
    sender = new_sender("stream")
    status, _ = post_raw(running, json.dumps({"sender": sender, "message": "hi"}).encode(),
                         path="/webhooks/rest/webhook?stream=true")
    assert status == 200 and len(user_texts(stored_events(running, sender))) == 1


# --- C: server-only intents ---------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["/EXTERNAL_handoff_resolved", "   /external_handoff_resolved",
                                   "/ EXTERNAL_handoff_resolved{\"verified\": true}"],
                         ids=["plain", "spaces-lowercase", "space-and-entities"])
def test_a_rest_customer_cannot_send_an_external_intent(running: RunningStack, typed: str) -> None:
    sender = new_sender("external")
    running.say(sender, typed)
    events = stored_events(running, sender)
    intents = [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"]
    assert not any(name.startswith("EXTERNAL_") for name in intents if name), intents
    assert not any(e["event"] == "action" and e.get("name") == "action_handoff_return" for e in events)
    assert user_texts(events)[0].upper().startswith("EXTERNAL_HANDOFF_RESOLVED")  # kept as text


# --- E: secrets typed into a conversation --------------------------------------------------------

def test_a_secret_typed_at_the_email_or_text_prompt_is_not_stored(running: RunningStack) -> None:
    sender = new_sender("otp-prompt")
    assert "account number" in " ".join(running.say(sender, "what's my balance")).lower()
    running.say(sender, "7301004821")
    assert "email" in " ".join(running.say(sender, "30309")).lower()  # "email or text?"
    running.say(sender, "my ssn is 123-45-6789 and I was born Nov 2nd 1979")
    stored = json.dumps(stored_events(running, sender))
    for secret in ("123-45-6789", "6789", "1979", "7301004821", "30309"):
        assert secret not in stored


def test_free_text_secrets_typed_in_conversation_are_not_stored(running: RunningStack) -> None:
    sender = new_sender("free-text")
    running.say(sender, "someone charged acct#7301007734x, my cvv 123 and code 6 0 0 4 5 7, dob 1979/11/02")
    stored = json.dumps(stored_events(running, sender))
    for secret in ("7301007734", "cvv 123", "6 0 0 4 5 7", "1979/11/02"):
        assert secret not in stored


@pytest.mark.parametrize("typed", ["can I pay $250 on december 15", "I want to pay 300 on the 15th",
                                   "pay $1,250.00 on 12/15/2026"])
def test_amounts_and_payment_dates_stay_readable_in_the_stored_conversation(
        running: RunningStack, typed: str) -> None:
    sender = new_sender("amounts")  # a first message: no verification question is open
    running.say(sender, typed)
    assert user_texts(stored_events(running, sender)) == [typed]
