"""Telegram and Twilio SMS end to end, against local fakes of their platform APIs.

The stack runs with every messaging channel's variables set, Telegram's and Twilio's API base
URLs pointing at fakes started here. A customer's message comes in as the platform would post it
(a Telegram update, a Twilio form with its signature); the assistant's reply, and a support
agent's reply after a hand-off through the console, must reach the fake API for that chat.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, AsyncIterator, Iterator, Optional

import aiohttp
import pytest

from autofinance.demo.seed import DEMO_AGENT
from tests.e2e.conftest import RunningStack, demo_agent_code, start_stack
from tests.e2e.platform_fakes import FakeTelegram, FakeTwilio, twilio_signature

pytestmark = pytest.mark.e2e

TELEGRAM_TOKEN = "7012345678:AAF-fake-token-for-tests-0123456789ab"
TELEGRAM_BOT = "MeridianTestBot"
TELEGRAM_WEBHOOK = "https://bot.example.test/webhooks/telegram/webhook"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "fake-twilio-auth-token-0123456789"
TWILIO_NUMBER = "+15005550006"
HOURS = "Monday to Friday 8am–8pm"
_ids = itertools.count(int(time.time()) % 100000 * 1000)


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TELEGRAM_TOKEN, TELEGRAM_BOT).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def messaging_stack(tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram,
                    twilio: FakeTwilio) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("messaging")
    yield from start_stack(tmp, {
        "DATABASE_URL": f"sqlite:///{tmp / 'accounts.db'}",
        "TELEGRAM_ACCESS_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_BOT_NAME": TELEGRAM_BOT,
        "TELEGRAM_WEBHOOK_URL": TELEGRAM_WEBHOOK, "TELEGRAM_API_BASE_URL": telegram.url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE_URL": twilio.url,
        # configured, not exercised here: they must load next to the others
        "TWILIO_WHATSAPP_NUMBER": "+14155238886",
        "SLACK_BOT_TOKEN": "xoxb-0000-fake", "SLACK_SIGNING_SECRET": "fake-slack-signing-secret",
        "FACEBOOK_VERIFY": "fake-verify", "FACEBOOK_SECRET": "fake-app-secret",
        "FACEBOOK_PAGE_ACCESS_TOKEN": "fake-page-token",
    })


# --- the platforms' side ---------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


# The secret token Telegram sends with every update: what Rasa gave it with the webhook
# (rasa_ext.messaging.telegram_secret_token; the test below checks the fake was given this one).
TELEGRAM_SECRET = hmac.new(TELEGRAM_TOKEN.encode(), b"meridian-telegram-webhook",
                           hashlib.sha256).hexdigest()


def telegram_update(running: RunningStack, chat_id: int, text: str,
                    secret: Optional[str] = TELEGRAM_SECRET) -> tuple[int, str]:
    """Posts a Telegram update to the webhook, with the secret token Telegram would send."""
    update = {"update_id": next(_ids), "message": {
        "message_id": next(_ids),
        "from": {"id": chat_id, "is_bot": False, "first_name": "Test", "language_code": "en"},
        "chat": {"id": chat_id, "first_name": "Test", "type": "private"},
        "date": int(time.time()), "text": text}}
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return _post(running.url("rasa", "/webhooks/telegram/webhook"), json.dumps(update).encode(),
                 headers)


def telegram_says(running: RunningStack, chat_id: int, text: str) -> None:
    """Posts a Telegram update, as Telegram does to the registered webhook."""
    assert telegram_update(running, chat_id, text) == (200, "success")


def sms_says(running: RunningStack, sender: str, text: str) -> None:
    """Posts an incoming SMS, as Twilio does: a signed form."""
    url = running.url("rasa", "/webhooks/twilio/webhook")
    form = {"ToCountry": "US", "SmsMessageSid": f"SM{next(_ids):032x}", "NumMedia": "0",
            "SmsSid": f"SM{next(_ids):032x}", "SmsStatus": "received", "Body": text,
            "To": TWILIO_NUMBER, "NumSegments": "1", "MessageSid": f"SM{next(_ids):032x}",
            "AccountSid": TWILIO_SID, "From": sender, "ApiVersion": "2010-04-01"}
    status, _ = _post(url, urllib.parse.urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, form),
        "User-Agent": "TwilioProxy/1.1"})
    assert status == 204


# --- the support console -------------------------------------------------------------------


class Console:
    def __init__(self, running: RunningStack) -> None:
        self.base = running.url("web")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self) -> None:
        body = {"username": DEMO_AGENT["username"], "password": DEMO_AGENT["password"],
                "code": demo_agent_code()}
        async with self.http.post(f"{self.base}/console/api/session", json=body) as response:
            assert response.status == 200, await response.text()
            self.csrf = (await response.json())["csrf_token"]

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.request(method, f"{self.base}{path}", json=body,
                                     headers={"X-CSRF-Token": self.csrf}) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def take_over_and_reply(self, ticket_number: str, text: str) -> dict[str, Any]:
        queue = await self.call("GET", "/console/api/queue")
        ticket = next(t for t in queue["tickets"] if t["ticket_number"] == ticket_number)
        await self.call("POST", f"/console/api/tickets/{ticket_number}/claim")
        assert (await self.call("POST", f"/console/api/tickets/{ticket_number}/reply",
                                {"text": text}))["sent"] is True
        return ticket

    async def close(self) -> None:
        if self.csrf:  # signed out, so later tests find nobody on line
            async with self.http.delete(f"{self.base}/console/api/session",
                                        headers={"X-CSRF-Token": self.csrf}):
                pass
        await self.http.close()


@pytest.fixture
async def console(messaging_stack: RunningStack) -> AsyncIterator[Console]:
    console = Console(messaging_stack)
    try:
        yield console
    finally:
        await console.close()


def _ticket_number(text: str) -> str:
    found = re.search(r"\bticket (HT[0-9A-F]{8})\b", text)
    assert found, text
    return found.group(1)


# --- the tests -----------------------------------------------------------------------------


def test_only_configured_channels_load_and_no_secret_is_written(
    messaging_stack: RunningStack, telegram: FakeTelegram,
) -> None:
    for channel in ("telegram", "twilio", "twilio_whatsapp", "slack", "facebook"):
        assert messaging_stack.get("rasa", f"/webhooks/{channel}/")[0] == 200, channel
    # Rasa told "Telegram" where to post updates, once, at start-up
    webhooks = telegram.recorded(lambda r: r.path.lower().endswith("/setwebhook"))
    assert [r.form["url"] for r in webhooks] == [TELEGRAM_WEBHOOK]
    assert [r.form["secret_token"] for r in webhooks] == [TELEGRAM_SECRET]
    written = (messaging_stack.logs / f"credentials.{messaging_stack.env['RASA_PORT']}.yml").read_text()
    assert "${TWILIO_AUTH_TOKEN}" in written and "${TELEGRAM_ACCESS_TOKEN}" in written
    assert TWILIO_TOKEN not in written and TELEGRAM_TOKEN not in written


def test_a_telegram_update_without_the_webhooks_secret_token_is_refused(
    messaging_stack: RunningStack, telegram: FakeTelegram,
) -> None:
    """Forged updates would let anyone write as any chat, e.g. into a verified conversation."""
    chat = 770001
    assert telegram_update(messaging_stack, chat, "what are your hours?", secret=None)[0] == 403
    assert telegram_update(messaging_stack, chat, "what are your hours?", secret="x" * 64)[0] == 403
    time.sleep(1)
    assert telegram.messages_to(chat) == []  # nothing reached the assistant


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_rasas_telegram_set_webhook_route_is_refused_and_the_webhook_stays_as_registered(
    messaging_stack: RunningStack, telegram: FakeTelegram,
) -> None:
    """Rasa's /webhooks/telegram/set_webhook (GET or POST, no authentication) re-registered the
    webhook without the secret token: Telegram would stop sending it, and every real update
    would be refused, so one GET from anyone switched the channel off."""
    url = messaging_stack.url("rasa", "/webhooks/telegram/set_webhook")
    set_webhook = lambda r: r.path.lower().endswith("/setwebhook")  # noqa: E731
    before = telegram.recorded(set_webhook)
    assert _get(url) == 404
    assert _get(url + "/") == 404
    assert _post(url, b"", {})[0] == 404
    assert _post(url, b"{}", {"Content-Type": "application/json"})[0] == 404
    time.sleep(1)
    assert telegram.recorded(set_webhook) == before  # no second setWebhook reached "Telegram"
    assert [r.form["secret_token"] for r in before] == [TELEGRAM_SECRET]
    chat = next(_ids)
    telegram_says(messaging_stack, chat, "what are your hours?")  # real updates still go through
    assert any(HOURS in m["text"] for m in telegram.wait_for_text(chat, HOURS))


def test_telegram_answers_a_question_and_asks_an_unknown_sender_to_verify(
    messaging_stack: RunningStack, telegram: FakeTelegram,
) -> None:
    chat = next(_ids)
    telegram_says(messaging_stack, chat, "what are your hours?")
    assert any(HOURS in m["text"] for m in telegram.wait_for_text(chat, HOURS))

    telegram_says(messaging_stack, chat, "what's my balance")
    replies = " ".join(m["text"] for m in telegram.wait_for_text(chat, "account number"))
    assert "account number" in replies and "$" not in replies


def test_sms_answers_a_question_and_asks_an_unknown_sender_to_verify(
    messaging_stack: RunningStack, twilio: FakeTwilio,
) -> None:
    sender = f"+1555{next(_ids) % 10_000_000:07d}"
    sms_says(messaging_stack, sender, "what are your hours?")
    assert any(HOURS in body for body in twilio.wait_for_body(sender, HOURS))
    sent = twilio.recorded(lambda r: r.form.get("To") == sender)
    assert all(r.form["From"] == TWILIO_NUMBER for r in sent)

    sms_says(messaging_stack, sender, "what's my balance")
    replies = " ".join(twilio.wait_for_body(sender, "account number"))
    assert "account number" in replies and "$" not in replies


def test_an_sms_webhook_call_twilio_did_not_sign_is_refused_and_changes_nothing(
    messaging_stack: RunningStack, twilio: FakeTwilio,
) -> None:
    sender = f"+1555{next(_ids) % 10_000_000:07d}"
    url = messaging_stack.url("rasa", "/webhooks/twilio/webhook")
    form = {"From": sender, "To": TWILIO_NUMBER, "Body": "what are your hours?",
            "AccountSid": TWILIO_SID, "MessageSid": f"SM{next(_ids):032x}"}
    for signature in ("", twilio_signature("not-the-auth-token", url, form)):
        status, _ = _post(url, urllib.parse.urlencode(form).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
        assert status == 403
    sms_says(messaging_stack, sender, "what are your hours?")  # signed: answered
    bodies = twilio.wait_for_body(sender, HOURS)
    assert sum(HOURS in body for body in bodies) == 1  # once: the refused calls reached no one


async def test_an_agent_takes_over_a_telegram_chat_and_the_reply_reaches_telegram(
    messaging_stack: RunningStack, telegram: FakeTelegram, console: Console,
) -> None:
    chat = next(_ids)
    telegram_says(messaging_stack, chat, "talk to a person")
    asked = next(m for m in telegram.wait_for_text(chat, "ticket HT") if "ticket HT" in m["text"])
    assert "No one from our support team is available" in asked["text"]
    # buttons arrive as Telegram's inline keyboard, as Rasa's channel sends them
    keyboard = asked["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in keyboard for b in row] == ["Email me", "Call me back"]

    await console.sign_in()
    ticket = await console.take_over_and_reply(_ticket_number(asked["text"]),
                                               "Hi, this is Sam from Meridian. How can I help?")
    assert ticket["reason"] == "customer_request"
    telegram.wait_for_text(chat, "this is Sam from Meridian")
    assert telegram.messages_to(chat)[-1]["text"] == "Hi, this is Sam from Meridian. How can I help?"

    # the assistant is paused: the customer's next message is for the agent, not answered by it
    # (the webhook answers once the replies, if any, are sent)
    before = len(telegram.messages_to(chat))
    telegram_says(messaging_stack, chat, "my payment went out twice this month")
    assert len(telegram.messages_to(chat)) == before


async def test_an_agent_takes_over_an_sms_conversation_and_the_reply_reaches_twilio(
    messaging_stack: RunningStack, twilio: FakeTwilio, console: Console,
) -> None:
    sender = f"+1555{next(_ids) % 10_000_000:07d}"
    sms_says(messaging_stack, sender, "talk to a person")
    asked = " ".join(twilio.wait_for_body(sender, "ticket HT"))
    assert "No one from our support team is available" in asked

    await console.sign_in()
    await console.take_over_and_reply(_ticket_number(asked), "Hi, this is Sam. Texting you back now.")
    twilio.wait_for_body(sender, "Texting you back now")
    last = twilio.recorded(lambda r: r.form.get("To") == sender)[-1]
    assert (last.form["Body"], last.form["From"]) == ("Hi, this is Sam. Texting you back now.",
                                                      TWILIO_NUMBER)

    before = len(twilio.bodies_to(sender))
    sms_says(messaging_stack, sender, "my payment went out twice this month")
    assert len(twilio.bodies_to(sender)) == before  # paused: the agent answers, not the assistant


def test_a_reply_rasa_is_given_for_an_sms_conversation_reaches_twilio(
    messaging_stack: RunningStack, twilio: FakeTwilio,
) -> None:
    """The console's call (output_channel=latest) made with the conversation id as it is: the
    Twilio channel's output goes to the configured API, from the configured number."""
    sender = f"+1555{next(_ids) % 10_000_000:07d}"
    sms_says(messaging_stack, sender, "talk to a person")
    twilio.wait_for_body(sender, "ticket HT")
    event = {"event": "bot", "text": "Hi, this is Sam from Meridian.",
             "metadata": {"support_agent": "Sam"}}
    query = urllib.parse.urlencode({"output_channel": "latest", "execute_side_effects": "true",
                                    "token": messaging_stack.env["RASA_API_TOKEN"]})
    status, _ = _post(messaging_stack.url("rasa", f"/conversations/{sender}/tracker/events?{query}"),
                      json.dumps(event).encode(), {"Content-Type": "application/json"})
    assert status == 200
    twilio.wait_for_body(sender, "this is Sam")
    last = twilio.recorded(lambda r: r.form.get("To") == sender)[-1]
    assert (last.form["Body"], last.form["From"]) == ("Hi, this is Sam from Meridian.", TWILIO_NUMBER)
    assert last.headers["Authorization"].startswith("Basic ")  # the account's credentials

