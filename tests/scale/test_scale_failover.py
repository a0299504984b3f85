"""Payments under load while a Rasa replica and an action server crash: none lost, none doubled.

Several customers verify and pay at once through the load balancer; part way through, one Rasa
replica and one action server are killed (SIGKILL, as in a crash). A customer whose message got
no answer sends it again, as people do. Afterwards every conversation that received a payment
confirmation has exactly that one payment in the account store, none has two (the payment's
idempotency key is fixed when the form starts), and every answered message is in the tracker once.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import pytest

from tests.scale.cluster import BULK_CUSTOMERS, Cluster, lb_server
from tests.scale.conversations import (
    Unanswered,
    bulk_customer,
    confirmation_number,
    say,
    stored_as,
    verify_and_pay,
)
from tests.scale.stores import chat_payments, latest_code, stored_turns

pytestmark = [pytest.mark.e2e, pytest.mark.kills_servers]
KILLED = ("rasa-2", "actions-2")
SURVIVORS = ("rasa-1", "actions-1")
STEPS = 10  # of verify_and_pay
KILL_AFTER = 0.4  # of all the run's messages answered
TRIES = 3  # a customer sends an unanswered message again, twice at most


@dataclass
class Conversation:
    index: int
    sender: str
    attempts: list[tuple[str, bool]] = field(default_factory=list)  # (text, answered)
    confirmation: Optional[str] = None
    gave_up: Optional[str] = None


@dataclass
class Progress:
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one_more(self) -> None:
        with self.lock:
            self.answered += 1


def converse(cluster: Cluster, conversation: Conversation, progress: Progress) -> None:
    customer = bulk_customer(conversation.index)
    replies: list[str] = []
    for step in verify_and_pay(customer["account_number"], customer["zip_code"],
                               lambda: latest_code(cluster.stores, customer["email"])):
        text = step.say()
        for _ in range(TRIES):
            try:
                replies = say(cluster.lb_url, conversation.sender, text)
            except Unanswered:
                conversation.attempts.append((text, False))
                time.sleep(1)
                continue
            conversation.attempts.append((text, True))
            progress.one_more()
            break
        else:
            conversation.gave_up = f"{text!r} never answered"
            return
        if not any(step.expect in reply for reply in replies):
            conversation.gave_up = f"{text!r} answered {replies}"
            return
    conversation.confirmation = confirmation_number(replies)


def stored_consistently(stored: list[str], attempts: list[tuple[str, bool]]) -> bool:
    """Whether the tracker's user messages are the answered attempts, in order, each once, plus
    possibly unanswered ones (a replica that stored a turn and crashed before answering)."""
    if not attempts:
        return not stored
    (text, answered), rest = attempts[0], attempts[1:]
    if stored and stored_as(stored[0], text) and stored_consistently(stored[1:], rest):
        return True
    return not answered and stored_consistently(stored, rest)


def balancer_status(cluster: Cluster, wait: float = 15.0) -> dict[str, str]:
    """HAProxy's status of each Rasa and action server, once it has marked the killed ones
    down or `wait` seconds have passed. Its health check needs two failures a second apart, and
    a fast run can end before that."""
    deadline = time.monotonic() + wait
    while True:
        servers = {server: row["status"] for (backend, server), row in cluster.servers().items()
                   if backend in ("rasa", "actions")}
        if all(servers[lb_server(name)].startswith("DOWN") for name in KILLED) \
                or time.monotonic() > deadline:
            return servers
        time.sleep(0.5)


def test_no_payment_is_lost_or_doubled_when_a_replica_and_an_action_server_crash(cluster: Cluster) -> None:
    conversations = [Conversation(i, f"scale-load-{i}") for i in range(BULK_CUSTOMERS)]
    progress = Progress()
    threads = [threading.Thread(target=converse, args=(cluster, c, progress)) for c in conversations]

    def arrive() -> None:  # one after another, so they are at different steps at the crash
        for thread in threads:
            thread.start()
            time.sleep(0.5)
    arrivals = threading.Thread(target=arrive)
    arrivals.start()  # the crash may come before the last customers arrive: a fast stack
    while progress.answered < KILL_AFTER * STEPS * len(conversations):
        assert arrivals.is_alive() or any(t.is_alive() for t in threads), (
            "the run ended before the crash")
        time.sleep(0.05)
    for name in KILLED:
        cluster.kill(name)
    unfinished = [c.sender for c, t in zip(conversations, threads)
                  if t.is_alive() or t.ident is None]  # running, or not arrived yet
    survivors_before = {**cluster.sessions("rasa"), **cluster.sessions("actions")}
    arrivals.join()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "conversations still waiting for answers"

    servers = balancer_status(cluster)
    assert all(servers[lb_server(name)].startswith("DOWN") for name in KILLED), servers
    survivors_after = {**cluster.sessions("rasa"), **cluster.sessions("actions")}
    for name in SURVIVORS:
        assert survivors_after[lb_server(name)] > survivors_before[lb_server(name)], (
            f"{name} took nothing after the crash")
    assert unfinished, "every conversation had finished before the crash"

    confirmed = [c for c in conversations if c.confirmation]
    assert any(c.sender in unfinished for c in confirmed), (
        "no conversation running at the crash got its payment through: "
        + "; ".join(f"{c.sender}: {c.gave_up}" for c in conversations if c.gave_up))
    for conversation in conversations:
        paid = chat_payments(cluster.stores, bulk_customer(conversation.index)["account_number"])
        if conversation.confirmation:
            assert paid == [conversation.confirmation], f"{conversation.sender} confirmed, store has {paid}"
        else:
            assert len(paid) <= 1, f"{conversation.sender} paid {len(paid)} times: {paid}"
        stored = [turn.user_text for turn in stored_turns(cluster.stores, conversation.sender)]
        assert stored_consistently(stored, conversation.attempts), (
            f"{conversation.sender}: sent {conversation.attempts}, stored {stored}")
