"""Outbox messages to Telegram chats (reminders to customers who chose Telegram), through the
Bot API's sendMessage, as texts go through Twilio (`notify.deliver_pending`).

What Telegram answers decides what happens next, as for Twilio: `ok` means taken; 429 and 5xx,
or no connection, mean not taken (tried again later); another refusal (a chat that blocked the
bot) is for good; a timeout leaves it unknown, so it is not tried again.
`TELEGRAM_API_BASE_URL` points it at a stand-in (the tests' fake); unset is the real API.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from autofinance.adapters.notify import DeliveryDeferred, DeliveryRefused, readable_body
from autofinance.adapters.store.models import OutboxMessage
from autofinance.config import Settings

TELEGRAM_API = "https://api.telegram.org"
TIMEOUT_SECONDS = 10


class TelegramSender:
    """Delivers outbox messages of the `telegram` channel to the chat id in `to`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        base = (settings.telegram_api_base_url or TELEGRAM_API).rstrip("/")
        self._url = f"{base}/bot{settings.telegram_access_token.reveal()}/sendMessage"

    @staticmethod
    def configured(settings: Settings) -> bool:
        return bool(settings.telegram_access_token.reveal())

    def deliver(self, message: OutboxMessage) -> None:
        body = readable_body(message, self._settings.secret_pepper)
        if body is None:
            raise DeliveryRefused(f"outbox message {message.id} is sealed under another pepper")
        form = urllib.parse.urlencode({"chat_id": message.to, "text": body}).encode()
        request = urllib.request.Request(self._url, data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as error:
            why = f"Telegram {error.code}: {_description(error)}"
            if error.code == 429 or error.code >= 500:
                raise DeliveryDeferred(why) from error
            raise DeliveryRefused(why) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, (ConnectionRefusedError, socket.gaierror)):
                raise DeliveryDeferred(f"Telegram unreachable: {error.reason}") from error
            raise


def _description(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read() or b"{}").get("description", ""))
    except (ValueError, OSError):
        return error.reason or ""
