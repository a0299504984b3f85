"""Local stand-ins for the Telegram Bot API and Twilio's Messages API, recording every request.

Each runs an aiohttp server on a free port in a thread of its own (so it answers while a test
blocks on the stack), answers the calls Rasa's channels make with real-shaped responses, and
refuses calls with the wrong token or credentials, as the platforms do.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


class FakePlatform:
    """An aiohttp app in a background thread; `requests` is everything it was sent, in order."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: Optional[web.AppRunner] = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> "FakePlatform":
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]

        async def serve() -> None:
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        self._thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        with self._lock:
            self.requests.append(Recorded(request.method, request.path, dict(request.headers), form))
        return await handler(request)

    def recorded(self, check: Callable[[Recorded], bool] = lambda _: True) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if check(r)]

    def wait_for(self, check: Callable[[Recorded], bool], count: int = 1,
                 timeout: float = 30) -> list[Recorded]:
        """The recorded requests passing `check`, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.recorded(check)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


class FakeTelegram(FakePlatform):
    """https://api.telegram.org/bot<token>/<method>, for one bot."""

    def __init__(self, token: str, username: str) -> None:
        super().__init__()
        self.token, self.username = token, username
        self._message_ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._method)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"},
                                     status=401)
        method, form = request.match_info["method"].lower(), await request.post()
        if method == "getme":
            result: Any = {"id": int(self.token.split(":")[0]), "is_bot": True,
                           "first_name": "Meridian Auto Finance", "username": self.username}
        elif method == "sendmessage":
            result = {"message_id": next(self._message_ids), "date": int(time.time()),
                      "chat": {"id": int(form["chat_id"]), "type": "private"},
                      "text": str(form["text"])}
        else:  # setWebhook and the rest
            result = True
        return web.json_response({"ok": True, "result": result})

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """sendMessage calls for one chat: their text and reply_markup (parsed)."""
        return [{"text": r.form.get("text", ""),
                 "reply_markup": json.loads(r.form.get("reply_markup") or "null")}
                for r in self.recorded(lambda r: r.path.lower().endswith("/sendmessage")
                                       and r.form.get("chat_id") == str(chat_id))]

    def wait_for_text(self, chat_id: int, fragment: str, timeout: float = 30) -> list[dict[str, Any]]:
        self.wait_for(lambda r: r.path.lower().endswith("/sendmessage")
                      and r.form.get("chat_id") == str(chat_id) and fragment in r.form.get("text", ""),
                      timeout=timeout)
        return self.messages_to(chat_id)


class FakeTwilio(FakePlatform):
    """https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json, for one account."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self._message_ids = itertools.count(1)
        self.fail_next: list[int] = []  # statuses to answer the next messages with (429, 503, 400)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)

    async def _create_message(self, request: web.Request) -> web.Response:
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (request.match_info["sid"] != self.account_sid
                or request.headers.get("Authorization") != f"Basic {credentials}"):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401,
                                      "more_info": "https://www.twilio.com/docs/errors/20003"},
                                     status=401)
        form = await request.post()
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"code": 21211 if status == 400 else 20429,
                                      "message": "The 'To' number is not a valid phone number."
                                      if status == 400 else "Too Many Requests", "status": status},
                                     status=status)
        sid = f"SM{next(self._message_ids):032x}"
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return web.json_response({
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": form.get("To"), "from": form.get("From"), "body": form.get("Body"),
            "status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "date_created": now, "date_updated": now, "date_sent": None, "messaging_service_sid": None,
            "uri": f"{uri}.json", "subresource_uris": {"media": f"{uri}/Media.json"},
        }, status=201)

    def bodies_to(self, number: str) -> list[str]:
        return [r.form.get("Body", "") for r in self.recorded(
            lambda r: r.path.endswith("/Messages.json") and r.form.get("To") == number)]

    def wait_for_body(self, number: str, fragment: str, timeout: float = 30) -> list[str]:
        self.wait_for(lambda r: r.path.endswith("/Messages.json") and r.form.get("To") == number
                      and fragment in r.form.get("Body", ""), timeout=timeout)
        return self.bodies_to(number)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL + each POST parameter (sorted) name+value."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()
