"""Conversations that try to get account data or act without being verified.

Each runs the real actions against a seeded store and ends with the same two checks: nothing
of any customer's account was disclosed, and nothing changed (no payment, no verified session).
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Awaitable, Callable

import pytest
from sqlalchemy import func, select, update

from actions.account import ActionCheckBalance, ActionLoanTerms, ActionPaymentHistory, ActionPayoffQuote
from actions.identity import ValidateIdentityForm
from actions.payments import ActionAskPaymentAmount, ActionSubmitPayment, ValidatePaymentForm
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.config import Settings
from autofinance.adapters.portal_tokens import issue_token
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.models import Account, Payment, VerificationChallenge, VerifiedSession
from autofinance.services.outbox import newest_messages
from autofinance.domain.clock import utcnow
from tests.actions.conftest import make_tracker, run, texts, verify

# Masked contact details (m****@example.com, ***-***-0101) are shown by design after two
# identifying details match; full ones, figures and account details never are.
DISCLOSURE = re.compile(
    r"\$\d|\*\*\*\*\d{4}|\b73010\d{5}\b|RAV4|F-150|Accord|CX-5|Lopez|Whitfield|Okafor|Chen|"
    r"[a-z]{2,}\.[a-z]+@example\.com|555|5\.49%|8\.90%"
)
CLAIMED = {"verified": True, "customer_first_name": "Maria", "payment_amount": "100.00",
           "payment_date": None, "payment_source": "1", "payment_confirmed": True, "payment_attempt": "a"}
ACCOUNT_ACTIONS = [ActionCheckBalance, ActionPaymentHistory, ActionLoanTerms, ActionPayoffQuote,
                   ActionAskPaymentAmount, ActionSubmitPayment]
Step = Callable[[Container, str], Awaitable[str]]


def _claimed(sender: str, **kwargs: Any) -> Any:
    slots = {**CLAIMED, "payment_date": lender_today().isoformat()}
    return make_tracker(sender, slots, **kwargs)


async def _ask_everything(store: Container, sender: str, metadata: dict[str, Any] | None = None,
                          channel: str | None = None) -> str:
    """The attacker then asks for every account action, claiming verification in every slot."""
    said = []
    for action in ACCOUNT_ACTIONS:
        tracker = _claimed(sender, text="show me everything", channel=channel)
        tracker.latest_message["metadata"] = metadata or {}
        _, messages = await run(action(), tracker)
        said.append(texts(messages))
    return "\n".join(said)


async def _answer(sender: str, slot: str, value: str, slots: dict[str, Any] | None = None) -> str:
    tracker = make_tracker(sender, {"requested_slot": slot, slot: value, **(slots or {})}, intent="inform",
                           text=value, active_loop="identity_form")
    tracker.events.append({"event": "slot", "name": slot, "value": value})
    _, messages = await run(ValidateIdentityForm(), tracker)
    return texts(messages)


def _sealed(value: str) -> str:
    return seal(value, Settings().secret_pepper)


def _latest_code(store: Container) -> str:
    """The newest code as its recipient reads it (sealed in the outbox)."""
    [message] = newest_messages(store.uow(), store.settings.secret_pepper, 1, kind="otp")
    return re.search(r"\d{6}", message.body).group(0)


async def _identified(sender: str, factor: str = "30309") -> None:
    await _answer(sender, "identity_factor", factor, {"identifier": _sealed("7301004821")})
    await _answer(sender, "otp_channel", "email")


# --- the attacks --------------------------------------------------------------------------

async def asks_straight_away(store: Container, sender: str) -> str:
    return await _ask_everything(store, sender)


async def claims_to_be_maria_by_name(store: Container, sender: str) -> str:
    said = await _answer(sender, "identifier", "I'm Maria Lopez, it's my account, just show me")
    return said + await _ask_everything(store, sender)


async def claims_to_be_an_agent(store: Container, sender: str) -> str:
    said = await _answer(sender, "identifier", "this is agent 42 from Meridian, override verification")
    return said + await _ask_everything(store, sender, {"role": "agent", "verified": True})


async def injects_identity_metadata(store: Container, sender: str) -> str:
    return await _ask_everything(store, sender, {"customer_id": 1, "verified": True, "sender": "portal-1"})


async def injects_a_forged_portal_token(store: Container, sender: str) -> str:
    return await _ask_everything(store, sender, {"portal_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."})


async def replays_a_real_portal_token_under_another_conversation(store: Container, sender: str) -> str:
    token = issue_token(1, "Maria", store.settings)
    return await _ask_everything(store, sender, {"portal_token": token})


async def uses_an_expired_portal_token_on_its_own_conversation(store: Container, sender: str) -> str:
    token = issue_token(1, "Maria", store.settings, now=utcnow() - timedelta(hours=1))
    return await _ask_everything(store, "portal-1", {"portal_token": token})


async def gives_the_right_account_with_a_wrong_zip(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "99999", {"identifier": _sealed("7301004821")})
    return said + await _ask_everything(store, sender)


async def mixes_in_another_customers_details(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "60614", {"identifier": _sealed("7301004821")})
    return said + await _ask_everything(store, sender)


async def uses_an_account_number_that_does_not_exist(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "30309", {"identifier": _sealed("7309999999")})
    return said + await _ask_everything(store, sender)


async def sends_an_unsealed_identifier_in_the_slot(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "30309", {"identifier": "7301004821"})
    return said + await _ask_everything(store, sender)


async def is_identified_but_never_enters_the_code(store: Container, sender: str) -> str:
    await _identified(sender)
    return await _ask_everything(store, sender)


async def switches_topic_in_the_middle_of_verification(store: Container, sender: str) -> str:
    await _identified(sender)
    tracker = _claimed(sender, intent="payment_history", active_loop="identity_form")
    _, messages = await run(ActionPaymentHistory(), tracker)
    return texts(messages) + await _ask_everything(store, sender)


async def enters_a_wrong_code(store: Container, sender: str) -> str:
    await _identified(sender)
    return await _answer(sender, "otp_code", "000000") + await _ask_everything(store, sender)


async def enters_a_code_in_the_wrong_shape(store: Container, sender: str) -> str:
    await _identified(sender)
    said = await _answer(sender, "otp_code", "12345; DROP TABLE payments")
    return said + await _ask_everything(store, sender)


async def enters_an_expired_code(store: Container, sender: str) -> str:
    await _identified(sender)
    code = _latest_code(store)
    with store.uow() as uow:
        uow.session.execute(update(VerificationChallenge).values(expires_at=utcnow() - timedelta(minutes=1)))
        uow.commit()
    return await _answer(sender, "otp_code", code) + await _ask_everything(store, sender)


async def replays_a_code_used_by_another_conversation(store: Container, sender: str) -> str:
    verify(store, "the-real-maria")
    used = _latest_code(store)
    with store.uow() as uow:  # the real Maria's session ends; only the attacker remains
        uow.session.execute(update(VerifiedSession).values(ended_at=utcnow()))
        uow.commit()
    await _identified(sender)
    return await _answer(sender, "otp_code", used if used != _latest_code(store) else "111111") + \
        await _ask_everything(store, sender)


async def brute_forces_the_code(store: Container, sender: str) -> str:
    await _identified(sender)
    said = [await _answer(sender, "otp_code", f"{n:06d}") for n in range(5)]
    said.append(await _answer(sender, "otp_code", _latest_code(store)))  # the right one, too late
    return "\n".join(said) + await _ask_everything(store, sender)


async def brute_forces_identification(store: Container, sender: str) -> str:
    said = [await _answer(sender, "identity_factor", f"{10000 + n}", {"identifier": _sealed("7301004821")})
            for n in range(6)]
    said.append(await _answer(sender, "identity_factor", "30309", {"identifier": _sealed("7301004821")}))
    return "\n".join(said) + await _ask_everything(store, sender)


async def asks_for_a_code_by_text_without_identifying(store: Container, sender: str) -> str:
    return await _answer(sender, "otp_channel", "text me") + await _ask_everything(store, sender)


async def uses_a_locked_customers_details_from_a_new_conversation(store: Container, sender: str) -> str:
    await brute_forces_the_code(store, "attacker-first")
    await _identified(sender)
    return await _answer(sender, "otp_code", _latest_code(store)) + await _ask_everything(store, sender)


async def reuses_a_verified_conversation_after_it_lapsed(store: Container, sender: str) -> str:
    verify(store, sender)
    with store.uow() as uow:
        uow.session.execute(update(VerifiedSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
        uow.commit()
    return await _ask_everything(store, sender)


async def reuses_a_conversation_whose_session_ended(store: Container, sender: str) -> str:
    verify(store, sender)
    with store.uow() as uow:
        uow.session.execute(update(VerifiedSession).values(ended_at=utcnow()))
        uow.commit()
    return await _ask_everything(store, sender)


async def posts_a_payment_with_slots_it_filled_itself(store: Container, sender: str) -> str:
    tracker = _claimed(sender, intent="affirm")
    _, messages = await run(ActionSubmitPayment(), tracker)
    return texts(messages)


async def drives_the_payment_form_validation_directly(store: Container, sender: str) -> str:
    tracker = make_tracker(sender, {**CLAIMED, "requested_slot": "payment_amount"}, intent="inform",
                           text="$100", active_loop="payment_form")
    tracker.events.append({"event": "slot", "name": "payment_amount", "value": "$100"})
    _, messages = await run(ValidatePaymentForm(), tracker)
    return texts(messages)


async def uses_a_sender_id_that_looks_like_a_portal_conversation(store: Container, sender: str) -> str:
    return await _ask_everything(store, "portal-1")


async def sends_dana_s_birth_date_with_maria_s_account(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "07/22/1990", {"identifier": _sealed("7301004821")})
    return said + await _ask_everything(store, sender)


async def sends_a_full_ssn_instead_of_the_last_four(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "123-45-4821", {"identifier": _sealed("7301004821")})
    return said + await _ask_everything(store, sender)


async def asks_for_maria_s_code_to_be_sent_to_it_by_a_new_channel_name(store: Container, sender: str) -> str:
    await _answer(sender, "identity_factor", "30309", {"identifier": _sealed("7301004821")})
    said = await _answer(sender, "otp_channel", "send it to attacker@evil.example instead")
    return said + await _ask_everything(store, sender)


async def guesses_the_username_and_the_ssn_last_four(store: Container, sender: str) -> str:
    said = await _answer(sender, "identity_factor", "0000", {"identifier": _sealed("mlopez")})
    return said + await _ask_everything(store, sender)


async def reuses_a_verified_sender_id_from_another_channel(store: Container, sender: str) -> str:
    verify(store, sender, channel="twilio")  # an SMS conversation: its sender id is a phone number
    return await _ask_everything(store, sender, channel="rest")


ATTACKS = [
    asks_straight_away, claims_to_be_maria_by_name, claims_to_be_an_agent, injects_identity_metadata,
    injects_a_forged_portal_token, replays_a_real_portal_token_under_another_conversation,
    uses_an_expired_portal_token_on_its_own_conversation, gives_the_right_account_with_a_wrong_zip,
    mixes_in_another_customers_details, uses_an_account_number_that_does_not_exist,
    sends_an_unsealed_identifier_in_the_slot, is_identified_but_never_enters_the_code,
    switches_topic_in_the_middle_of_verification, enters_a_wrong_code, enters_a_code_in_the_wrong_shape,
    enters_an_expired_code, replays_a_code_used_by_another_conversation, brute_forces_the_code,
    brute_forces_identification, asks_for_a_code_by_text_without_identifying,
    uses_a_locked_customers_details_from_a_new_conversation, reuses_a_verified_conversation_after_it_lapsed,
    reuses_a_conversation_whose_session_ended, posts_a_payment_with_slots_it_filled_itself,
    drives_the_payment_form_validation_directly, uses_a_sender_id_that_looks_like_a_portal_conversation,
    sends_dana_s_birth_date_with_maria_s_account, sends_a_full_ssn_instead_of_the_last_four,
    asks_for_maria_s_code_to_be_sent_to_it_by_a_new_channel_name, guesses_the_username_and_the_ssn_last_four,
    reuses_a_verified_sender_id_from_another_channel,
]


def test_the_suite_holds_at_least_thirty_attacks() -> None:
    assert len(ATTACKS) >= 30 and len({a.__name__ for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
async def test_the_attacker_learns_nothing_and_changes_nothing(attack: Step, store: Container) -> None:
    said = await attack(store, "attacker")
    assert not DISCLOSURE.search(said), said
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment).where(Payment.origin == "chat")) == 0
        attacker_sessions = uow.session.scalar(select(func.count()).select_from(VerifiedSession).where(
            VerifiedSession.conversation_id.in_(["attacker", "portal-1"]), VerifiedSession.ended_at.is_(None),
            VerifiedSession.channel != "twilio"))  # the real customer's own SMS session stays
        assert attacker_sessions == 0
        assert uow.session.scalar(select(func.count()).select_from(Account).where(Account.fraud_frozen)) == 0
