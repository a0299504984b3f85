"""Playing scenarios: the embedded stack started once, then for each scenario a fresh customer
copy, its turns (with the simulated customer's own answers in between), and the verdict."""
from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from autofinance.adapters.store.db import UnitOfWork, make_engine, session_factory
from autofinance.adapters.store.models import Account, OutboxMessage
from autofinance.config import Settings
from autofinance.demo.seed import DEMO_CUSTOMERS
from autofinance.services.outbox import newest_messages
from evaluation.conversations.channels import (
    TWILIO_SID,
    TWILIO_TOKEN,
    Channel,
    ChannelError,
    RestChannel,
    SmsChannel,
    twilio_env,
)
from evaluation.conversations.clones import account_figures, clone_demo_customer, derived
from evaluation.conversations.customer import LoopGuard, SimulatedCustomer
from evaluation.conversations.effects import happened, snapshot
from evaluation.conversations.judge import Line, Result, expect_any_met, judge
from evaluation.conversations.placeholders import CustomerDetails, fill
from evaluation.conversations.prompts import CODE, recognise
from evaluation.conversations.scenarios import Expectation, Scenario
from tests.e2e.conftest import RunningStack, start_stack
from tests.e2e.platform_fakes import FakeTwilio

CODE_IN_BODY = re.compile(r"\b(\d{6})\b")


class StackDidNotStart(RuntimeError):
    """The stack did not start, or one of its services exited during the run."""


@dataclass
class Played:
    transcript: list[Line]
    turns_used: int
    stopped: Optional[str]


def play(scenario: Scenario, send: Callable[[str], list[str]], customer: SimulatedCustomer,
         details: Optional[CustomerDetails]) -> Played:
    """Sends the writer's messages in order; after each, answers verification prompts by itself
    (each answer a turn) until the assistant asks for none; checks each `expect_any` against the
    replies since the message before it. Stops at the first check that fails, a loop, or an error."""
    transcript: list[Line] = []
    used = 0
    since: list[str] = []
    last_message = ""

    def say(text: str, auto: str = "") -> list[str]:
        nonlocal used
        used += 1
        transcript.append(Line("customer", text, auto))
        replies = send(text)
        transcript.extend(Line("assistant", reply) for reply in replies)
        return replies

    try:
        for turn in scenario.turns:
            if isinstance(turn, Expectation):
                expected = [fill(text, details) for text in turn.expect_any]
                if not expect_any_met(expected, since):
                    return Played(transcript, used, f"expect_any after {last_message!r}: none of "
                                                    f"{expected} in the replies")
                continue
            last_message = fill(turn, details)
            replies = say(last_message)
            since = list(replies)
            while True:
                kind = recognise(replies)
                answer = customer.answer(kind)
                if answer is None:
                    break
                replies = say(answer, auto=kind or "")
                since += replies
    except LoopGuard as error:
        return Played(transcript, used, f"loop: {error}")
    except (ChannelError, OSError, ValueError) as error:
        return Played(transcript, used, f"error: {type(error).__name__}: {error}")
    return Played(transcript, used, None)


class Suite:
    """The running stack and the store it uses, for playing scenarios one after another."""

    def __init__(self, running: RunningStack, twilio: FakeTwilio) -> None:
        self.running, self.twilio = running, twilio
        self.settings = Settings.from_env(running.env)
        self.engine: Engine = make_engine(running.env["DATABASE_URL"])
        self.sessions = session_factory(self.engine)
        with self.sessions() as session:
            self.nobody_figures = tuple(sorted({f for demo in DEMO_CUSTOMERS for f in account_figures(
                session, session.scalar(select(Account.customer_id).where(
                    Account.account_number == demo.account_number)), self.today())}))

    def today(self):  # noqa: ANN201 - a date
        return datetime.now(ZoneInfo(self.settings.lender_timezone)).date()

    def read_code(self, customer_id: int, details: CustomerDetails) -> Callable[[str], Optional[str]]:
        """The newest code in this customer's outbox: a verification code (to the email or
        mobile on file) or a contact-change code (to wherever it was sent)."""
        pepper = self.settings.secret_pepper

        def newest(kind: str) -> Optional[str]:
            wanted = "otp" if kind == CODE else "contact_change_code"
            with self.sessions() as session:
                row = session.scalar(select(OutboxMessage).where(
                    OutboxMessage.customer_id == customer_id, OutboxMessage.kind == wanted,
                ).order_by(OutboxMessage.id.desc()).limit(1))
                to = row.to if row is not None else None
            if to is None:
                return None
            messages = newest_messages(UnitOfWork(self.sessions), pepper, 1, to=to, kind=wanted)
            match = CODE_IN_BODY.search(messages[0].body if messages else "")
            return match.group(1) if match else None

        return newest

    def channel(self, scenario: Scenario, details: Optional[CustomerDetails]) -> Channel:
        port = int(self.running.env["RASA_PORT"])
        if scenario.channel == "sms":
            mobile = details.mobile if details else f"+1555{derived(scenario.id, 'mobile') % 10**7:07d}"
            return SmsChannel(port, self.twilio, mobile)
        return RestChannel(port, scenario.id, self.running.env.get("REST_GATEWAY_TOKEN", ""))

    def run(self, scenario: Scenario) -> Result:
        details, customer_id = None, None
        with self.sessions() as session:
            if scenario.customer != "nobody":
                clone = clone_demo_customer(session, scenario.customer, seed=scenario.id)
                session.commit()
                details, customer_id = clone.details, clone.customer_id
                figures = account_figures(session, customer_id, self.today())
            else:
                figures = self.nobody_figures
        channel = self.channel(scenario, details)
        with self.sessions() as session:
            before = snapshot(session, customer_id, channel.conversation_id)
        reader = self.read_code(customer_id, details) if details else (lambda kind: None)
        customer = SimulatedCustomer(details, scenario.identify_with, scenario.factor, reader)
        played = play(scenario, channel.send, customer, details)
        with self.sessions() as session:
            after = snapshot(session, customer_id, channel.conversation_id)
        effects = happened(before, after)
        never_said = [fill(t, details) for t in scenario.never_said]
        success = scenario.success
        if details is not None:
            success = type(success)(tuple(fill(t, details) for t in success.said_any),
                                    tuple(fill(t, details) for t in success.said_all),
                                    success.effects, success.amount)
        verdict = judge(success, never_said, played.transcript, effects, figures,
                        never_verifies=scenario.customer == "nobody", stopped=played.stopped)
        return Result(scenario.id, scenario.flow, scenario.channel, scenario.style,
                      scenario.customer, scenario.source, scenario.fewest_turns, played.turns_used,
                      verdict.success, verdict.failures, verdict.data_before_verification,
                      sorted(effects), played.transcript)

    def close(self) -> None:
        self.engine.dispose()


def started_suite(work: Path) -> Iterator[Suite]:
    """The embedded stack (demo profile, a fresh store under `work`, the Twilio SMS channel on,
    talking to a FakeTwilio), as tests/e2e starts it; stopped when the generator closes."""
    twilio = FakeTwilio(TWILIO_SID, TWILIO_TOKEN).start()
    stack = start_stack(work, {"DATABASE_URL": f"sqlite:///{work / 'accounts.db'}",
                               "ASSISTANT_PROFILE": "demo", "DEMO_MODE": "true",
                               "LOG_LEVEL": "WARNING", **twilio_env(twilio)})
    try:
        try:
            running = next(stack)
        except pytest.fail.Exception as error:  # start_stack reports through pytest.fail
            raise StackDidNotStart(str(error)) from None
        suite = Suite(running, twilio)
        try:
            yield suite
        finally:
            suite.close()
    finally:
        stack.close()
        twilio.stop()


def run_all(scenarios: Sequence[Scenario], progress: Callable[[Result], None] = lambda r: None,
            work: Optional[Path] = None) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="eval-conversations-") as tmp:
        if work is not None:
            work.mkdir(parents=True, exist_ok=True)
        suite_gen = started_suite(Path(work or tmp))
        suite = next(suite_gen)
        try:
            for scenario in scenarios:
                stopped = suite.running.stack.exited()
                if stopped is not None:
                    raise StackDidNotStart(f"the {stopped.name} service exited during the run "
                                           f"(after {len(results)} scenarios)")
                result = suite.run(scenario)
                results.append(result)
                progress(result)
        finally:
            suite_gen.close()
    return results


def print_progress(result: Result) -> None:
    mark = "ok  " if result.success else "FAIL"
    why = "" if result.success else f"  ({result.failures[0]})"
    print(f"  {mark} {result.id}  [{result.turns_used}/{result.fewest_turns} turns]{why}",
          file=sys.stdout, flush=True)
