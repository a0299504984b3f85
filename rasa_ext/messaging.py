"""Rasa's Telegram, Twilio, Slack and Facebook Messenger channels, behind our message rules.

Everything a customer sees is Rasa's own channel behaviour (webhook paths, payload parsing,
buttons as Telegram keyboards or as numbered SMS lines). What differs:

- Every channel here passes customers' messages through `rasa_ext.limits.guarded` (as REST and
  the widget do): a message over the length limit is answered politely and never reaches Rasa
  (Slack allows 40,000 characters), and a typed `/EXTERNAL_...` intent reaches it as plain text.
  `SlackInput` and `FacebookInput` are Rasa's channels with only that added (names `slack` and
  `facebook`, webhooks /webhooks/slack/webhook and /webhooks/facebook/webhook, as Rasa's).
- `api_base_url` in the credentials (empty or absent: the real host) sends every call to the
  platform's API there instead, for the tests' local fakes of api.telegram.org / api.twilio.com;
  `get_output_channel()` uses it too, so a support agent's reply (the console posts it with
  `output_channel=latest`) goes to the same place as the assistant's.
- Telegram: Rasa 3.6 sets the webhook inside `get_output_channel()` with `asyncio.run`, which
  fails when called on the running server (as `output_channel=latest` does), and leaves the
  temporary client session open. Here the webhook is set once, at start-up (as Rasa does, a
  refusal by Telegram still stops Rasa), with a secret token that every update must carry, and
  one output channel serves the server's loop. Rasa's unauthenticated
  /webhooks/telegram/set_webhook route (which re-registers the webhook without the secret token,
  so every real update would then be refused) answers 404.
- Twilio: incoming webhook calls must carry a valid `X-Twilio-Signature`.
- Keywords (rasa_ext/text_replies.py): STOP, HELP and START on SMS, and the replies a
  reminder invites ("pay now", "paid", "call me") on SMS, WhatsApp and Telegram.
- `TwilioWhatsAppInput`: Rasa's Twilio channel under its own name (webhook
  /webhooks/twilio_whatsapp/webhook), so SMS and WhatsApp can run side by side; its sender
  number gets the `whatsapp:` prefix Twilio needs if it lacks one.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import urlparse, urlunparse

from aiogram import Bot
from aiogram.bot.api import TELEGRAM_PRODUCTION, TelegramAPIServer
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.facebook import FacebookInput as RasaFacebookInput
from rasa.core.channels.slack import SlackInput as RasaSlackInput
from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput as RasaTelegramOutput
from rasa.core.channels.twilio import TwilioInput as RasaTwilioInput
from rasa.core.channels.twilio import TwilioOutput as RasaTwilioOutput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from rasa_ext.limits import guarded
from rasa_ext.text_replies import with_keywords

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WHATSAPP_PREFIX = "whatsapp:"


logger = logging.getLogger(__name__)


def _base_url(credentials: Dict[Text, Any]) -> Optional[Text]:
    value = str(credentials.get("api_base_url") or "").strip()
    return value.rstrip("/") or None


# --- Telegram ------------------------------------------------------------------------------


class TelegramOutput(RasaTelegramOutput):
    """Rasa's Telegram output (an aiogram `Bot`), talking to `api_base_url` when given."""

    def __init__(self, access_token: Optional[Text], api_base_url: Optional[Text] = None) -> None:
        server = TelegramAPIServer.from_base(api_base_url) if api_base_url else TELEGRAM_PRODUCTION
        Bot.__init__(self, access_token, server=server)
        self.api_base_url = api_base_url


class TelegramInput(RasaTelegramInput):
    """Rasa's Telegram channel (name `telegram`); credentials as Rasa's plus `api_base_url`."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(credentials.get("access_token"), credentials.get("verify"),
                   credentials.get("webhook_url"), api_base_url=_base_url(credentials))

    def __init__(self, access_token: Optional[Text], verify: Optional[Text],
                 webhook_url: Optional[Text], debug_mode: bool = True,
                 api_base_url: Optional[Text] = None) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode)
        self.api_base_url = api_base_url
        self._webhook_set = False
        self._output: Optional[TelegramOutput] = None

    def get_output_channel(self) -> TelegramOutput:
        """The channel's one output (its HTTP session opens on first use, on the server's loop).

        The first call happens while Rasa registers the channel, before the server runs: it
        tells Telegram the webhook URL, as Rasa's channel does, and fails Rasa's start if
        Telegram refuses. Calls on the running server (an agent's reply) only return the output.
        """
        if not self._webhook_set and not _loop_running():
            try:
                asyncio.run(self._set_webhook())
            except TelegramAPIError as error:
                raise RasaException("Failed to set channel webhook: " + str(error)) from error
            self._webhook_set = True
        if self._output is None:
            self._output = TelegramOutput(self.access_token, self.api_base_url)
        return self._output

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's webhook, behind the message rules every channel of ours applies (length,
        no server-only EXTERNAL_ intents), refusing updates that do not carry the secret token
        Telegram was given with the webhook (Rasa 3.6 checks nothing: anyone could post an
        update as any chat and continue that customer's verified conversation)."""
        webhook = super().blueprint(guarded(with_keywords(on_new_message, sms=False)))
        expected = telegram_secret_token(self.access_token or "")

        @webhook.middleware("request")
        async def sent_by_telegram(request: Request) -> Optional[HTTPResponse]:
            if _is_set_webhook_route(request):
                # Rasa's route (GET or POST, no authentication) would re-register the webhook
                # without our secret token: Telegram would stop sending it and every real
                # update would be refused. The webhook is set at start-up only.
                logger.warning("refused a call to Rasa's Telegram set_webhook route")
                return response.text("", status=404)
            if request.method != "POST":
                return None
            given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                logger.warning("refused a Telegram webhook call without the webhook's secret token")
                return response.text("", status=403)
            return None

        return webhook

    async def _set_webhook(self) -> None:
        """Tells Telegram the webhook and the secret token to send with every update (aiogram
        2.15 predates `secret_token`, so the Bot API method is called directly)."""
        bot = TelegramOutput(self.access_token, self.api_base_url)
        try:
            await bot.request("setWebhook", {
                "url": self.webhook_url,
                "secret_token": telegram_secret_token(self.access_token or "")})
        finally:
            await bot.session.close()


def _is_set_webhook_route(request: Request) -> bool:
    """Whether `request` is for Rasa's /webhooks/telegram/set_webhook route."""
    return request.path.rstrip("/").endswith("/set_webhook")


def telegram_secret_token(access_token: str) -> str:
    """The webhook's secret token, derived from the bot's token (so every replica agrees and no
    other setting is needed); Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -."""
    return hmac.new(access_token.encode(), b"meridian-telegram-webhook", hashlib.sha256).hexdigest()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# --- Twilio (SMS) and Twilio WhatsApp ------------------------------------------------------


class TwilioOutput(RasaTwilioOutput):
    """Rasa's Twilio output (a twilio `Client`), talking to `api_base_url` when given."""

    def __init__(self, account_sid: Optional[Text], auth_token: Optional[Text],
                 twilio_number: Optional[Text], api_base_url: Optional[Text] = None) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        self.api_base_url = api_base_url

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        """One message: the text, then the choices as numbered lines ("1. Monthly payment
        $452.18"); the customer answers with the number (rasa_ext/references.py). Rasa's own
        sends each button as a message of its own with its payload, and empties the button dicts
        it was given, which are also the ones stored in the conversation: the numbers could not
        be read back."""
        lines = [text, *(f"{number}. {button.get('title', '')}"
                         for number, button in enumerate(buttons, start=1))]
        await self.send_text_message(recipient_id, "\n".join(lines), **kwargs)

    def get_hostname(self, uri: str) -> str:
        """Every API URL (https://api.twilio.com/2010-04-01/...) moved to `api_base_url`."""
        uri = super().get_hostname(uri)
        if not self.api_base_url:
            return uri
        base, parsed = urlparse(self.api_base_url), urlparse(uri)
        return urlunparse(parsed._replace(scheme=base.scheme, netloc=base.netloc,
                                          path=base.path.rstrip("/") + parsed.path))


class TwilioInput(RasaTwilioInput):
    """Rasa's Twilio SMS channel (name `twilio`); credentials as Rasa's plus `api_base_url`."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(credentials.get("account_sid"), credentials.get("auth_token"),
                   credentials.get("twilio_number"), api_base_url=_base_url(credentials))

    def __init__(self, account_sid: Optional[Text], auth_token: Optional[Text],
                 twilio_number: Optional[Text], debug_mode: bool = True,
                 api_base_url: Optional[Text] = None) -> None:
        super().__init__(account_sid, auth_token, twilio_number, debug_mode)
        self.api_base_url = api_base_url

    def get_output_channel(self) -> TwilioOutput:
        return TwilioOutput(self.account_sid, self.auth_token, self.twilio_number,
                            self.api_base_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's webhook, refusing calls that Twilio did not sign (Rasa 3.6 checks nothing):
        unsigned, anyone could write as any phone number, e.g. confirm a payment in a customer's
        verified conversation."""
        # length, no typed EXTERNAL_ intents; then the keywords (STOP, HELP, START on SMS only)
        keywords = with_keywords(on_new_message, sms=self.name() == "twilio")
        webhook = super().blueprint(guarded(keywords))
        validator = RequestValidator(self.auth_token or "")

        @webhook.middleware("request")
        async def signed_by_twilio(request: Request) -> Optional[HTTPResponse]:
            if request.method != "POST":
                return None
            params = {key: values[0] for key, values in request.form.items()}
            if not validator.validate(_requested_url(request), params,
                                      request.headers.get("X-Twilio-Signature", "")):
                logger.warning("refused a Twilio webhook call without a valid signature")
                return response.text("", status=403)
            return None

        return webhook


def _requested_url(request: Request) -> str:
    """The URL Twilio called (and signed), also behind a proxy that forwards scheme and host."""
    scheme = request.headers.get("X-Forwarded-Proto") or request.scheme
    host = request.headers.get("X-Forwarded-Host") or request.host
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{scheme}://{host}{request.path}{query}"


class TwilioWhatsAppInput(TwilioInput):
    """Twilio's WhatsApp sender on its own webhook, /webhooks/twilio_whatsapp/webhook.

    Twilio posts WhatsApp messages like SMS ones, with `From: whatsapp:+1...`; Rasa's channel
    replies to that address, from `twilio_number`, which must be `whatsapp:+1...` too.
    """

    @classmethod
    def name(cls) -> Text:
        return "twilio_whatsapp"

    def __init__(self, account_sid: Optional[Text], auth_token: Optional[Text],
                 twilio_number: Optional[Text], debug_mode: bool = True,
                 api_base_url: Optional[Text] = None) -> None:
        number = (twilio_number or "").strip()
        if number and not number.startswith(WHATSAPP_PREFIX):
            number = WHATSAPP_PREFIX + number
        super().__init__(account_sid, auth_token, number or None, debug_mode, api_base_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        webhook.name = "twilio_whatsapp_webhook"  # Sanic wants blueprint names unique
        return webhook


# --- Slack and Facebook Messenger ------------------------------------------------------------


class SlackInput(RasaSlackInput):
    """Rasa's Slack channel (name `slack`, /webhooks/slack/webhook; credentials as Rasa's), its
    messages behind the message rules every channel of ours applies (length, no server-only
    EXTERNAL_ intents). Requests are still checked with the signing secret, as in Rasa."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(guarded(on_new_message))


class FacebookInput(RasaFacebookInput):
    """Rasa's Facebook Messenger channel (name `facebook`, /webhooks/facebook/webhook;
    credentials as Rasa's), its messages behind the message rules every channel of ours applies
    (length, no server-only EXTERNAL_ intents). Requests are still checked with the app secret,
    as in Rasa."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(guarded(on_new_message))
