"""The website widget's socket.io channel, with the fixes this Rasa version needs.

- Rasa 3.6.21 calls `sio.enter_room` without `await` (python-socketio 5.x made it a coroutine),
  so a browser with session persistence never joins its room and never hears the bot.
- Rasa leaves the websocket open to every origin; here only the configured origins connect.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

logger = logging.getLogger(__name__)


class WidgetSocketIOInput(SocketIOInput):
    """socket.io for the website widget: rooms joined properly, origins checked."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        origins = credentials.get("allowed_origins") or ""
        if isinstance(origins, str):
            origins = [o.strip() for o in origins.split(",") if o.strip()]
        channel.allowed_origins = list(origins)  # type: ignore[attr-defined]
        return channel

    allowed_origins: List[Text] = []

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None
        # An explicit list makes engine.io refuse other origins ([] would disable the check).
        sio.eio.cors_allowed_origins = self.allowed_origins or None

        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data or {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, data["session_id"], namespace=self.namespace)
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)

        sio.on("session_request", handler=session_request, namespace=self.namespace)
        return blueprint
