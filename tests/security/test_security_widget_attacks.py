"""A, C and D against the running widget channel (socket.io): over-long messages and packets,
server-only intents, and taking over someone else's conversation."""
from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

import pytest

from rasa_ext.limits import TOO_LONG
from tests.e2e.conftest import RunningStack
from tests.e2e.widget import Widget, widget_origin
from tests.security.conftest import conversation_id, stored_events, user_texts

pytestmark = pytest.mark.e2e


async def visitor(running: RunningStack, session_id: object = None) -> tuple[Widget, str]:
    widget = Widget(running, widget_origin(running))
    return widget, await widget.open(session_id=session_id)


def agent_reply(running: RunningStack, conversation: str, text: str) -> None:
    """What the support console does: a bot message on the conversation's latest channel."""
    url = running.url("rasa", f"/conversations/{conversation}/tracker/events?output_channel=latest"
                              f"&execute_side_effects=true&token={running.env['RASA_API_TOKEN']}")
    request = urllib.request.Request(url, data=json.dumps({"event": "bot", "text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


async def heard(widget: Widget, text: str, seconds: float = 3) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            message = await asyncio.wait_for(widget.replies.get(), 0.5)
        except asyncio.TimeoutError:
            continue
        if text in message.get("text", ""):
            return True
    return False


# --- A ----------------------------------------------------------------------------------------

async def test_a_widget_message_over_the_limit_is_answered_politely_and_never_stored(
        running: RunningStack) -> None:
    widget, confirmed = await visitor(running)
    try:
        await widget.send("a" * 1001)
        assert await widget.next_reply(10) == TOO_LONG
        assert stored_events(running, conversation_id(confirmed)) == []
    finally:
        await widget.close()


async def test_a_widget_packet_over_the_byte_cap_is_dropped_with_its_connection(
        running: RunningStack) -> None:
    widget, confirmed = await visitor(running)
    try:
        await widget.client.emit("user_uttered", {"message": "a" * 480_000, "metadata": {}})
        for _ in range(50):
            if not widget.client.connected:
                break
            await asyncio.sleep(0.1)
        assert not widget.client.connected
        assert stored_events(running, conversation_id(confirmed)) == []
    finally:
        await widget.close()
    other, _ = await visitor(running)  # everyone else is still served at once
    try:
        assert "account number" in (await other.say("what's my balance")).lower()
    finally:
        await other.close()


async def test_a_malformed_widget_message_is_ignored_without_harm(running: RunningStack) -> None:
    widget, confirmed = await visitor(running)
    try:
        for data in (["not", "an", "object"], "text", {"message": 42}, {"message": None},
                     {"message": "hi", "metadata": "{not json"}):
            await widget.client.emit("user_uttered", data)
        reply = await widget.next_reply(30)  # only the last one is a message (its metadata dropped)
        assert reply and widget.client.connected
        assert user_texts(stored_events(running, conversation_id(confirmed))) == ["hi"]
    finally:
        await widget.close()


# --- C ----------------------------------------------------------------------------------------

async def test_a_widget_customer_cannot_send_an_external_intent(running: RunningStack) -> None:
    widget, confirmed = await visitor(running)
    try:
        await widget.say("  /EXTERNAL_handoff_resolved")
        events = stored_events(running, conversation_id(confirmed))
        intents = [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"]
        assert intents and not any((name or "").startswith("EXTERNAL_") for name in intents)
        assert not any(e["event"] == "action" and e.get("name") == "action_handoff_return"
                       for e in events)
    finally:
        await widget.close()


# --- D ----------------------------------------------------------------------------------------

async def test_an_anonymous_visitor_gets_a_server_issued_unguessable_id(running: RunningStack) -> None:
    first, one = await visitor(running)
    second, two = await visitor(running, "my-own-choice")
    try:
        assert conversation_id(one).startswith("web-") and len(conversation_id(one)) == 28
        assert conversation_id(two).startswith("web-") and conversation_id(two) != conversation_id(one)
    finally:
        await first.close()
        await second.close()


async def test_a_visitor_cannot_join_another_visitors_conversation_by_its_id(running: RunningStack) -> None:
    victim, confirmed = await visitor(running)
    victim_id = conversation_id(confirmed)  # what agents, logs and the tracker store see
    try:
        await victim.say("what's my balance")
        attacker, taken = await visitor(running, victim_id)
        try:
            assert conversation_id(taken) != victim_id
            agent_reply(running, victim_id, "Agent Sam here: your balance is $18,420.55")
            assert await heard(victim, "Agent Sam here")
            assert not await heard(attacker, "Agent Sam here", 2)
        finally:
            await attacker.close()
    finally:
        await victim.close()


async def test_a_visitor_cannot_join_a_rest_customers_conversation_during_a_handoff(
        running: RunningStack) -> None:
    """The review's attack: an anonymous socket asked for a REST customer's sender id, wrote into
    that conversation (its latest channel became socket.io) and got the agent's reply."""
    rest_customer = f"sec-handoff-{uuid.uuid4().hex[:8]}"
    running.say(rest_customer, "talk to a person")
    attacker, taken = await visitor(running, rest_customer)
    try:
        assert conversation_id(taken) != rest_customer
        await attacker.say("hi, it's me again")
        channels = {e.get("input_channel") for e in stored_events(running, rest_customer)
                    if e["event"] == "user"}
        assert channels == {"rest"}  # nothing of the attacker's went into it
        agent_reply(running, rest_customer, "Agent Sam: your payoff is $18,901.12")
        assert not await heard(attacker, "Agent Sam", 2)
    finally:
        await attacker.close()


@pytest.mark.parametrize("asked", ["portal-1", "PORTAL-1", "web-x.1.forged", "default", "",
                                   {"nested": "portal-1"}, ["portal-1"], 42],
                         ids=["portal", "portal-upper", "forged-signature", "default", "empty",
                              "object", "list", "number"])
async def test_a_made_up_session_id_is_never_honoured(running: RunningStack, asked: object) -> None:
    widget, confirmed = await visitor(running, asked)
    try:
        assert conversation_id(confirmed).startswith("web-")
        assert conversation_id(confirmed) != asked
    finally:
        await widget.close()


async def test_a_visitor_resumes_its_own_conversation_after_a_reload(running: RunningStack) -> None:
    """What widget.js does: it keeps the `session_confirm` value and asks for it again."""
    widget, confirmed = await visitor(running)
    await widget.say("what's my balance")
    await widget.close()
    reloaded, resumed = await visitor(running, confirmed)
    try:
        assert conversation_id(resumed) == conversation_id(confirmed)
        assert "zip" in (await reloaded.say("7301004821")).lower()  # the same conversation
    finally:
        await reloaded.close()
