"""A customer signed in on the website reads their account without a code, only with a valid
portal token for this very conversation; changes still need a one-time code."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import func, select

from actions.account import ActionCheckBalance
from actions.conversation import ActionSessionStart
from actions.payments import ActionSubmitPayment
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.adapters.portal_tokens import issue_token, verify_token
from autofinance.adapters.store.models import Account, Payment
from autofinance.domain.clock import utcnow
from tests.actions.conftest import make_tracker, run, texts


def _maria_id(store: Container) -> int:
    with store.uow() as uow:
        return uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301004821"))


def _portal_tracker(sender: str, token: str | None, **kwargs: Any) -> Any:
    tracker = make_tracker(sender, {"verified": True}, **kwargs)
    tracker.latest_message["metadata"] = {"portal_token": token} if token else {}
    return tracker


async def test_a_signed_in_customer_is_greeted_by_name_at_session_start(store: Container) -> None:
    maria = _maria_id(store)
    tracker = make_tracker(f"portal-{maria}", {"session_started_metadata": {
        "portal_token": issue_token(maria, "Maria", store.settings)}})
    events, messages = await run(ActionSessionStart(), tracker)
    assert "Hi Maria, you're signed in" in texts(messages)
    assert {"event": "slot", "name": "verified", "value": True} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]


async def test_a_valid_portal_token_shows_the_balance_without_a_code(store: Container) -> None:
    maria = _maria_id(store)
    token = issue_token(maria, "Maria", store.settings)
    _, messages = await run(ActionCheckBalance(), _portal_tracker(f"portal-{maria}", token))
    assert "$18,420.55" in texts(messages)


async def test_the_same_conversation_id_without_the_token_gets_nothing(store: Container) -> None:
    maria = _maria_id(store)
    await run(ActionCheckBalance(), _portal_tracker(f"portal-{maria}", issue_token(maria, "Maria", store.settings)))
    _, messages = await run(ActionCheckBalance(), _portal_tracker(f"portal-{maria}", None))
    assert "$" not in texts(messages)


async def test_a_token_for_another_conversation_an_expired_or_forged_token_gets_nothing(store: Container) -> None:
    maria = _maria_id(store)
    expired = issue_token(maria, "Maria", store.settings, now=utcnow() - timedelta(hours=2))
    forged = jwt.encode({"sub": str(maria), "iss": "meridian-portal", "aud": "meridian-assistant",
                         "exp": int((utcnow() + timedelta(minutes=5)).timestamp())}, "a-guessed-secret-that-is-long-enough", algorithm="HS256")
    assert verify_token(expired, store.settings) is None and verify_token(forged, store.settings) is None
    for sender, token in (("someone-else", issue_token(maria, "Maria", store.settings)),
                          (f"portal-{maria}", expired), (f"portal-{maria}", forged)):
        _, messages = await run(ActionCheckBalance(), _portal_tracker(sender, token))
        assert "$" not in texts(messages), sender


async def test_a_payment_from_a_portal_session_still_needs_a_code(store: Container) -> None:
    maria = _maria_id(store)
    tracker = _portal_tracker(f"portal-{maria}", issue_token(maria, "Maria", store.settings))
    tracker.slots.update({"payment_amount": "100.00", "payment_date": lender_today().isoformat(),
                          "payment_source": "1", "payment_confirmed": True, "payment_attempt": "p1"})
    events, _ = await run(ActionSubmitPayment(), tracker)
    assert {"event": "followup", "name": "identity_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Payment).where(Payment.origin == "chat")) == 0


async def test_a_signed_in_customer_with_a_loan_and_a_lease_is_asked_which_one(store: Container) -> None:
    """Signed in on the portal, Alex is not asked who he is, only which account (no account
    number came with the sign-in)."""
    with store.uow() as uow:
        alex = uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301009922"))
    token = issue_token(alex, "Alex", store.settings)
    _, messages = await run(ActionCheckBalance(), _portal_tracker(f"portal-{alex}", token))
    assert messages[0]["response"] == "utter_ask_account_choice"
    assert [b["title"] for b in messages[0]["buttons"]] == [
        "loan ****9911 · 2021 Toyota Camry", "lease ****9922 · 2023 Honda CR-V"]
