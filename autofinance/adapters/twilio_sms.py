"""Texts through Twilio's Messages API, as emails go through SMTP (`notify.deliver_pending`).

One POST per message to `/2010-04-01/Accounts/{sid}/Messages.json` with the account's basic
auth, from `TWILIO_NUMBER`. What Twilio answers decides what happens next: 201 means taken;
429 and 5xx, or no connection at all, mean not taken (tried again later); any other 4xx is a
refusal for good (a number that cannot receive texts); a timeout or a reply cut short leaves it
unknown whether the text went, so it is not tried again (never a second copy of a code).
`TWILIO_API_BASE_URL` points it at a stand-in (the tests' fake); unset is the real API.
"""
from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from autofinance.adapters.notify import DeliveryDeferred, DeliveryRefused, readable_body
from autofinance.adapters.store.models import OutboxMessage
from autofinance.config import Settings

TWILIO_API = "https://api.twilio.com"
TIMEOUT_SECONDS = 10


class TwilioSmsSender:
    """Delivers outbox texts through Twilio: SMS from TWILIO_NUMBER, or WhatsApp messages
    (`whatsapp=True`, to `whatsapp:+1...`) from TWILIO_WHATSAPP_NUMBER."""

    def __init__(self, settings: Settings, whatsapp: bool = False) -> None:
        self._settings = settings
        number = settings.twilio_whatsapp_number if whatsapp else settings.twilio_number
        if whatsapp and not number.startswith("whatsapp:"):
            number = f"whatsapp:{number}"
        self._from = number
        base = (settings.twilio_api_base_url or TWILIO_API).rstrip("/")
        sid = urllib.parse.quote(settings.twilio_account_sid, safe="")
        self._url = f"{base}/2010-04-01/Accounts/{sid}/Messages.json"
        credentials = f"{settings.twilio_account_sid}:{settings.twilio_auth_token.reveal()}"
        self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()

    @staticmethod
    def configured(settings: Settings, whatsapp: bool = False) -> bool:
        return bool(settings.twilio_account_sid and settings.twilio_auth_token.reveal()
                    and (settings.twilio_whatsapp_number if whatsapp else settings.twilio_number))

    def deliver(self, message: OutboxMessage) -> None:
        body = readable_body(message, self._settings.secret_pepper)
        if body is None:  # never send the sealed text itself
            raise DeliveryRefused(f"outbox message {message.id} is sealed under another pepper")
        form = urllib.parse.urlencode({"To": message.to, "From": self._from, "Body": body}).encode()
        request = urllib.request.Request(self._url, data=form, method="POST", headers={
            "Authorization": self._authorization, "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as error:
            why = f"Twilio {error.code}: {_twilio_message(error)}"
            if error.code == 429 or error.code >= 500:
                raise DeliveryDeferred(why) from error
            raise DeliveryRefused(why) from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, (ConnectionRefusedError, socket.gaierror)):
                raise DeliveryDeferred(f"Twilio unreachable: {error.reason}") from error
            raise  # a timeout or a connection cut short: whether it went is unknown


def _twilio_message(error: urllib.error.HTTPError) -> str:
    """Twilio's own reason ({"code": 21211, "message": "The 'To' number ... is not valid"})."""
    try:
        reply = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return error.reason or ""
    return f"{reply.get('code', '')} {reply.get('message', '')}".strip()
