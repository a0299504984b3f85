"""Sending the customer's messages and collecting the assistant's replies.

REST: one unique sender per scenario, each from its own loopback address (127.x.y.z), so the
per-client limit on failed verifications (10 per address) counts one scenario, not the suite.
SMS: the form Twilio posts, signed with the auth token, from the customer copy's mobile; the
replies are what the Twilio fake was asked to send to that number during the call (Rasa's Twilio
channel sends them before it answers the webhook).
"""
from __future__ import annotations

import http.client
import itertools
import json
import secrets
import urllib.parse
from typing import Protocol

from tests.e2e.platform_fakes import FakeTwilio, twilio_signature

TIMEOUT = 120
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "eval-twilio-auth-token-0123456789"
TWILIO_NUMBER = "+15005550006"
_addresses = itertools.count(1)


class ChannelError(RuntimeError):
    """The channel refused a message or did not answer as it should."""


class Channel(Protocol):
    name: str
    conversation_id: str

    def send(self, text: str) -> list[str]: ...


def _post(port: int, path: str, body: bytes, headers: dict[str, str],
          source: str = "127.0.0.1") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT,
                                            source_address=(source, 0))
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def loopback_address(number: int) -> str:
    """The number-th address of 127.0.0.0/8 after 127.0.1.0 (Linux answers on all of them)."""
    number += 256
    return f"127.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255 or 1}"


class RestChannel:
    name = "rest"

    def __init__(self, port: int, scenario_id: str, gateway_token: str = "") -> None:
        self.port, self.gateway_token = port, gateway_token
        self.conversation_id = f"eval-{scenario_id}"  # the tracker store is new each run
        self.source = loopback_address(next(_addresses))

    def send(self, text: str) -> list[str]:
        headers = {"Content-Type": "application/json"}
        if self.gateway_token:
            headers["Authorization"] = f"Bearer {self.gateway_token}"
        body = json.dumps({"sender": self.conversation_id, "message": text}).encode()
        status, raw = _post(self.port, "/webhooks/rest/webhook", body, headers, self.source)
        if status != 200:
            raise ChannelError(f"REST answered {status}: {raw[:200]!r}")
        return [m["text"] for m in json.loads(raw) if m.get("text")]


class SmsChannel:
    name = "sms"

    def __init__(self, port: int, twilio: FakeTwilio, mobile: str) -> None:
        self.port, self.twilio, self.mobile = port, twilio, mobile
        self.conversation_id = mobile  # Rasa's Twilio channel names the conversation by `From`

    def send(self, text: str) -> list[str]:
        path = "/webhooks/twilio/webhook"
        url = f"http://127.0.0.1:{self.port}{path}"
        sid = lambda: "SM" + secrets.token_hex(16)  # noqa: E731
        form = {"ToCountry": "US", "SmsMessageSid": sid(), "NumMedia": "0", "SmsSid": sid(),
                "SmsStatus": "received", "Body": text, "To": TWILIO_NUMBER, "NumSegments": "1",
                "MessageSid": sid(), "AccountSid": TWILIO_SID, "From": self.mobile,
                "ApiVersion": "2010-04-01"}
        before = len(self.twilio.bodies_to(self.mobile))
        status, raw = _post(self.port, path, urllib.parse.urlencode(form).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, form),
            "User-Agent": "TwilioProxy/1.1"})
        if status not in (200, 204):
            raise ChannelError(f"the Twilio webhook answered {status}: {raw[:200]!r}")
        return self.twilio.bodies_to(self.mobile)[before:]


def twilio_env(twilio: FakeTwilio) -> dict[str, str]:
    """The stack's variables for the Twilio SMS channel, talking to the fake."""
    return {"TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": twilio.url}
