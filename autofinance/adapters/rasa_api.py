"""The support console's side of Rasa's HTTP API: read a transcript, speak as the agent, hand back.

Rasa keeps the conversation; the console only reads it and appends to it, so an agent reply
reaches the customer on the channel they last wrote from (`output_channel=latest`), and a
hand-back goes through the assistant's own dialogue (the `EXTERNAL_handoff_resolved` intent)
rather than by editing slots from outside. Every call carries the API token.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import quote

import aiohttp

from autofinance.config import Secret

logger = logging.getLogger(__name__)

HANDOFF_RESOLVED_INTENT = "EXTERNAL_handoff_resolved"
AGENT_METADATA_KEY = "support_agent"  # set on bot events an agent wrote, so transcripts tell them apart
_TIMEOUT = aiohttp.ClientTimeout(total=15)


class RasaUnavailable(Exception):
    """Rasa did not answer or refused the call; the console shows it, the ticket is unchanged."""


@dataclass(frozen=True)
class TranscriptLine:
    seq: int  # position in the conversation's event list: fetch only what is new
    sender: str  # 'customer', 'assistant' or 'agent'
    text: str
    at: datetime  # UTC
    agent_name: str = ""


def transcript_lines(events: list[dict[str, Any]]) -> list[TranscriptLine]:
    """What was said, in order; other events (slots, actions, pauses) are left out."""
    lines = []
    for seq, event in enumerate(events):
        kind, text = event.get("event"), event.get("text")
        if kind not in {"user", "bot"} or not text:
            continue
        at = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
        agent_name = str((event.get("metadata") or {}).get(AGENT_METADATA_KEY) or "")
        sender = "customer" if kind == "user" else ("agent" if agent_name else "assistant")
        shown = _button_choice(str(text)) if kind == "user" else str(text)
        lines.append(TranscriptLine(seq=seq, sender=sender, text=shown, at=at, agent_name=agent_name))
    return lines


_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_]+)(?P<entities>\{.*\})?$")


def _button_choice(text: str) -> str:
    """'/request_followup{"followup_method": "email"}' -> '[button] request followup: email'.

    A button sends its payload, not its title; the agent should read what was chosen.
    """
    match = _PAYLOAD.match(text.strip())
    if not match:
        return text
    try:
        values = [str(v) for v in json.loads(match["entities"] or "{}").values()]
    except (ValueError, AttributeError):
        values = []
    chosen = match["intent"].replace("_", " ")
    return f"[button] {chosen}" + (f": {', '.join(values)}" if values else "")


class RasaClient:
    """A small async client; one per web app, closed with it."""

    def __init__(self, base_url: str, token: Secret,
                 session: Optional[aiohttp.ClientSession] = None) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        tracker = await self._call("GET", conversation_id, "tracker", {"include_events": "ALL"})
        return transcript_lines((tracker or {}).get("events") or [])

    async def send_agent_message(self, conversation_id: str, text: str, agent_name: str) -> None:
        """Appends the reply and delivers it on the customer's latest channel."""
        event = {"event": "bot", "text": text, "metadata": {AGENT_METADATA_KEY: agent_name}}
        await self._call("POST", conversation_id, "tracker/events",
                         {"output_channel": "latest", "execute_side_effects": "true"}, event)

    async def pause(self, conversation_id: str) -> None:
        """Makes the assistant silent (it may not be, when the ticket waited for hours)."""
        await self._call("POST", conversation_id, "tracker/events", {}, {"event": "pause"})

    async def hand_back(self, conversation_id: str) -> None:
        """Ends the pause and lets the assistant greet the customer again, with a clean context."""
        await self._call("POST", conversation_id, "tracker/events", {},
                         [{"event": "resume"}, {"event": "action", "name": "action_listen"}])
        await self._call("POST", conversation_id, "trigger_intent", {"output_channel": "latest"},
                         {"name": HANDOFF_RESOLVED_INTENT})

    async def release(self, conversation_id: str) -> None:
        """Ends the pause without a greeting: the ticket was closed, the assistant answers what comes next."""
        await self._call("POST", conversation_id, "tracker/events", {},
                         [{"event": "resume"}, {"event": "action", "name": "action_listen"}])

    async def _call(self, method: str, conversation_id: str, path: str,
                    params: dict[str, str], body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        # Rasa's <conversation_id:path> route does not percent-decode: SMS and WhatsApp ids
        # ('+15551234567', 'whatsapp:+1555...') must arrive as they are.
        url = f"{self._base}/conversations/{quote(conversation_id, safe='+:@')}/{path}"
        if self._token:
            params = {**params, "token": self._token.reveal()}
        try:
            async with self._session.request(method, url, params=params, json=body) as response:
                if response.status >= 400:
                    logger.warning("Rasa answered %s to %s %s", response.status, method, path)
                    raise RasaUnavailable(f"Rasa answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("Rasa could not be reached for %s %s: %s", method, path, type(error).__name__)
            raise RasaUnavailable("Rasa could not be reached") from error
