"""What a customer hears while a part of the assistant is down: an apology, never silence.

Rasa 3.6 swallows the failures a customer would otherwise notice:
- the action server down, restarting or failing: `RemoteAction.run` raises, the processor logs
  "the action's events are lost" and carries on, and the customer gets no answer;
- the lock store or the event broker down: `Agent.handle_message` raises, the channel logs it,
  and the customer gets no answer (REST: an empty list);
- the tracker store down: Rasa's `FailSafeTrackerStore` reads the conversation as a new one and
  saves it in the process's memory. The customer is answered from a blank conversation (asked
  again who they are, in the middle of a payment), and what they say meanwhile is never stored.
  Found by the fault tests (tests/faults): 193 answered messages missing from PostgreSQL.

Here the tracker store's failures are raised, and every failure answers with
`utter_service_trouble` (domain.yml) on the message's own channel. On REST the answers
collected before the failure are dropped, so the customer reads only the apology: the turn was
not stored, and sent again it runs again from the same stored state (a payment's idempotency key
replays the same payment). A refused connection to the action server, which never reached it,
is tried once more after a short pause first: a replica or a restart behind a balancer is often
back by then.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Text, Tuple

import aiohttp
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import BotUttered, Event, FollowupAction
from rasa.shared.exceptions import RasaException

logger = logging.getLogger(__name__)

APOLOGY = "utter_service_trouble"
RETRY_PAUSE_SECONDS = 0.5
_STOCK: Dict[Tuple[type, Text], Any] = {}  # (class, method) -> Rasa's own


def _patches() -> List[Tuple[type, Text, Any]]:
    return [(RemoteAction, "run", _run_or_apologise),
            (Agent, "handle_message", _handle_or_apologise),
            (FailSafeTrackerStore, "retrieve", _retrieve_or_raise),
            (FailSafeTrackerStore, "save", _save_or_raise),
            (FailSafeTrackerStore, "retrieve_full_tracker", _retrieve_full_or_raise)]


def install() -> None:
    if _STOCK:
        return
    for owner, name, replacement in _patches():
        _STOCK[(owner, name)] = getattr(owner, name)
        setattr(owner, name, replacement)


def uninstall() -> None:
    for (owner, name), stock in _STOCK.items():
        setattr(owner, name, stock)
    _STOCK.clear()


async def _retrieve_or_raise(self: FailSafeTrackerStore, sender_id: Text) -> Any:
    """The stored conversation, or the store's error: never a blank one instead."""
    return await self._tracker_store.retrieve(sender_id)


async def _retrieve_full_or_raise(self: FailSafeTrackerStore, sender_id: Text) -> Any:
    return await self._tracker_store.retrieve_full_tracker(sender_id)


async def _save_or_raise(self: FailSafeTrackerStore, tracker: Any) -> None:
    """Saved in the store, or the store's error: never in this process's memory instead."""
    await self._tracker_store.save(tracker)


def apology_text(domain: Any) -> Text:
    """The apology's text from the domain's responses (the catalogue)."""
    variants = (getattr(domain, "responses", None) or {}).get(APOLOGY) or [{}]
    return str(variants[0].get("text") or "")


def _refused(error: BaseException) -> bool:
    """Whether the action server was never reached (nothing ran there): safe to try again."""
    context = error.__cause__ or error.__context__
    return isinstance(context, aiohttp.ClientConnectorError)


async def _run_or_apologise(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                            domain: Any) -> List[Event]:
    """The custom action; when the action server cannot run it, the apology and a stop."""
    for attempt in (1, 2):
        try:
            return await _STOCK[(RemoteAction, "run")](self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # a form's "not my turn": Rasa's own flow
        except RasaException as error:
            if attempt == 1 and _refused(error):
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            logger.error("the action server could not run %s: the customer was asked to try "
                         "again (%s)", self.name(), error)
            break
    return [BotUttered(apology_text(domain)), FollowupAction(ACTION_LISTEN_NAME)]


async def _handle_or_apologise(self: Agent, message: Any) -> Optional[List[Dict[Text, Any]]]:
    """Rasa's handling of a message; when a store or broker fails, the apology instead."""
    try:
        return await _STOCK[(Agent, "handle_message")](self, message)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - anything: the customer must hear something
        logger.exception("could not handle a message: the customer was asked to try again")
        if isinstance(message.output_channel, CollectingOutputChannel):
            message.output_channel.messages.clear()  # not stored: only the apology is true
        text = apology_text(self.domain)
        if text and message.output_channel is not None:
            try:
                await message.output_channel.send_text_message(message.sender_id, text)
            except Exception:  # noqa: BLE001 - the channel itself is gone: nothing more to do
                logger.warning("could not send the apology either", exc_info=True)
        return None
