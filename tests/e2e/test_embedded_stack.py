"""`make run`'s stack, on the embedded default: every service answers, doors are locked, and a
customer verifies by code and hears their balance."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(embedded_stack: RunningStack) -> RunningStack:
    return embedded_stack


def test_every_service_answers_its_health_check(running: RunningStack) -> None:
    assert running.get("rasa", "/webhooks/rest/")[0] == 200
    assert running.get("actions", "/health")[0] == 200
    assert running.get("web", "/health")[0] == 200


def test_the_rasa_http_api_requires_its_token(running: RunningStack) -> None:
    assert running.get("rasa", "/status")[0] == 401
    assert running.get("rasa", "/status", token="wrong")[0] == 401
    status, body = running.get("rasa", "/status", token=running.env["RASA_API_TOKEN"])
    assert status == 200 and body["model_file"].endswith("meridian.tar.gz")


def test_the_action_server_refuses_calls_without_the_shared_secret(running: RunningStack) -> None:
    body = json.dumps({"next_action": "action_check_balance", "sender_id": "x",
                       "tracker": {"sender_id": "x", "slots": {}, "events": []}, "domain": {}}).encode()
    request = urllib.request.Request(running.url("actions", "/webhook"), data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    refused.value.close()


def test_an_unverified_customer_is_asked_to_verify_and_sees_no_balance(running: RunningStack) -> None:
    replies = " ".join(running.say("stranger-1", "what's my balance?"))
    assert "$" not in replies
    assert "account number" in replies.lower()


def test_a_message_that_fits_no_step_still_gets_an_answer(running: RunningStack) -> None:
    """Rasa's own dialogue fallback sends nothing without an `utter_default` response."""
    running.say("stray-rest-1", "hi")
    replies = " ".join(running.say("stray-rest-1", "/inform")).lower()
    assert "another way" in replies
    assert "account number" in " ".join(running.say("stray-rest-1", "what's my balance?")).lower()


def test_maria_verifies_with_the_code_from_the_outbox_and_hears_her_balance(running: RunningStack) -> None:
    sender = "maria-rest-1"
    assert "account number" in " ".join(running.say(sender, "how much do I owe on my car")).lower()
    assert "ZIP" in " ".join(running.say(sender, "7301004821"))
    assert "m****@example.com" in " ".join(running.say(sender, "30309"))
    assert "6-digit code" in " ".join(running.say(sender, "email"))
    code = running.latest_code("maria.lopez@example.com")
    replies = " ".join(running.say(sender, code))
    assert "you're verified" in replies
    assert "$18,420.55" in replies

    stored = b"".join(path.read_bytes() for path in running.logs.glob("tracker.db*"))
    assert b"[redacted]" in stored, "the redacting tracker store is not the one in use"
    for secret in (code, "7301004821", "30309"):
        assert secret.encode() not in stored, f"{secret} is stored in clear in the tracker store"
        for service in ("rasa", "actions", "web"):
            assert secret not in running.log(service), f"{secret} is in the {service} log"
