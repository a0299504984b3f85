"""Replay: a one-time code used again (in a new conversation, in another customer's conversation),
a code moved between conversations of the same customer, and a verified conversation's id
replayed on another channel. Bulk customers 960..969, so no demo customer is ever locked."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.widget import Widget, widget_origin
from tests.security.test_attacks_support import (
    assert_nothing_disclosed, bulk, bulk_customer, new_sender, say, verified_sessions, verify_over_rest,
)

pytestmark = pytest.mark.e2e
__all__ = ["bulk"]


def identified(running: RunningStack, sender: str, customer: dict[str, str]) -> None:
    """Up to the point where a code has just been emailed to the customer."""
    say(running, sender, "what's my balance")
    say(running, sender, customer["account_number"])
    assert "email" in say(running, sender, customer["zip_code"]).lower()
    assert "code" in say(running, sender, "email").lower()


def test_a_used_code_does_not_verify_a_second_conversation(running: RunningStack, bulk: RunningStack) -> None:
    """The attacker saw the code the customer used (shoulder, shared screen) and replays it in
    a conversation of their own after identifying the customer."""
    customer = bulk_customer(960)
    first = new_sender("replay-1")
    code, answer = verify_over_rest(running, first, customer["account_number"], customer["zip_code"],
                                    customer["email"])
    assert "verified" in answer.lower() and verified_sessions(running, first)
    attacker = new_sender("replay-2")
    identified(running, attacker, customer)
    answers = say(running, attacker, code) + " " + say(running, attacker, "what's my balance")
    assert verified_sessions(running, attacker) == []
    assert "verified" not in answers.lower().replace("not verified", "")
    assert_nothing_disclosed(answers)


def test_a_used_code_typed_again_in_the_same_conversation_after_a_restart_does_nothing(
        running: RunningStack, bulk: RunningStack) -> None:
    customer = bulk_customer(961)
    sender = new_sender("replay-same")
    code, _ = verify_over_rest(running, sender, customer["account_number"], customer["zip_code"],
                               customer["email"])
    say(running, sender, "/restart")  # verification ends with the session
    assert [s for s in verified_sessions(running, sender)]  # the old, now ended, row only
    answers = say(running, sender, code) + " " + say(running, sender, "what's my balance")
    assert "$" not in answers and "account number" in answers.lower()


def test_a_code_for_one_customer_does_not_verify_another_customers_conversation(
        running: RunningStack, bulk: RunningStack) -> None:
    """The attacker holds their own fresh code and types it while impersonating a victim."""
    attacker, victim = bulk_customer(962), bulk_customer(963)
    own = new_sender("own")
    identified(running, own, attacker)
    attackers_code = running.latest_code(attacker["email"])
    impersonation = new_sender("impersonate")
    identified(running, impersonation, victim)
    answers = say(running, impersonation, attackers_code)
    answers += " " + say(running, impersonation, "what's my balance")
    assert verified_sessions(running, impersonation) == []
    assert "Customer000963" not in answers and "$" not in answers


def test_a_code_sent_to_one_conversation_does_not_verify_another_conversation_of_that_customer(
        running: RunningStack, bulk: RunningStack) -> None:
    """Two conversations identified as the same customer; the code of the first, typed in the
    second (whose own code was never asked for), must not count there."""
    customer = bulk_customer(964)
    first = new_sender("code-a")
    identified(running, first, customer)
    code = running.latest_code(customer["email"])
    second = new_sender("code-b")
    say(running, second, "what's my balance")
    say(running, second, customer["account_number"])
    say(running, second, customer["zip_code"])
    answers = say(running, second, code) + " " + say(running, second, "what's my balance")
    assert verified_sessions(running, second) == []
    assert_nothing_disclosed(answers)


async def test_a_verified_rest_conversation_id_cannot_be_replayed_from_the_widget(
        running: RunningStack, bulk: RunningStack) -> None:
    """The widget asks for the id of a verified REST conversation: it gets a new one, unverified."""
    customer = bulk_customer(965)
    sender = new_sender("rest-verified")
    verify_over_rest(running, sender, customer["account_number"], customer["zip_code"], customer["email"])
    widget = Widget(running, widget_origin(running))
    try:
        confirmed = await widget.open(session_id=sender)
        assert not confirmed.startswith(sender)
        reply = await widget.say("what's my balance")
        assert "$" not in reply and "Customer000965" not in reply
    finally:
        await widget.close()
