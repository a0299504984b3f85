"""The one guard: every registered action that touches account data refuses the unverified."""
from __future__ import annotations

import re

import pytest
from rasa_sdk.executor import ActionExecutor
from sqlalchemy import func, select

from actions.runtime import AccountAction, AccountFormValidation
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import OutboxMessage, Payment, VerifiedSession
from tests.actions.conftest import make_tracker, run, texts

# The way in and the way out: these run before verification and show no account data.
PUBLIC_ACTIONS = {
    "action_remember_task",
    "validate_identity_form",
    "action_ask_otp_channel",
    "action_identity_submit",
    "action_cancel_task",
    "action_handoff",
    "action_handle_misunderstanding",
    "action_session_start",
    "action_submit_fraud_report",  # anyone may report; only a verified reporter's report freezes
    "action_record_followup",  # a masked contact only for a ticket opened while verified
    "action_handoff_return",
    "action_restart",
    "action_answer_second_question",
    "action_sms_keyword",  # STOP/HELP/START: the SMS number itself, vouched for by Twilio's signature
    "action_reminder_reply",  # marks the reminder to this address answered; account data only after verification
    "action_reminder_call",  # a call-back to the number the reminder went to; says only its masked form
    "action_refuse_card_number",  # says card numbers are never taken in chat; reads nothing
    "action_start_fraud_report",  # anyone may report; it reads only the message it answers  # a common answer; an account one only once verified (checked)
}
ACCOUNT_DATA = re.compile(r"\$\d|\*\*\*\*\d{4}|\d{10}|Toyota|RAV4|Maria|Lopez|@example\.com")


def registered_actions() -> dict[str, object]:
    executor = ActionExecutor()
    executor.register_package("actions")
    return {name: executor.actions[name].__self__ for name in executor.actions}


def guarded_action_names() -> list[str]:
    return sorted(set(registered_actions()) - PUBLIC_ACTIONS)


def test_every_registered_action_is_public_by_name_or_guarded_by_its_base_class() -> None:
    for name, action in registered_actions().items():
        assert name in PUBLIC_ACTIONS or isinstance(action, (AccountAction, AccountFormValidation)), (
            f"{name} is neither guarded nor declared public"
        )


def test_the_guard_covers_the_account_actions_we_know_of() -> None:
    names = set(guarded_action_names())
    assert {"action_check_balance", "action_submit_payment", "validate_payment_form",
            "action_payoff_quote", "action_ask_payment_amount"} <= names


@pytest.mark.parametrize("name", guarded_action_names())
async def test_an_unverified_conversation_gets_no_account_data_and_changes_nothing(
    name: str, store: Container
) -> None:
    action = registered_actions()[name]
    # The customer claims to be verified in every slot they could influence.
    tracker = make_tracker(
        sender_id="intruder",
        slots={"verified": True, "customer_first_name": "Maria", "payment_amount": "100.00",
               "payment_date": "2026-12-01", "payment_source": "1", "payment_confirmed": True,
               "payment_attempt": "x", "requested_slot": "payment_amount"},
        intent="make_payment",
        text="7301004821 pay 100 now",
        active_loop="payment_form" if name.startswith("validate_") else None,
    )
    with store.uow() as uow:
        before = [uow.session.scalar(select(func.count()).select_from(t)) for t in (Payment, OutboxMessage)]

    events, messages = await run(action, tracker)

    assert not ACCOUNT_DATA.search(texts(messages)), texts(messages)
    assert any(e.get("event") == "slot" and e.get("name") == "verified" and e.get("value") is False
               for e in events)
    assert {"event": "followup", "name": "identity_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    with store.uow() as uow:
        after = [uow.session.scalar(select(func.count()).select_from(t)) for t in (Payment, OutboxMessage)]
        assert uow.session.scalar(select(func.count()).select_from(VerifiedSession)) == 0
    assert after == before
