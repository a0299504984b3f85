"""Fraud reports: a case for anyone; lock, cancel and freeze only for the verified customer."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional

import pytest
from fixtures_store import DANA, MARIA, ROBERT, UowFactory, count, customer_id, source_id
from sqlalchemy import select

from autofinance.config import Settings
from autofinance.services import fraud, payments
from autofinance.services.errors import (
    AccountFrozen, FraudCaseNotFound, FraudCaseNotOpen, FraudTeamOnly, InvalidFraudReport,
)
from autofinance.services.fraud import ADVICE, FraudCaseCleared, FraudReport
from autofinance.adapters.store.models import (
    Account,
    AuditLog,
    FraudCase,
    OnlineCredential,
    OutboxMessage,
    Payment,
)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
STORY = "Someone signed in to my account and scheduled payments I didn't make."


def find_account(uow: Any, account_number: str) -> Account:
    account = uow.session.scalar(select(Account).where(Account.account_number == account_number))
    assert account is not None
    return account


def add_payment(uow_factory: UowFactory, account_number: str, number: str, *,
                status: str = "scheduled", origin: str = "chat",
                age: timedelta = timedelta(days=2)) -> None:
    with uow_factory() as uow:
        account = find_account(uow, account_number)
        uow.session.add(Payment(account_id=account.id, amount=Decimal("100.00"),
                                scheduled_for=date(2026, 12, 10), status=status, origin=origin,
                                confirmation_number=number, created_at=NOW - age))
        uow.commit()


def payment_statuses(uow_factory: UowFactory) -> dict[str, str]:
    with uow_factory() as uow:
        rows = uow.session.execute(select(Payment.confirmation_number, Payment.status))
        return {number: status for number, status in rows}


def account_state(uow_factory: UowFactory, account_number: str) -> tuple[Any, ...]:
    with uow_factory() as uow:
        account = find_account(uow, account_number)
        credential = uow.session.scalar(select(OnlineCredential).where(
            OnlineCredential.customer_id == account.customer_id))
        assert credential is not None
        return (account.fraud_frozen, credential.locked, credential.locked_at,
                credential.sessions_valid_after)


def report(uow_factory: UowFactory, account: Optional[str] = MARIA,
           verified: bool = True, description: str = STORY,
           customer: Optional[int] = None) -> FraudReport:
    who = customer if customer is not None else (
        customer_id(uow_factory, account) if account else None)
    return fraud.report_fraud("conv-1", description, "yesterday evening", who, verified,
                              uow_factory(), now=NOW)


def cases(uow_factory: UowFactory) -> list[FraudCase]:
    with uow_factory() as uow:
        found = list(uow.session.scalars(select(FraudCase)))
        uow.session.expunge_all()  # keep the loaded values after the unit of work closes
        return found


# --- a verified customer ----------------------------------------------------------------------


def test_a_verified_report_locks_online_access_cancels_recent_chat_payments_and_freezes(
    uow_factory: UowFactory,
) -> None:
    add_payment(uow_factory, MARIA, "MPRECENTCHAT")
    add_payment(uow_factory, MARIA, "MPRECENTPORT", origin="portal", age=timedelta(days=6))
    add_payment(uow_factory, MARIA, "MPOLDERCHAT", age=timedelta(days=8))
    add_payment(uow_factory, MARIA, "MPPOSTEDCHAT", status="posted")
    add_payment(uow_factory, MARIA, "MPPENDINGCHT", status="pending")
    add_payment(uow_factory, MARIA, "MPRECENTAUTO", origin="autopay")
    add_payment(uow_factory, MARIA, "MPRECENTFONE", origin="phone")

    result = report(uow_factory)

    assert result.locked_online_access is True
    assert result.cancelled_payments == ("MPRECENTCHAT", "MPRECENTPORT")
    assert result.advice == ADVICE
    assert re.fullmatch(r"FR[A-Z2-7]{8}", result.case_number)
    statuses = payment_statuses(uow_factory)
    assert statuses["MPRECENTCHAT"] == statuses["MPRECENTPORT"] == "cancelled"
    assert statuses["MPOLDERCHAT"] == "scheduled" and statuses["MPPOSTEDCHAT"] == "posted"
    assert statuses["MPPENDINGCHT"] == "pending"
    assert statuses["MPRECENTAUTO"] == statuses["MPRECENTFONE"] == "scheduled"
    assert account_state(uow_factory, MARIA) == (True, True, NOW, NOW)
    [case] = cases(uow_factory)
    assert (case.case_number, case.reporter_verified, case.status) == (
        result.case_number, True, "open")
    assert case.customer_id == customer_id(uow_factory, MARIA)
    assert (case.description, case.occurred, case.conversation_id) == (
        STORY, "yesterday evening", "conv-1")


def test_a_frozen_account_takes_no_new_payment(uow_factory: UowFactory, settings: Settings) -> None:
    report(uow_factory)
    with pytest.raises(AccountFrozen):
        payments.schedule_payment(customer_id(uow_factory, MARIA), Decimal("452.18"),
                                  date(2026, 12, 15), source_id(uow_factory, "6789"), "k",
                                  uow_factory(), settings.public_base_url, TODAY, now=NOW)


def test_the_customer_on_file_is_told_by_email_and_text_without_the_reports_details(
    uow_factory: UowFactory,
) -> None:
    result = report(uow_factory)
    with uow_factory() as uow:
        messages = list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.channel)))
        sent = [(m.kind, m.channel, m.to, m.body) for m in messages]
    assert [(kind, channel, to) for kind, channel, to, _ in sent] == [
        ("fraud_case_opened", "email", "maria.lopez@example.com"),
        ("fraud_case_opened", "sms", "+14045550101"),
    ]
    for *_, body in sent:
        assert result.case_number in body and "If you didn't report this" in body
        assert "scheduled payments" not in body and "yesterday" not in body


def test_the_email_names_the_cancelled_payments_so_a_customer_can_pay_again(
    uow_factory: UowFactory,
) -> None:
    add_payment(uow_factory, MARIA, "MPRECENTCHAT")
    report(uow_factory)
    with uow_factory() as uow:
        email, sms = (uow.session.scalar(select(OutboxMessage.body).where(
            OutboxMessage.channel == channel)) for channel in ("email", "sms"))
    assert email is not None and "MPRECENTCHAT" in email and "pay again" in email
    assert sms is not None and "MPRECENTCHAT" not in sms


def test_another_customers_payments_are_left_alone(uow_factory: UowFactory) -> None:
    add_payment(uow_factory, DANA, "MPDANARECENT")
    assert report(uow_factory).cancelled_payments == ()
    assert payment_statuses(uow_factory)["MPDANARECENT"] == "scheduled"
    assert account_state(uow_factory, DANA) == (False, False, None, None)


def test_robert_already_locked_is_still_locked_and_gets_a_lock_time(
    uow_factory: UowFactory,
) -> None:
    assert report(uow_factory, account=ROBERT).locked_online_access is True
    assert account_state(uow_factory, ROBERT) == (True, True, NOW, NOW)


def test_the_report_is_audited_without_its_description(uow_factory: UowFactory) -> None:
    add_payment(uow_factory, MARIA, "MPRECENTCHAT")
    result = report(uow_factory)
    with uow_factory() as uow:
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "fraud_reported"))
        assert audit is not None
        assert (audit.actor, audit.subject, audit.occurred_at) == (
            f"customer:{customer_id(uow_factory, MARIA)}", f"fraud_case:{result.case_number}", NOW)
        assert audit.details == {"verified": True, "locked_online_access": True,
                                 "cancelled_payments": ["MPRECENTCHAT"],
                                 "frozen_accounts": ["****4821"]}


# --- anyone else ------------------------------------------------------------------------------


def test_an_unverified_report_changes_nothing_for_the_account_and_still_creates_a_case(
    uow_factory: UowFactory,
) -> None:
    add_payment(uow_factory, MARIA, "MPRECENTCHAT")
    before = (account_state(uow_factory, MARIA), payment_statuses(uow_factory),
              count(uow_factory, OutboxMessage))

    result = report(uow_factory, verified=False)

    assert (result.locked_online_access, result.cancelled_payments) == (False, ())
    assert result.advice == ADVICE
    assert (account_state(uow_factory, MARIA), payment_statuses(uow_factory),
            count(uow_factory, OutboxMessage)) == before
    [case] = cases(uow_factory)
    assert (case.case_number, case.reporter_verified) == (result.case_number, False)
    with uow_factory() as uow:
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "fraud_reported"))
        assert audit is not None and audit.actor == "anonymous"


@pytest.mark.parametrize("account, customer, verified", [
    (MARIA, None, False),  # a real customer, not verified
    (None, 999_999, False),  # nobody we know
    (None, 999_999, True),  # claims verification for nobody we know
    (None, None, True),  # "verified" but no customer: treated as unverified
    (None, None, False),  # no customer named at all
])
def test_an_unverified_report_does_not_reveal_whether_an_account_exists(
    uow_factory: UowFactory, account: Optional[str], customer: Optional[int],
    verified: bool,
) -> None:
    result = report(uow_factory, account=account, customer=customer, verified=verified)
    assert replace(result, case_number="") == FraudReport("", False, (), ADVICE)
    assert count(uow_factory, OutboxMessage) == 0
    assert count(uow_factory, FraudCase, FraudCase.reporter_verified.is_(False)) == 1


# --- the description --------------------------------------------------------------------------


@pytest.mark.parametrize("description", ["", "   \n\t ", None])
def test_an_empty_description_is_refused(uow_factory: UowFactory,
                                         description: Any) -> None:
    before = (account_state(uow_factory, MARIA), count(uow_factory, OutboxMessage))
    with pytest.raises(InvalidFraudReport):
        report(uow_factory, description=description)
    assert count(uow_factory, FraudCase) == 0 and count(uow_factory, AuditLog) == 0
    assert (account_state(uow_factory, MARIA), count(uow_factory, OutboxMessage)) == before


def test_a_description_is_trimmed_and_only_its_first_2000_characters_kept(
    uow_factory: UowFactory,
) -> None:
    long_text = "a" * 1990 + "b" * 20 + "c" * 500
    report(uow_factory, description=f"  \n{long_text}  ")
    assert cases(uow_factory)[0].description == "a" * 1990 + "b" * 10


def test_numbers_that_look_like_cards_codes_or_ssns_are_not_stored(
    uow_factory: UowFactory,
) -> None:
    report(uow_factory, description=(
        "They used card 4111 1111 1111 1111, asked for code 482913 and my SSN 123-45-6789 "
        "on 11/20/2026 and took $1,500"))
    stored = cases(uow_factory)[0].description
    assert not re.search(r"\d{4} \d{4}|482913|6789", stored)
    assert "11/20/2026" in stored and "$1,500" in stored and stored.count("[redacted]") == 3


def test_the_advice_covers_codes_passwords_gift_cards_and_wires() -> None:
    for words in ("verification code", "password", "gift card", "wire"):
        assert words in ADVICE


# --- the fraud team's hold on online access ---------------------------------------------------


class _Staff:
    def __init__(self, id: int, supervisor: bool) -> None:
        self.id, self.display_name, self.is_supervisor = id, "Fran Fraud", supervisor


FRAUD_TEAM, AGENT = _Staff(7, supervisor=True), _Staff(8, supervisor=False)


def held(uow_factory: UowFactory, account: str = MARIA) -> bool:
    with uow_factory() as uow:
        return fraud.online_access_held(uow.session, customer_id(uow_factory, account))


def test_a_verified_report_holds_online_access_an_unverified_one_does_not(
    uow_factory: UowFactory,
) -> None:
    report(uow_factory, DANA, verified=False)
    assert not held(uow_factory, DANA)
    report(uow_factory)
    assert held(uow_factory)


def test_only_the_fraud_team_clears_a_case_and_that_unlocks_unfreezes_and_is_audited(
    uow_factory: UowFactory,
) -> None:
    case = report(uow_factory).case_number
    with pytest.raises(FraudTeamOnly):
        fraud.clear_fraud_case(case, AGENT, uow_factory(), now=NOW)
    assert held(uow_factory) and account_state(uow_factory, MARIA)[:2] == (True, True)

    cleared = fraud.clear_fraud_case(case, FRAUD_TEAM, uow_factory(), now=NOW)

    assert cleared == FraudCaseCleared(case, True, ("****4821",))
    assert not held(uow_factory) and account_state(uow_factory, MARIA)[:2] == (False, False)
    assert [c.status for c in cases(uow_factory)] == ["closed"]
    with uow_factory() as uow:
        row = uow.session.scalars(select(AuditLog).where(AuditLog.action == "fraud_case_cleared")).one()
        assert (row.actor, row.subject) == ("staff:7", f"fraud_case:{case}")
        kinds = list(uow.session.scalars(select(OutboxMessage.kind)))
    assert kinds.count("fraud_case_cleared") == 1
    with pytest.raises(FraudCaseNotOpen):
        fraud.clear_fraud_case(case, FRAUD_TEAM, uow_factory(), now=NOW)
    with pytest.raises(FraudCaseNotFound):
        fraud.clear_fraud_case("FRAAAAAAAA", FRAUD_TEAM, uow_factory(), now=NOW)


def test_a_second_open_case_keeps_the_hold_when_the_first_is_cleared(uow_factory: UowFactory) -> None:
    first = report(uow_factory).case_number
    report(uow_factory)
    cleared = fraud.clear_fraud_case(first, FRAUD_TEAM, uow_factory(), now=NOW)
    assert (cleared.unlocked_online_access, cleared.unfrozen_accounts) == (False, ())
    assert held(uow_factory) and account_state(uow_factory, MARIA)[:2] == (True, True)


def test_clearing_an_unverified_case_unlocks_nothing(uow_factory: UowFactory) -> None:
    """Robert's failed sign-in lock is not the fraud team's to lift, nor a stranger's report."""
    case = report(uow_factory, ROBERT, verified=False).case_number
    cleared = fraud.clear_fraud_case(case, FRAUD_TEAM, uow_factory(), now=NOW)
    assert cleared.unlocked_online_access is False
    assert account_state(uow_factory, ROBERT)[1] is True


def test_numbers_in_when_it_happened_are_masked_too(uow_factory: UowFactory) -> None:
    fraud.report_fraud("conv-1", "a payment I did not make", "on Monday from card 4111 1111 1111 1111, "
                       "account 7301004821", None, False, uow_factory(), now=NOW)
    [case] = cases(uow_factory)
    assert "4111" not in case.occurred and "7301004821" not in case.occurred
    assert case.occurred.startswith("on Monday from card [redacted]")
