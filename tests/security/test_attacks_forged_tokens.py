"""Forged tokens: portal JWTs the widget presents (alg none, wrong key, expired, wrong audience or
issuer, algorithm switched, another customer's id with a broken signature), a valid token used
where it does not belong, and forged portal tokens sent straight to the action server."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
import socketio

from autofinance.adapters.portal_tokens import AUDIENCE, ISSUER, issue_token
from autofinance.config import Settings
from tests.e2e.conftest import RunningStack
from tests.e2e.widget import Widget, widget_origin
from tests.security.test_attacks_support import (
    assert_nothing_disclosed, customer_id_of, http, new_sender, say, verified_sessions,
)

pytestmark = pytest.mark.e2e


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def portal_secret(running: RunningStack) -> str:
    return Settings.from_env(running.env).portal_jwt_secret.reveal()


def claims(customer: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": str(customer), "name": "Maria", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def forged(kind: str, maria: int, secret: str) -> str:
    if kind == "alg-none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(maria))}."
    if kind == "alg-none-with-signature":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(maria))}.c2lnbmF0dXJl"
    if kind == "wrong-key":
        return jwt.encode(claims(maria), "an-attackers-guess-of-the-portal-secret-xx", algorithm="HS256")
    if kind == "expired":
        now = int(time.time())
        return jwt.encode(claims(maria, iat=now - 3600, exp=now - 60), secret, algorithm="HS256")
    if kind == "wrong-audience":
        return jwt.encode(claims(maria, aud="some-other-app"), secret, algorithm="HS256")
    if kind == "wrong-issuer":
        return jwt.encode(claims(maria, iss="evil-portal"), secret, algorithm="HS256")
    if kind == "no-expiry":
        return jwt.encode(claims(maria, exp=None), secret, algorithm="HS256")
    if kind == "algorithm-switched":
        return jwt.encode(claims(maria), secret + "x" * 30, algorithm="HS512")
    if kind == "payload-swapped":  # a genuine token for customer 2 with Maria's id pasted in
        genuine = jwt.encode(claims(maria + 1), secret, algorithm="HS256")
        head, _, sig = genuine.split(".")
        return f"{head}.{_b64(claims(maria))}.{sig}"
    if kind == "not-a-jwt":
        return "portal-" + str(maria)
    raise ValueError(kind)


KINDS = ["alg-none", "alg-none-with-signature", "wrong-key", "expired", "wrong-audience",
         "wrong-issuer", "no-expiry", "algorithm-switched", "payload-swapped", "not-a-jwt"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_forged_portal_token_cannot_open_the_widget_as_a_customer(
        running: RunningStack, kind: str) -> None:
    """The widget connects with a forged portal JWT naming Maria."""
    maria = customer_id_of(running, "7301004821")
    token = forged(kind, maria, portal_secret(running))
    sessions = verified_sessions(running, f"portal-{maria}")
    widget = Widget(running, widget_origin(running))
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await widget.open(token=token)
        assert not widget.replies.qsize()  # no greeting, no account data
    finally:
        await widget.close()
    assert verified_sessions(running, f"portal-{maria}") == sessions  # no portal session opened


async def test_a_portal_token_that_expires_mid_conversation_stops_showing_account_data(
        running: RunningStack) -> None:
    """A token stolen from a page, good for 3 more seconds: once expired, the same socket gets
    no account data (the token is checked again on every account action)."""
    james = customer_id_of(running, "7301007734")
    token = issue_token(james, "James", Settings.from_env(running.env), lifetime=timedelta(seconds=3))
    widget = Widget(running, widget_origin(running))
    try:
        await widget.open(token=token)
        await asyncio.sleep(4)
        reply = await widget.say("what's my balance")
        assert_nothing_disclosed(reply)
        assert "account number" in reply.lower()
    finally:
        await widget.close()


async def test_a_valid_portal_token_in_an_anonymous_widgets_metadata_is_dropped(
        running: RunningStack) -> None:
    """A stolen, still valid token put in the message metadata of an anonymous connection."""
    maria = customer_id_of(running, "7301004821")
    token = issue_token(maria, "Maria", Settings.from_env(running.env))
    widget = Widget(running, widget_origin(running))
    try:
        await widget.open()
        reply = await widget.say("what's my balance", metadata={"portal_token": token,
                                                                "customer_id": maria})
        assert_nothing_disclosed(reply)
    finally:
        await widget.close()


@pytest.mark.parametrize("sender_form", ["PORTAL-{id}", "portal_{id}", "portal-{id}-x", "p0rtal-{id}"])
def test_a_valid_portal_token_replayed_on_rest_under_a_look_alike_sender_gets_nothing(
        running: RunningStack, sender_form: str) -> None:
    """REST refuses `portal-<id>`; look-alike senders carrying the stolen token get nothing."""
    maria = customer_id_of(running, "7301004821")
    token = issue_token(maria, "Maria", Settings.from_env(running.env))
    sender = sender_form.format(id=maria) + "-" + new_sender("r")[-8:]
    answers = say(running, sender, "what's my balance", metadata={"portal_token": token})
    assert_nothing_disclosed(answers)
    assert verified_sessions(running, sender) == []


async def test_a_signed_token_for_a_missing_customer_discloses_nothing(running: RunningStack) -> None:
    """A correctly signed token for customer 999999: no data, no greeting by name."""
    widget = Widget(running, widget_origin(running))
    try:
        token = issue_token(999_999, "Ghost", Settings.from_env(running.env))
        try:
            await widget.open(token=token)
        except socketio.exceptions.ConnectionError:
            return  # refused at connect: nothing to disclose
        reply = await widget.say("what's my balance")
        assert_nothing_disclosed(reply, "Ghost")
        assert verified_sessions(running, "portal-999999") == []
    finally:
        await widget.close()


def action_call(running: RunningStack, sender: str, metadata: dict[str, Any],
                action: str = "action_check_balance") -> tuple[int, str]:
    tracker = {"sender_id": sender, "slots": {"verified": True}, "paused": False,
               "latest_message": {"intent": {"name": "check_balance", "confidence": 1.0},
                                  "entities": [], "text": "what's my balance", "metadata": metadata},
               "events": [{"event": "user", "text": "what's my balance", "input_channel": "socketio",
                           "metadata": metadata, "parse_data": {"intent": {"name": "check_balance"}}}],
               "active_loop": {}, "latest_action_name": "action_listen", "followup_action": None,
               "latest_input_channel": "socketio"}
    body = json.dumps({"next_action": action, "sender_id": sender, "tracker": tracker,
                       "domain": {}, "version": "3.6.21"}).encode()
    status, _, raw = http(running, "actions", f"/webhook?token={running.env['ACTION_SERVER_TOKEN']}",
                          "POST", body, {"Content-Type": "application/json"})
    return status, raw.decode(errors="replace")


@pytest.mark.parametrize("kind", ["alg-none", "wrong-key", "expired", "payload-swapped"])
def test_a_forged_portal_token_in_a_forged_tracker_gets_no_balance_from_the_action_server(
        running: RunningStack, kind: str) -> None:
    """Past Rasa, straight to the action server (with its token: an insider or a leak), the
    tracker claims `portal-<Maria>` and carries a forged portal token."""
    maria = customer_id_of(running, "7301004821")
    token = forged(kind, maria, portal_secret(running))
    status, body = action_call(running, f"portal-{maria}", {"portal_token": token})
    assert status == 200, body
    assert "utter_need_verification" in body
    assert_nothing_disclosed(body)


def test_a_genuine_portal_token_for_another_customer_gets_no_balance_for_this_one(
        running: RunningStack) -> None:
    """James's genuine token carried in a tracker that claims Maria's portal conversation."""
    maria, james = customer_id_of(running, "7301004821"), customer_id_of(running, "7301007734")
    token = issue_token(james, "James", Settings.from_env(running.env))
    status, body = action_call(running, f"portal-{maria}", {"portal_token": token})
    assert status == 200 and "utter_need_verification" in body
    assert_nothing_disclosed(body)
