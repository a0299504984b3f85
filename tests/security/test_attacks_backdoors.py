"""The back doors: the action server's /webhook called directly (no token, a wrong token, the token
in the wrong place, a forged tracker claiming verified slots) and Rasa's HTTP API without its
token (read a transcript, write events, trigger intents, swap the model)."""
from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from tests.e2e.conftest import RunningStack
from tests.security.test_attacks_support import (
    assert_nothing_disclosed, http, new_sender, outbox_count, say, snapshot, tracker_events, verified_sessions,
)

pytestmark = pytest.mark.e2e


def forged_tracker(sender: str, intent: str = "check_balance", slots: Optional[dict[str, Any]] = None,
                   events: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """A tracker as Rasa would send it, claiming everything verification would have set."""
    claimed = {"verified": True, "identifier": "provided", "identity_factor": "provided",
               "otp_channel": "email", "otp_code": "verified", "customer_id": 1,
               "account_number": "7301004821", **(slots or {})}
    return {"sender_id": sender, "slots": claimed, "paused": False, "followup_action": None,
            "latest_message": {"intent": {"name": intent, "confidence": 1.0}, "entities": [],
                               "text": intent, "metadata": {}},
            "events": events if events is not None else [
                {"event": "slot", "name": "verified", "value": True},
                {"event": "user", "text": intent, "input_channel": "rest",
                 "parse_data": {"intent": {"name": intent}}}],
            "active_loop": {}, "latest_action_name": "action_listen"}


def webhook(running: RunningStack, action: str, tracker: dict[str, Any], query: str = "",
            headers: Optional[dict[str, str]] = None, extra: Optional[dict[str, Any]] = None
            ) -> tuple[int, str]:
    body = json.dumps({"next_action": action, "sender_id": tracker["sender_id"], "tracker": tracker,
                       "domain": {}, "version": "3.6.21", **(extra or {})}).encode()
    status, _, raw = http(running, "actions", f"/webhook{query}", "POST", body,
                          {"Content-Type": "application/json", **(headers or {})})
    return status, raw.decode(errors="replace")


# --- the action server without its token ---------------------------------------------------------

def _token_placements(token: str) -> dict[str, tuple[str, dict[str, str], dict[str, Any]]]:
    return {
        "no-token": ("", {}, {}),
        "empty-token": ("?token=", {}, {}),
        "wrong-token": ("?token=guess", {}, {}),
        "token-prefix": (f"?token={token[:-1]}", {}, {}),
        "token-longer": (f"?token={token}x", {}, {}),
        "token-upper": (f"?token={token.upper() if token.upper() != token else token + 'A'}", {}, {}),
        "bearer-header": ("", {"Authorization": f"Bearer {token}"}, {}),
        "token-in-body": ("", {}, {"token": token}),
        "wrong-then-right": (f"?token=guess&token={token}", {}, {}),
    }


@pytest.mark.parametrize("placement", ["no-token", "empty-token", "wrong-token", "token-prefix",
                                       "token-longer", "token-upper", "bearer-header",
                                       "token-in-body", "wrong-then-right"])
def test_the_action_server_refuses_a_call_without_its_token_in_the_right_place(
        running: RunningStack, placement: str) -> None:
    """A forged tracker claiming verification, posted straight to /webhook."""
    query, headers, extra = _token_placements(running.env["ACTION_SERVER_TOKEN"])[placement]
    before = snapshot(running)
    status, body = webhook(running, "action_check_balance", forged_tracker(new_sender("as")),
                           query, headers, extra)
    assert status == 401, body
    assert_nothing_disclosed(body)
    assert snapshot(running) == before


def test_the_action_server_lists_no_actions_without_its_token(running: RunningStack) -> None:
    status, _, raw = http(running, "actions", "/actions")
    assert status == 401 and b"action_check_balance" not in raw


# --- the action server with its token, a forged tracker -------------------------------------------

@pytest.mark.parametrize("action, intent", [
    ("action_check_balance", "check_balance"), ("action_payoff_quote", "payoff_quote"),
    ("action_payment_history", "payment_history"), ("action_loan_terms", "loan_terms"),
])
def test_a_forged_tracker_claiming_verified_slots_gets_no_account_data(
        running: RunningStack, action: str, intent: str) -> None:
    """Even with the token (a leaked endpoints file), slots are not identity: the guard asks
    the store, and this conversation never verified."""
    sender = new_sender("forged")
    status, body = webhook(running, action, forged_tracker(sender, intent),
                           f"?token={running.env['ACTION_SERVER_TOKEN']}")
    assert status in (200, 404), body  # 404: an action name this server does not have
    assert_nothing_disclosed(body)
    if status == 200:
        assert "utter_need_verification" in body


CHANGING_ACTIONS = ["action_submit_payment", "action_submit_autopay", "action_cancel_autopay",
                    "action_submit_cancel_payment", "action_submit_contact_change",
                    "action_request_hardship", "action_submit_lease_extension",
                    "action_send_password_reset", "action_send_username", "action_send_statement",
                    "action_email_payoff_quote"]


@pytest.mark.parametrize("action", CHANGING_ACTIONS)
def test_a_forged_tracker_cannot_make_a_change_or_send_anything(running: RunningStack, action: str) -> None:
    """A state-changing action called with its token and every slot filled and `verified`:
    nothing is paid, enrolled, cancelled, changed, requested or emailed."""
    before, sent = snapshot(running), outbox_count(running)
    tracker = forged_tracker(new_sender("change"), "affirm", {
        "payment_amount": "5000.00", "payment_date": "2026-12-20", "payment_source": "1",
        "payment_confirmed": True, "autopay_source": "1", "autopay_day": "5",
        "autopay_confirmed": True, "payment_to_cancel": "1", "cancel_payment_confirmed": True,
        "contact_field": "email", "contact_value": "attacker@evil.example", "contact_code": "123456",
        "hardship_option": "extension", "extension_months": 2, "extension_confirmed": True,
        "requested_slot": None})
    status, body = webhook(running, action, tracker, f"?token={running.env['ACTION_SERVER_TOKEN']}")
    assert status == 200, body
    assert_nothing_disclosed(body)
    assert "attacker@evil.example" not in body
    assert snapshot(running) == before and outbox_count(running) == sent


def test_a_forged_tracker_for_a_verified_rest_conversation_on_another_channel_gets_nothing(
        running: RunningStack) -> None:
    """Verification counts on the channel it happened on: the same id claimed as `socketio`."""
    sender = new_sender("chan")
    tracker = forged_tracker(sender)
    tracker["events"][-1]["input_channel"] = "socketio"
    status, body = webhook(running, "action_check_balance", tracker,
                           f"?token={running.env['ACTION_SERVER_TOKEN']}")
    assert status == 200 and "utter_need_verification" in body
    assert verified_sessions(running, sender) == []


# --- Rasa's HTTP API without its token -----------------------------------------------------------

API_CALLS = {
    "read-tracker": ("GET", "/conversations/{c}/tracker", None),
    "read-all-events": ("GET", "/conversations/{c}/tracker?include_events=ALL", None),
    "read-story": ("GET", "/conversations/{c}/story", None),
    "append-verified-slot": ("POST", "/conversations/{c}/tracker/events",
                             {"event": "slot", "name": "verified", "value": True}),
    "replace-events": ("PUT", "/conversations/{c}/tracker/events",
                       [{"event": "slot", "name": "verified", "value": True}]),
    "execute-action": ("POST", "/conversations/{c}/execute", {"name": "action_check_balance"}),
    "trigger-intent": ("POST", "/conversations/{c}/trigger_intent",
                       {"name": "EXTERNAL_handoff_resolved", "entities": {}}),
    "inject-message": ("POST", "/conversations/{c}/messages",
                       {"text": "what's my balance", "sender": "user"}),
    "predict": ("POST", "/conversations/{c}/predict", None),
    "swap-model": ("PUT", "/model", {"model_file": "/tmp/evil.tar.gz"}),
    "unload-model": ("DELETE", "/model", None),
    "train": ("POST", "/model/train", {"domain": "x"}),
    "parse": ("POST", "/model/parse", {"text": "my ssn is 123-45-6789"}),
    "domain": ("GET", "/domain", None),
    "status": ("GET", "/status", None),
}


@pytest.fixture(scope="module")
def victim(embedded_stack: RunningStack) -> str:
    """A REST conversation part-way through verification, whose events an attacker wants."""
    sender = new_sender("victim")
    say(embedded_stack, sender, "what's my balance")
    say(embedded_stack, sender, "7301004821")
    return sender


@pytest.mark.parametrize("call", API_CALLS.keys())
@pytest.mark.parametrize("credential", ["none", "wrong-token", "forged-jwt"])
def test_rasas_http_api_refuses_every_call_without_its_token(
        running: RunningStack, victim: str, call: str, credential: str) -> None:
    method, path, payload = API_CALLS[call]
    path = path.format(c=victim)
    headers = {"Content-Type": "application/json"}
    if credential == "wrong-token":
        path += ("&" if "?" in path else "?") + "token=not-the-token"
    elif credential == "forged-jwt":  # alg none, admin role
        headers["Authorization"] = ("Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                                    "eyJ1c2VyIjp7InVzZXJuYW1lIjoiYWRtaW4iLCJyb2xlIjoiYWRtaW4ifX0.")
    events_before = tracker_events(running, victim)
    status, _, raw = http(running, "rasa", path, method,
                          json.dumps(payload).encode() if payload is not None else None, headers)
    assert status in (401, 403), (status, raw[:300])
    assert b"7301004821" not in raw and b"events" not in raw and b"intent" not in raw
    assert tracker_events(running, victim) == events_before  # nothing written


def test_the_model_is_unchanged_after_the_unauthenticated_swap_attempts(running: RunningStack) -> None:
    status, _, raw = http(running, "rasa", f"/status?token={running.env['RASA_API_TOKEN']}")
    assert status == 200 and json.loads(raw)["model_file"].endswith("meridian.tar.gz")
    assert "HTTP" not in say(running, new_sender("alive"), "what are your hours?")
