"""One conversation across two Rasa replicas: every message answered once, in order, stored once.

The replicas share the PostgreSQL tracker store and queue each conversation's messages behind
its lock in Redis; the action servers share the PostgreSQL account store. Maria verifies by the
one-time code from the store's outbox and pays, so the actions and the account store take part.
"""
from __future__ import annotations

import itertools
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Iterable

import pytest

from tests.scale.cluster import ACTION_SERVERS, RASA_REPLICAS, Cluster, lb_server
from tests.scale.conversations import MARIA, Step, confirmation_number, say, stored_as, verify_and_pay
from tests.scale.stores import (
    chat_payments,
    hold_conversation_lock,
    latest_code,
    lock_tickets,
    published_user_messages,
    stored_turns,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Turn:
    text: str
    replies: list[str]


def maria_pays(cluster: Cluster) -> list[Step]:
    return verify_and_pay(MARIA["account_number"], MARIA["zip_code"],
                          lambda: latest_code(cluster.stores, MARIA["email"]), accounts=2)


def converse(cluster: Cluster, sender: str, steps: list[Step], targets: Iterable[str]) -> list[Turn]:
    """Each step to the next target, waiting for its answer; every answer must be the expected one."""
    turns = []
    for step, target in zip(steps, targets):
        text = step.say()
        replies = say(cluster.url(target), sender, text)
        assert any(step.expect in reply for reply in replies), (
            f"{text!r} sent to {target}: expected {step.expect!r}, got {replies}")
        turns.append(Turn(text, replies))
    return turns


def assert_stored_once_in_order(cluster: Cluster, sender: str, turns: list[Turn]) -> None:
    """The tracker holds each message once, in the order sent, each followed by its own answers."""
    stored = stored_turns(cluster.stores, sender)
    assert len(stored) == len(turns) and all(
        stored_as(s.user_text, t.text) for s, t in zip(stored, turns)
    ), f"sent {[t.text for t in turns]}, stored {[s.user_text for s in stored]}"
    assert [len(s.bot_texts) for s in stored] == [len(t.replies) for t in turns], (
        "the tracker's answers differ from those the customer received")


def assert_paid_once(cluster: Cluster, turns: list[Turn], before: list[str]) -> None:
    number = confirmation_number(turns[-1].replies)
    assert chat_payments(cluster.stores, MARIA["account_number"]) == [*before, number]


def test_maria_alternating_between_the_replicas_is_answered_once_each_in_order(cluster: Cluster) -> None:
    sender, before = "scale-maria-alternating", chat_payments(cluster.stores, MARIA["account_number"])
    turns = converse(cluster, sender, maria_pays(cluster), itertools.cycle(RASA_REPLICAS))

    assert "$18,420.55" in " ".join(turns[4].replies)  # the balance, from the account store
    assert_stored_once_in_order(cluster, sender, turns)
    assert_paid_once(cluster, turns, before)
    # Each replica published the turns it ran to the event broker.
    assert published_user_messages(cluster.stores, sender) == len(turns)
    for name in RASA_REPLICAS:  # a store that fails to load falls back to memory with a warning only
        assert "InMemory" not in cluster.log(name), f"{name} runs on an in-memory store"


def test_through_the_load_balancer_every_replica_and_action_server_takes_part(cluster: Cluster) -> None:
    sender, before = "scale-maria-balanced", chat_payments(cluster.stores, MARIA["account_number"])
    rasa_before, actions_before = cluster.sessions("rasa"), cluster.sessions("actions")
    turns = converse(cluster, sender, maria_pays(cluster), itertools.repeat("lb"))
    rasa_after, actions_after = cluster.sessions("rasa"), cluster.sessions("actions")

    for name in RASA_REPLICAS:
        assert rasa_after[lb_server(name)] > rasa_before[lb_server(name)], f"{name} took no message"
    for name in ACTION_SERVERS:
        assert actions_after[lb_server(name)] > actions_before[lb_server(name)], f"{name} ran no action"
    assert_stored_once_in_order(cluster, sender, turns)
    assert_paid_once(cluster, turns, before)
    balancer_log = cluster.log("haproxy")
    assert "POST /webhook" in balancer_log and cluster.env["ACTION_SERVER_TOKEN"] not in balancer_log


def test_messages_queued_on_both_replicas_wait_for_the_lock_and_run_in_arrival_order(
    cluster: Cluster,
) -> None:
    """Another replica holds the conversation (a long turn, or one that died in the middle of it):
    messages arriving meanwhile on either replica queue in the one Redis lock, nothing runs
    until that ticket expires, then they run one at a time in the order they arrived."""
    sender = "scale-maria-queued"
    steps = maria_pays(cluster)[:3]
    targets = [RASA_REPLICAS[i % 2] for i in range(len(steps))]
    held_until = hold_conversation_lock(cluster.stores, sender, seconds=8)
    answers: dict[int, tuple[float, list[str]]] = {}

    def send(index: int) -> None:
        replies = say(cluster.url(targets[index]), sender, steps[index].say())
        answers[index] = (time.time(), replies)

    threads = []
    for index in range(len(steps)):
        threads.append(threading.Thread(target=send, args=(index,)))
        threads[-1].start()
        time.sleep(0.5)  # the customer types the next message before the answer comes
    queued = lock_tickets(cluster.stores, sender)
    while queued != [0, 1, 2, 3] and time.time() < held_until - 1:  # the last one may still be on its way
        time.sleep(0.1)
        queued = lock_tickets(cluster.stores, sender)
    for thread in threads:
        thread.join(timeout=60)

    assert queued == [0, 1, 2, 3], f"not every replica queued in the shared Redis lock: {queued}"
    assert time.time() > held_until and sorted(answers) == [0, 1, 2]
    for index, step in enumerate(steps):
        answered_at, replies = answers[index]
        assert answered_at >= held_until, f"{step.say()!r} ran while the conversation was locked"
        assert any(step.expect in reply for reply in replies), (
            f"answers out of order: {step.say()!r} got {replies}")
    assert_stored_once_in_order(cluster, sender, [Turn(s.say(), answers[i][1]) for i, s in enumerate(steps)])


def test_socketio_clients_stay_on_one_replica_through_the_load_balancer(cluster: Cluster) -> None:
    """socket.io keeps its session in one process: the balancer sends a client back to it."""
    before = cluster.sessions("rasa_socketio")
    origin = cluster.env["SOCKETIO_ALLOWED_ORIGINS"]
    for _ in range(4):
        request = urllib.request.Request(f"{cluster.lb_url}/socket.io/?EIO=4&transport=polling",
                                         headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and response.read().startswith(b"0{")  # a handshake
    grown = {server: count - before[server] for server, count in cluster.sessions("rasa_socketio").items()}
    assert sorted(grown.values()) == [0, 4], f"one client's socket.io requests were spread: {grown}"
