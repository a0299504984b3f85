"""Our REST and website-widget (socket.io) channels, with the fixes and checks Rasa 3.6 lacks.

- Rasa 3.6.21 calls `sio.enter_room` without `await` (python-socketio 5.x made it a coroutine),
  so a browser with session persistence never joins its room and never hears the bot.
- Rasa checks a JWT at connect and then throws it away, and lets the client choose its session
  id and metadata. Here a signed-in widget's portal token is verified at connect and kept
  server-side; the conversation id is derived from it; client metadata never carries identity.
- Rasa leaves the websocket open to every origin; here only the configured origins connect.
- Rasa lets an anonymous client ask for any session id and joins it to that conversation's room
  (an attacker took over another customer's conversation, an agent's reply included). Here the
  server issues an anonymous visitor's conversation id (`web-` + 24 random characters) and hands
  the browser a signed copy (`SessionIds`); a client's `session_id` is honoured only when it is
  such a copy, unexpired, and then only for the conversation it names.
- Every message goes through `rasa_ext.limits` first: over `max_message_length` characters it is
  answered politely and never reaches Rasa; `/EXTERNAL_...` reaches it as plain text. socket.io
  packets are capped at `max_body_bytes`.
- Rasa emits a bot message only to sockets of the process that produced it; here every emit is
  relayed to the process holding the widget's socket (`relay_url`, rasa_ext/socketio_relay.py),
  so an agent's reply reaches the widget whichever worker or replica takes it.

`RestInput` (name `rest`, URL /webhooks/rest/webhook as Rasa's): Rasa's channel answers a
malformed request with a 500, files a request without `sender` under the shared conversation
"default", reads the whole body whatever its size, and takes the input channel's name from the
client. Here the body is capped, the request is checked (400 with a JSON error otherwise), the
sender id must be an id (not "default", not one of the widget's `portal-` / `web-` ids, nor one
that looks like a messaging channel's: a phone number, `whatsapp:`, a Telegram, Messenger or
Slack id) and the input channel is always `rest`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Union

import jwt
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from rasa_ext import socketio_relay
from rasa_ext.limits import (DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_MESSAGE_LENGTH, guarded,
                             positive_int)

logger = logging.getLogger(__name__)

ISSUER, AUDIENCE = "meridian-portal", "meridian-assistant"  # as autofinance.adapters.portal_tokens
PORTAL_PREFIX = "portal-"
WEB_PREFIX = "web-"  # an anonymous widget visitor's conversation, issued by this channel
WIDGET_PREFIXES = (PORTAL_PREFIX, WEB_PREFIX)
DEFAULT_SESSION_MAX_AGE_HOURS = 24
ALLOWED_METADATA = frozenset({"locale", "page", "timezone"})  # nothing that could claim identity
CLIENT_KEY = "client_key"  # metadata set by the channel only: who sent it, as a keyed hash


def client_key(address: Optional[Text], secret: Text) -> Optional[Text]:
    """A keyed hash of the client's address, so the action server can count failed
    verification attempts per client without ever seeing (or storing) an address; None when
    the address is unknown. Keyed, as IPv4 addresses are few enough to hash them all."""
    if not address or not secret:
        return None
    key = hmac.new(secret.encode(), b"client-key", hashlib.sha256).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


def with_client_key(metadata: Optional[Dict[Text, Any]], address: Optional[Text],
                    secret: Text) -> Dict[Text, Any]:
    """The message's metadata with the channel's own client key; any the client sent is dropped."""
    stamped = {k: v for k, v in (metadata or {}).items() if k != CLIENT_KEY}
    key = client_key(address, secret)
    if key:
        stamped[CLIENT_KEY] = key
    return stamped


def request_address(request: Request, header: Text = "") -> Optional[Text]:
    """The client's address: from `header` when the proxy in front of Rasa sets it (HAProxy:
    `http-request set-header X-Real-IP %[src]`, which overwrites whatever a client sent), else
    the connection's peer. Behind a proxy that sets nothing, every client would share the
    proxy's address, and one client's failures would block everyone's verification."""
    if header:
        given = (request.headers.get(header) or "").split(",")[0].strip()
        if given:
            return given
    return request.remote_addr or request.ip or None


def _split(value: Any) -> List[Text]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value or [])


class SessionIds:
    """Anonymous widget conversations: ids issued here, and signed copies the browser keeps.

    The browser keeps whatever `session_confirm` gave it (widget.js, sessionStorage) and asks for
    it again after a reload or a reconnect. It gets `<id>.<issued>.<mac>`: an HMAC-SHA256 over the
    id and the time it was (re)issued, under a key derived from `session_signing_key` or else the
    portal JWT secret, so it also holds on another replica and after a restart. The conversation
    id itself (what agents, logs and the tracker store see) carries no signature: knowing it is
    not enough to join the conversation. Each confirmation re-signs, so `max_age` counts from
    the visitor's last connection.
    """

    def __init__(self, secret: Union[str, bytes, None], max_age_seconds: float) -> None:
        if not secret:
            logger.warning("no session_signing_key and no portal JWT secret: anonymous widget "
                           "conversations will not survive a restart or move between replicas")
            secret = secrets.token_bytes(32)
        raw = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(raw, b"meridian widget session ids v1", hashlib.sha256).digest()
        self.max_age = max_age_seconds

    @staticmethod
    def issue() -> Text:
        return WEB_PREFIX + secrets.token_urlsafe(18)

    def _mac(self, session_id: Text, issued: Text) -> Text:
        digest = hmac.new(self._key, f"{session_id}.{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, session_id: Text, now: Optional[float] = None) -> Text:
        issued = str(int(time.time() if now is None else now))
        return f"{session_id}.{issued}.{self._mac(session_id, issued)}"

    def verify(self, signed: Any, now: Optional[float] = None) -> Optional[Text]:
        """The conversation id of a signed copy this channel issued and that has not expired."""
        if not isinstance(signed, str) or len(signed) > 200 or signed.count(".") != 2:
            return None
        session_id, issued, mac = signed.split(".")
        if not (session_id.startswith(WEB_PREFIX) and issued.isdigit()
                and hmac.compare_digest(mac.encode(), self._mac(session_id, issued).encode())):
            return None
        age = (time.time() if now is None else now) - int(issued)
        return session_id if -300 <= age <= self.max_age else None


# --- REST -----------------------------------------------------------------------------------

SENDER_ID = re.compile(r"[A-Za-z0-9+][A-Za-z0-9._:@+-]{0,127}")  # the stores' columns: 128
RESERVED_SENDERS = frozenset({"default"})  # Rasa's shared conversation for a missing sender
# The messaging channels' conversation ids, which a REST caller must not name (it would write into
# an SMS customer's conversation or a claimed ticket's transcript, and `/session_start` would end
# that customer's verification): Twilio SMS and WhatsApp (`+1404...`, `whatsapp:+1...`, and the
# other address schemes Twilio uses), Telegram chats and Messenger users (digits only; Telegram
# groups are negative, which SENDER_ID already refuses) and Slack users (`U024BE7LH`, `W012A3CDE`:
# U or W, then capitals and digits, at least one digit; `_<channel>[_<thread>]` appended under a
# finer conversation granularity).
MESSAGING_ADDRESS_PREFIXES = ("+", "whatsapp:", "tel:", "sms:", "messenger:")
SLACK_USER_ID = re.compile(r"[UW](?=[A-Z]*[0-9])[A-Z0-9]{8,20}(?:_.*)?")


def bad_request(code: Text, message: Text, status: int = 400) -> HTTPResponse:
    return response.json({"error": code, "message": message}, status=status)


def sender_problem(sender: Any) -> Optional[Text]:
    """Why `sender` cannot name a REST conversation; None when it can."""
    if not isinstance(sender, str) or not sender.strip():
        return "\"sender\" must be a non-empty string: the conversation's id."
    if not SENDER_ID.fullmatch(sender):
        return ("\"sender\" must be 1 to 128 letters, digits or . _ : @ + - "
                "(starting with a letter, a digit or +).")
    if sender.lower() in RESERVED_SENDERS or sender.lower().startswith(WIDGET_PREFIXES):
        return "\"sender\" names a conversation that belongs to another channel."
    if looks_like_messaging_id(sender):
        return ("\"sender\" looks like a messaging channel's conversation id (a phone number, "
                "a whatsapp:/tel: address, or a Telegram, Messenger or Slack id): those "
                "conversations belong to their channels. Use an id of your own, e.g. one that "
                "starts with a lowercase letter.")
    return None


def looks_like_messaging_id(sender: Text) -> bool:
    """Whether `sender` has the shape of an SMS, WhatsApp, Telegram, Messenger or Slack
    conversation's id (see MESSAGING_ADDRESS_PREFIXES)."""
    return (sender.lower().startswith(MESSAGING_ADDRESS_PREFIXES) or sender.isdigit()
            or SLACK_USER_ID.fullmatch(sender) is not None)


class RestInput(RasaRestInput):
    """Rasa's REST channel (name `rest`, /webhooks/rest/webhook), with its input checked.

    Credentials: `max_message_length` (characters, default 1000) and `max_body_bytes` (default
    65536). Answers as Rasa's (a JSON list of the assistant's messages, or `?stream=true`);
    a request it cannot take gets a 400 (413 for a body over the cap) with
    `{"error": <code>, "message": <why>}` and never reaches Rasa.
    """

    def __init__(self, max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, client_key_secret: Text = "",
                 client_address_header: Text = "",
                 gateway_token: Text = "", production: bool = False) -> None:
        self.max_message_length = max_message_length
        self.max_body_bytes = max_body_bytes
        self.client_key_secret = client_key_secret
        self.client_address_header = client_address_header
        self.gateway_token = gateway_token
        self.production = production

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(positive_int(credentials.get("max_message_length"), DEFAULT_MAX_MESSAGE_LENGTH),
                   positive_int(credentials.get("max_body_bytes"), DEFAULT_MAX_BODY_BYTES),
                   str(credentials.get("client_key_secret") or ""),
                   str(credentials.get("client_address_header") or "").strip(),
                   str(credentials.get("gateway_token") or "").strip(),
                   str(credentials.get("profile") or "").strip().lower() == "production")

    def refusal(self, request: Request) -> Optional[HTTPResponse]:
        """Whoever names a `sender` continues that conversation, so REST is only for trusted
        callers: with a gateway token, only requests bearing it; without one, open in the demo
        and off in production."""
        if self.gateway_token:
            given = request.headers.get("authorization") or ""
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    token.strip().encode(), self.gateway_token.encode()):
                return bad_request("unauthorized", "This channel needs the gateway's bearer token.",
                                   status=401)
        elif self.production:
            return bad_request("rest_off", "The REST channel is off in production: put it behind "
                               "an authenticating gateway (REST_GATEWAY_TOKEN).", status=403)
        return None

    async def _read_body(self, request: Request) -> Optional[bytes]:
        """The body, read up to the cap; None when it is longer (a declared length is refused
        before anything is read)."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return None
        if request.stream is None:  # already read (a test client)
            body = request.body or b""
            return body if len(body) <= self.max_body_bytes else None
        request.stream.request_max_size = self.max_body_bytes
        try:
            await request.receive_body()
        except PayloadTooLarge:
            return None
        return request.body or b""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint("custom_webhook_RestInput", __name__)
        handle = guarded(on_new_message, self.max_message_length)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            body = await self._read_body(request)
            if body is None:
                return bad_request("body_too_large",
                                   f"The request body must be at most {self.max_body_bytes} bytes.",
                                   status=413)
            try:
                payload = json.loads(body) if body.strip() else None
            except (ValueError, UnicodeDecodeError):
                return bad_request("invalid_json", "The request body must be JSON.")
            if not isinstance(payload, dict):
                return bad_request("not_an_object", 'The request body must be a JSON object: '
                                   '{"sender": "<conversation id>", "message": "<text>"}.')
            problem = sender_problem(payload.get("sender"))
            if problem:
                return bad_request("invalid_sender", problem)
            sender_id, text = payload["sender"], payload.get("message")
            if not isinstance(text, str):
                return bad_request("invalid_message", '"message" must be a string.')
            if not text.strip():
                return bad_request("empty_message", '"message" must not be empty.')
            metadata = payload.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                return bad_request("invalid_metadata", '"metadata" must be a JSON object.')
            metadata = with_client_key(metadata,
                                       request_address(request, self.client_address_header),
                                       self.client_key_secret)
            if _truthy(request.args.get("stream")):
                return response.stream(
                    self.stream_response(handle, text, sender_id, self.name(), metadata),
                    content_type="text/event-stream")
            collector = CollectingOutputChannel()
            try:
                await handle(UserMessage(text, collector, sender_id, input_channel=self.name(),
                                         metadata=metadata))
            except Exception:  # noqa: BLE001 - as Rasa's channel: the answers so far, logged
                logger.exception("the REST channel could not handle a message")
            return response.json(collector.messages)

        return webhook


def _truthy(value: Optional[Text]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


# --- socket.io (the website widget) ----------------------------------------------------------


class WidgetSocketIOInput(SocketIOInput):
    """socket.io for the website widget: rooms joined, origins checked, identity from the portal."""

    allowed_origins: List[Text] = []
    portal_algorithm: Text = "HS256"
    portal_key: Text = ""
    max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    session_ids: Optional[SessionIds] = None
    client_key_secret: Text = ""
    client_address_header: Text = ""
    relay_url: Text = ""
    relay_channel: Text = "socketio"

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        channel.allowed_origins = _split(credentials.get("allowed_origins"))
        channel.portal_algorithm = credentials.get("portal_jwt_algorithm") or "HS256"
        key_file = credentials.get("portal_jwt_public_key_file") or ""
        channel.portal_key = (Path(key_file).read_text() if channel.portal_algorithm == "RS256"
                              else credentials.get("portal_jwt_secret") or "")
        channel.max_message_length = positive_int(credentials.get("max_message_length"),
                                                  DEFAULT_MAX_MESSAGE_LENGTH)
        channel.max_body_bytes = positive_int(credentials.get("max_body_bytes"),
                                              DEFAULT_MAX_BODY_BYTES)
        channel.client_key_secret = str(credentials.get("client_key_secret") or "")
        channel.client_address_header = str(credentials.get("client_address_header") or "").strip()
        channel.relay_url = str(credentials.get("relay_url") or "").strip()
        channel.relay_channel = str(credentials.get("relay_channel") or "socketio").strip()
        hours = positive_int(credentials.get("session_max_age_hours"), DEFAULT_SESSION_MAX_AGE_HOURS)
        channel.session_ids = SessionIds(
            credentials.get("session_signing_key") or credentials.get("portal_jwt_secret"),
            hours * 3600)
        return channel

    def portal_customer(self, token: Any) -> Optional[Text]:
        """The customer id of a valid, unexpired portal token; None otherwise."""
        if not token or not isinstance(token, str) or not self.portal_key:
            return None
        try:
            claims = jwt.decode(token, self.portal_key, algorithms=[self.portal_algorithm],
                                audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            return None
        return str(claims["sub"])

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None
        socketio_relay.attach(sio, socketio_relay.client_manager(self.relay_url,
                                                                   self.relay_channel))
        namespace = self.namespace
        # An explicit list makes engine.io refuse other origins ([] would disable the check).
        sio.eio.cors_allowed_origins = self.allowed_origins or None
        # A packet over the cap closes the connection (engine.io's default: 1 MB).
        sio.eio.max_http_buffer_size = self.max_body_bytes
        session_ids = self.session_ids or SessionIds(None, DEFAULT_SESSION_MAX_AGE_HOURS * 3600)
        handle = guarded(on_new_message, self.max_message_length)

        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            request = environ.get("sanic.request")
            address = (request_address(request, self.client_address_header)
                       if request is not None else None)
            await sio.save_session(sid, {"address": address}, namespace=namespace)
            token = auth.get("token") if isinstance(auth, dict) else None
            if token is None:
                return True  # an anonymous visitor: verified later, by code
            customer = self.portal_customer(token)
            if customer is None:
                logger.info("refused a widget connection with an invalid portal token")
                return False  # a bad token is refused, never silently downgraded
            await sio.save_session(sid, {"token": token, "customer": customer, "address": address},
                                   namespace=namespace)
            return True

        async def session_request(sid: Text, data: Any) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            asked = data.get("session_id") if isinstance(data, dict) else None
            if session.get("customer"):
                session_id = confirmed = PORTAL_PREFIX + session["customer"]
            else:  # an anonymous visitor: its own earlier conversation, or a new one
                resumed = session_ids.verify(asked)
                if asked and resumed is None:
                    logger.info("a widget asked for a conversation this server did not issue "
                                "to it: a new one was issued")
                session_id = resumed or session_ids.issue()
                confirmed = session_ids.sign(session_id)
            previous = session.get("session_id")
            if previous and previous != session_id:
                await sio.leave_room(sid, previous, namespace=namespace)
            await sio.save_session(sid, {**session, "session_id": session_id}, namespace=namespace)
            await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", confirmed, room=sid, namespace=namespace)

        async def handle_message(sid: Text, data: Any) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            sender_id = session.get("session_id")
            if not sender_id:
                logger.warning("a widget message arrived before its session_request; ignored")
                return
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str) or not text.strip():
                logger.info("ignored a widget message without text")
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata or "{}")
                except ValueError:
                    metadata = {}
            metadata = {k: v for k, v in dict(metadata).items() if k in ALLOWED_METADATA} \
                if isinstance(metadata, dict) else {}
            if session.get("token"):
                metadata["portal_token"] = session["token"]
            metadata = with_client_key(metadata, session.get("address"), self.client_key_secret)
            await handle(UserMessage(
                text, SocketIOOutput(sio, self.bot_message_evt), sender_id,
                input_channel=self.name(), metadata=metadata,
            ))

        sio.on("connect", handler=connect, namespace=namespace)
        sio.on("session_request", handler=session_request, namespace=namespace)
        sio.on(self.user_message_evt, handler=handle_message, namespace=namespace)
        return blueprint
