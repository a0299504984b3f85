"""The website widget's socket.io channel, with the fixes and checks this Rasa version lacks.

- Rasa 3.6.21 calls `sio.enter_room` without `await` (python-socketio 5.x made it a coroutine),
  so a browser with session persistence never joins its room and never hears the bot.
- Rasa checks a JWT at connect and then throws it away, and lets the client choose its session
  id and metadata. Here a signed-in widget's portal token is verified at connect and kept
  server-side; the conversation id is derived from it; client metadata never carries identity.
- Rasa leaves the websocket open to every origin; here only the configured origins connect.
"""
from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import jwt
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

logger = logging.getLogger(__name__)

ISSUER, AUDIENCE = "meridian-portal", "meridian-assistant"  # as autofinance.adapters.portal_tokens
PORTAL_PREFIX = "portal-"
ALLOWED_METADATA = frozenset({"locale", "page", "timezone"})  # nothing that could claim identity


def _split(value: Any) -> List[Text]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value or [])


class WidgetSocketIOInput(SocketIOInput):
    """socket.io for the website widget: rooms joined, origins checked, identity from the portal."""

    allowed_origins: List[Text] = []
    portal_algorithm: Text = "HS256"
    portal_key: Text = ""

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
        namespace = self.namespace
        # An explicit list makes engine.io refuse other origins ([] would disable the check).
        sio.eio.cors_allowed_origins = self.allowed_origins or None

        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            token = (auth or {}).get("token")
            if token is None:
                return True  # an anonymous visitor: verified later, by code
            customer = self.portal_customer(token)
            if customer is None:
                logger.info("refused a widget connection with an invalid portal token")
                return False  # a bad token is refused, never silently downgraded
            await sio.save_session(sid, {"token": token, "customer": customer}, namespace=namespace)
            return True

        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            asked = (data or {}).get("session_id")
            if session.get("customer"):
                session_id = PORTAL_PREFIX + session["customer"]
            elif isinstance(asked, str) and asked and not asked.startswith(PORTAL_PREFIX):
                session_id = asked  # an anonymous widget resuming its own conversation
            else:
                session_id = uuid.uuid4().hex
            await sio.save_session(sid, {**session, "session_id": session_id}, namespace=namespace)
            await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        async def handle_message(sid: Text, data: Dict) -> None:
            session = await sio.get_session(sid, namespace=namespace)
            sender_id = session.get("session_id")
            if not sender_id:
                logger.warning("a widget message arrived before its session_request; ignored")
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                metadata = json.loads(metadata or "{}")
            metadata = {k: v for k, v in dict(metadata).items() if k in ALLOWED_METADATA}
            if session.get("token"):
                metadata["portal_token"] = session["token"]
            await on_new_message(UserMessage(
                data.get("message", ""), SocketIOOutput(sio, self.bot_message_evt), sender_id,
                input_channel=self.name(), metadata=metadata,
            ))

        sio.on("connect", handler=connect, namespace=namespace)
        sio.on("session_request", handler=session_request, namespace=namespace)
        sio.on(self.user_message_evt, handler=handle_message, namespace=namespace)
        return blueprint
