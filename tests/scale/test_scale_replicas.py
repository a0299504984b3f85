"""What one conversation needs from many replicas beyond the shared stores: an agent's reply
reaches the customer's widget whichever replica takes the console's call, and messages of one
conversation hammered onto both replicas at once run one turn at a time."""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
import pytest

from tests.scale.cluster import RASA_REPLICAS, Cluster
from tests.scale.conversations import say
from tests.scale.stores import stored_turns
from tests.e2e.widget import Widget

pytestmark = pytest.mark.e2e


class OnReplica:
    """What `Widget` needs of a running stack: Rasa's address, here one replica's."""

    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, service: str, path: str = "") -> str:
        assert service == "rasa"
        return self._url + path


def agent_reply(cluster: Cluster, replica: str, conversation: str, text: str) -> None:
    """The support console's call (a bot message on the conversation's latest channel)."""
    url = (f"{cluster.url(replica)}/conversations/{conversation}/tracker/events"
           f"?output_channel=latest&execute_side_effects=true&token={cluster.env['RASA_API_TOKEN']}")
    request = urllib.request.Request(url, data=json.dumps({"event": "bot", "text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_an_agents_reply_reaches_the_widget_from_the_other_replica(cluster: Cluster) -> None:
    holder, other = RASA_REPLICAS

    async def scenario() -> list[str]:
        widget = Widget(OnReplica(cluster.url(holder)), cluster.env["SOCKETIO_ALLOWED_ORIGINS"])  # type: ignore[arg-type]
        try:
            conversation = (await widget.open()).split(".")[0]
            assert await widget.say("hello")  # the widget's channel is now the latest
            heard = []
            for number in range(3):
                text = f"Hi, this is Sam from support ({number})."
                await asyncio.to_thread(agent_reply, cluster, other, conversation, text)
                heard.append(await widget.next_reply(10))
            return heard
        finally:
            await widget.close()

    assert asyncio.run(scenario()) == [f"Hi, this is Sam from support ({n})." for n in range(3)]


def test_one_conversation_hammered_on_both_replicas_takes_one_turn_at_a_time(
        cluster: Cluster) -> None:
    sender = "scale-hammer"
    texts = [f"what are your hours {n}" for n in range(12)]
    answers: dict[int, list[str]] = {}

    def send(index: int) -> None:
        answers[index] = say(cluster.url(RASA_REPLICAS[index % 2]), sender, texts[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()  # all at once, half on each replica
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(answers) == list(range(len(texts)))
    assert all(replies for replies in answers.values())
    turns = stored_turns(cluster.stores, sender)
    # stored once each, and each followed by its answer before the next message was read
    assert sorted(turn.user_text for turn in turns) == sorted(texts)
    assert all(turn.bot_texts for turn in turns), turns
