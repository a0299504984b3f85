"""Each dependency stopped, restarted and slowed under a steady load: nothing lost or doubled.

Six simulated customers verify (code from the outbox), pay $25 and start again, through HAProxy
on the production profile with two Rasa replicas, for the whole run. In turn: PostgreSQL, Redis
and RabbitMQ are stopped for `OUTAGE_SECONDS` and come back (through their proxies), one action
server, one Rasa replica and the web app are killed and started again, and PostgreSQL is slowed
and Redis made to drop connections. A customer whose message is not answered sends it again a
second later, as people do.

Every message must get its answer or the polite apology (never silence, never a trace); every
payment confirmed to a customer is in the store once and no conversation paid twice; every
answered message is in the tracker store and published to RabbitMQ; after each fault, a new
customer is served normally within `RECOVERY_LIMIT` seconds of the dependency's return.
`reports/faults/report.md` has the table.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

import pika
import pytest
import yaml

from autofinance.entrypoints.stack import PROJECT_ROOT
from tests.faults.conftest import SYNTHETIC_CUSTOMERS, FaultyCluster
from tests.scale.conversations import (
    GATEWAY_TOKEN,
    MARIA,
    bulk_customer,
    confirmation_number,
    verify_and_pay,
)
from tests.scale.stores import chat_payments, latest_code, stored_turns

pytestmark = pytest.mark.e2e
CUSTOMERS = 6
READING_SECONDS = 0.3  # between an answer and the customer's next message
OUTAGE_SECONDS = 8.0
RECOVERY_LIMIT = 10.0
SETTLE_SECONDS = 4.0  # of normal service between faults
TRIES = 30  # a customer sends an unanswered message again, a second apart
APOLOGY = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["responses"][
    "utter_service_trouble"][0]["text"]
APOLOGIES = (APOLOGY, "something went wrong on our side")  # the second: an action's own
REPORT = PROJECT_ROOT / "reports" / "faults" / "report.md"


@dataclass
class Sent:
    at: float
    sender: str
    outcome: str  # answered | apologised | lost
    text: str
    replies: list[str]


@dataclass
class Ledger:
    messages: list[Sent] = field(default_factory=list)
    paid_attempts: list[tuple[float, str, str]] = field(default_factory=list)  # at, account, sender
    confirmations: list[tuple[float, str, str]] = field(default_factory=list)  # at, account, number
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Sent) -> None:
        with self.lock:
            self.messages.append(item)


def send(base_url: str, sender: str, text: str) -> tuple[str, list[str]]:
    """One message through the balancer: its outcome and the texts the customer saw."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{base_url}/webhooks/rest/webhook", data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {GATEWAY_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = [m.get("text", "") for m in json.load(response)]
    except urllib.error.HTTPError as error:  # HAProxy's own answer when a replica failed
        try:
            replies = [m.get("text", "") for m in json.loads(error.read() or b"[]")]
        except ValueError:
            replies = []
        error.close()
    except (urllib.error.URLError, OSError, ValueError):
        return "lost", []
    if not replies:
        return "lost", []
    if any(marker in reply for reply in replies for marker in APOLOGIES):
        return "apologised", replies
    return "answered", replies


class Customer(threading.Thread):
    """One after another, customers who verify and pay, until told to stop."""

    def __init__(self, index: int, cluster: FaultyCluster, ledger: Ledger,
                 stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index, self.cluster, self.ledger, self.stopping = index, cluster, ledger, stopping
        self.accounts: list[str] = []

    def run(self) -> None:
        round_ = 0
        while not self.stopping.is_set():
            synthetic = self.index + CUSTOMERS * round_
            assert synthetic < SYNTHETIC_CUSTOMERS, "the run outlasted the seeded customers"
            round_ += 1
            identity = bulk_customer(synthetic)
            self.accounts.append(identity["account_number"])
            self.converse(f"faults-{self.index}-{round_}", identity)

    def converse(self, sender: str, identity: dict[str, str]) -> None:
        replies: list[str] = []
        steps = verify_and_pay(identity["account_number"], identity["zip_code"],
                               lambda: latest_code(self.cluster.stores, identity["email"]))
        for step in steps:
            text = step.say()
            if step.expect == "Your confirmation number is":
                with self.ledger.lock:
                    self.ledger.paid_attempts.append((time.time(), identity["account_number"], sender))
            time.sleep(READING_SECONDS)
            for _ in range(TRIES):
                outcome, replies = send(self.cluster.lb_url, sender, text)
                self.ledger.add(Sent(time.time(), sender, outcome, text, replies))
                if outcome == "answered":
                    break
                time.sleep(1)
            else:
                return  # the customer gives up on this conversation
            if not any(step.expect in reply for reply in replies):
                return  # the conversation went elsewhere (e.g. after an apology): start again
        number = confirmation_number(replies)
        if number:
            with self.ledger.lock:
                self.ledger.confirmations.append((time.time(), identity["account_number"], number))


def served_normally(cluster: FaultyCluster, probe: int) -> bool:
    """A new customer is answered end to end: the FAQ (tracker, lock, broker), then
    identification (the action servers and the account store)."""
    sender = f"faults-probe-{probe}"
    steps = [("what are your hours", None), ("how much do I owe on my car", "account number"),
             (MARIA["account_number"], "ZIP")]
    for text, expect in steps:
        outcome, replies = send(cluster.lb_url, sender, text)
        if outcome != "answered" or (expect and not any(expect in r for r in replies)):
            return False
    return True


@dataclass
class Fault:
    name: str
    start: Callable[[FaultyCluster], None]
    end: Callable[[FaultyCluster], None]
    back: Callable[[FaultyCluster], bool] = lambda cluster: True  # the dependency has returned
    began: float = 0.0
    returned: float = 0.0
    recovered: Optional[float] = None  # seconds from its return to normal service
    window_end: float = 0.0


def proxy(name: str, action: str, *args: float) -> Callable[[FaultyCluster], None]:
    return lambda cluster: getattr(cluster.proxies[name], action)(*args)


def kill(name: str) -> Callable[[FaultyCluster], None]:
    return lambda cluster: cluster.kill(name)


def restart(name: str) -> Callable[[FaultyCluster], None]:
    return lambda cluster: cluster.restart(name)


def healthy(name: str) -> Callable[[FaultyCluster], bool]:
    return lambda cluster: cluster.healthy(name)


FAULTS = [
    Fault("PostgreSQL stopped", proxy("postgresql", "down"), proxy("postgresql", "up")),
    Fault("Redis stopped", proxy("redis", "down"), proxy("redis", "up")),
    Fault("RabbitMQ stopped", proxy("rabbitmq", "down"), proxy("rabbitmq", "up")),
    Fault("an action server killed", kill("actions-1"), restart("actions-1"), healthy("actions-1")),
    Fault("a Rasa replica killed", kill("rasa-1"), restart("rasa-1"), healthy("rasa-1")),
    Fault("the web app killed", kill("web"), restart("web"), healthy("web")),
    Fault("PostgreSQL slow (+0.2 s a packet)", proxy("postgresql", "slow", 0.2), proxy("postgresql", "up")),
    Fault("Redis dropping 1 connection in 3", proxy("redis", "flaky", 3), proxy("redis", "up")),
]


def published_user_messages(cluster: FaultyCluster) -> Counter[str]:
    """User messages per conversation in the run's RabbitMQ queue (read once, all of it)."""
    counts: Counter[str] = Counter()
    with pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1")) as broker:
        channel = broker.channel()
        for _method, _properties, body in channel.consume(cluster.stores.queue, auto_ack=True,
                                                          inactivity_timeout=3):
            if body is None:
                break
            event = json.loads(body)
            if event.get("event") == "user":
                counts[event.get("sender_id", "")] += 1
    return counts


def write_report(rows: list[dict[str, object]], totals: dict[str, object]) -> None:
    lines = ["# Fault injection", "",
             f"{CUSTOMERS} customers verifying and paying without pause through HAProxy "
             "(production profile: two Rasa replicas, two action servers, PostgreSQL, Redis, "
             f"RabbitMQ); each fault held {OUTAGE_SECONDS:.0f} s. Recovery: from the dependency's "
             "return until a new customer is served normally.", "",
             "| fault | messages sent | answered | apologised | lost | payments attempted | "
             "made | doubled | recovery |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| {name} | {sent} | {answered} | {apologised} | {lost} | {attempted} | "
                     "{made} | {doubled} | {recovery} |".format(**row))
    lines += ["", *[f"- {key}: {value}" for key, value in totals.items()], ""]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines))


def test_every_fault_is_survived_with_nothing_lost_or_doubled(faulty_cluster: FaultyCluster) -> None:
    cluster, ledger, stopping = faulty_cluster, Ledger(), threading.Event()
    customers = [Customer(i, cluster, ledger, stopping) for i in range(CUSTOMERS)]
    for customer in customers:
        customer.start()
        time.sleep(0.3)
    probes = iter(range(10_000))
    try:
        time.sleep(SETTLE_SECONDS * 2)  # everyone under way
        for fault in FAULTS:
            fault.began = time.time()
            fault.start(cluster)
            time.sleep(OUTAGE_SECONDS)
            fault.end(cluster)
            deadline = time.monotonic() + 240
            while not fault.back(cluster):  # a restarted process loads first
                assert time.monotonic() < deadline, f"{fault.name}: never came back"
                time.sleep(0.2)
            fault.returned = time.time()
            while time.time() - fault.returned < RECOVERY_LIMIT * 3:
                if served_normally(cluster, next(probes)):
                    fault.recovered = time.time() - fault.returned
                    break
                time.sleep(0.25)
            time.sleep(SETTLE_SECONDS)
            fault.window_end = time.time()
    finally:
        stopping.set()
        for customer in customers:
            customer.join(timeout=120)

    # --- what the stores say ------------------------------------------------------------------
    confirmed_by_account: dict[str, set[str]] = {}
    for _, account, number in ledger.confirmations:
        confirmed_by_account.setdefault(account, set()).add(number)
    attempts_by_account = Counter(account for _, account, _ in ledger.paid_attempts)
    missing, doubled_by_account = [], {}
    for account in (account for customer in customers for account in customer.accounts):
        stored = chat_payments(cluster.stores, account)
        missing += sorted(confirmed_by_account.get(account, set()) - set(stored))
        doubled_by_account[account] = max(0, len(stored) - attempts_by_account[account])
        assert len(stored) == len(set(stored)), f"one confirmation number stored twice: {stored}"

    answered_by_sender = Counter(m.sender for m in ledger.messages if m.outcome == "answered")
    stored_users: Counter[str] = Counter()
    for sender in answered_by_sender:
        stored_users[sender] = len(stored_turns(cluster.stores, sender))
    published = published_user_messages(cluster)
    unstored = {s: (n, stored_users[s]) for s, n in answered_by_sender.items() if stored_users[s] < n}
    unpublished = sum(max(0, stored_users[s] - published[s]) for s in answered_by_sender)

    # --- the table ----------------------------------------------------------------------------
    rows = []
    for fault in FAULTS:
        inside = [m for m in ledger.messages if fault.began <= m.at < fault.window_end]
        outcomes = Counter(m.outcome for m in inside)
        attempts = [a for a in ledger.paid_attempts if fault.began <= a[0] < fault.window_end]
        made = [c for c in ledger.confirmations if fault.began <= c[0] < fault.window_end]
        doubled = sum(doubled_by_account[account] for _, account, _ in attempts)
        rows.append({"name": fault.name, "sent": len(inside), "answered": outcomes["answered"],
                     "apologised": outcomes["apologised"], "lost": outcomes["lost"],
                     "attempted": len(attempts), "made": len(made), "doubled": doubled,
                     "recovery": "never" if fault.recovered is None else f"{fault.recovered:.1f} s"})
    everything = Counter(m.outcome for m in ledger.messages)
    totals = {"messages in the whole run": len(ledger.messages),
              "answered / apologised / lost": f"{everything['answered']} / "
                                              f"{everything['apologised']} / {everything['lost']}",
              "payments confirmed": len(ledger.confirmations),
              "confirmed payments missing from the store": len(missing),
              "payments doubled": sum(doubled_by_account.values()),
              "answered messages missing from the tracker store": len(unstored),
              "stored user messages not published to RabbitMQ": unpublished}
    write_report(rows, totals)
    with open(REPORT.with_name("messages.jsonl"), "w") as log:  # every message, for a failure's story
        for m in ledger.messages:
            log.write(json.dumps({"at": round(m.at, 3), "sender": m.sender, "outcome": m.outcome,
                                  "text": m.text, "replies": m.replies}) + "\n")
    table = REPORT.read_text()

    # --- the verdicts -------------------------------------------------------------------------
    lost = [m for m in ledger.messages if m.outcome == "lost"]
    assert not lost, f"messages without an answer or an apology:\n{table}\n" + "\n".join(
        f"{m.sender}: {m.text!r}" for m in lost[:10])
    traces = [m for m in ledger.messages for r in m.replies if "Traceback" in r or "Exception" in r]
    assert not traces, traces[:5]
    assert not missing, f"confirmed payments missing from the store: {missing}\n{table}"
    assert not sum(doubled_by_account.values()), f"a conversation paid twice\n{table}"
    assert not unstored, f"answered messages missing from the tracker store: {unstored}\n{table}"
    assert unpublished <= 2 * CUSTOMERS, f"events not published to RabbitMQ\n{table}"  # see README
    slow = [f"{f.name}: {f.recovered}" for f in FAULTS
            if f.recovered is None or f.recovered > RECOVERY_LIMIT]
    assert not slow, f"service not back within {RECOVERY_LIMIT:.0f} s: {slow}\n{table}"
    assert len(ledger.confirmations) >= CUSTOMERS, f"too few payments went through at all\n{table}"
    assert any(row["apologised"] for row in rows), "no fault was noticed: is the proxy in the path?"


def test_the_balancers_apology_is_the_assistants() -> None:
    """HAProxy answers a failed request with the same apology as the assistant (domain.yml)."""
    config = (PROJECT_ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    expected = json.dumps([{"recipient_id": "", "text": APOLOGY}]).replace('"', '\\"')
    for status in (502, 503, 504):
        assert f'http-error status {status} content-type application/json string "{expected}"' in config
