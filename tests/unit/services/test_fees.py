"""Fees: what was charged and why, returned payments, and the courtesy waiver's written policy."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from fixtures_store import DANA, KEISHA, MARIA, UowFactory, count, customer_id, set_account
from sqlalchemy import select

from autofinance.adapters.store.models import Account, AuditLog, Fee, HandoffTicket, OutboxMessage, WorkItem
from autofinance.config import Settings
from autofinance.domain.calendar import add_months
from autofinance.services import fees
from autofinance.services.accounts import primary_account
from autofinance.services.errors import NotEligible

TODAY = date(2026, 11, 24)  # the seed's day
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
BASE_URL = Settings().public_base_url


def decide(uow_factory: UowFactory, account: str = KEISHA, conversation: str = "c-1") -> fees.WaiverDecision:
    return fees.fee_waiver_decision(customer_id(uow_factory, account), conversation, "rest",
                                    uow_factory(), TODAY, now=NOW)


def waive(uow_factory: UowFactory, account: str = KEISHA) -> fees.FeeWaived:
    return fees.waive_late_fee(customer_id(uow_factory, account), uow_factory(), BASE_URL, TODAY, now=NOW)


def snapshot(uow_factory: UowFactory) -> tuple[Any, ...]:
    """Everything a refused or cancelled waiver must leave as it was."""
    with uow_factory() as uow:
        account = uow.session.scalars(select(Account).where(Account.account_number == KEISHA)).one()
        statuses = tuple(uow.session.scalars(select(Fee.status).where(Fee.account_id == account.id)
                                             .order_by(Fee.id)))
        state = (account.fees_due, account.last_fee_waiver_on, statuses)
    return state, count(uow_factory, OutboxMessage), count(uow_factory, AuditLog, AuditLog.action == "fee_waived")


# --- what was charged and why ----------------------------------------------------------------------


def test_keisha_sees_her_three_fees_newest_first_each_with_its_reason(uow_factory: UowFactory) -> None:
    lines = fees.recent_fees(customer_id(uow_factory, KEISHA), uow_factory())
    assert [(f.kind, f.amount, f.charged_on, f.status) for f in lines] == [
        ("returned_payment", Decimal("25.00"), date(2026, 10, 12), "charged"),
        ("late", Decimal("15.00"), date(2026, 9, 21), "charged"),
        ("late", Decimal("15.00"), date(2026, 7, 21), "charged")]
    assert lines[1].reason == ("the payment due September 10, 2026 arrived September 24, 2026, after "
                               "the 10-day grace period")
    assert "insufficient funds" in lines[0].reason and "checking ****5521" in lines[0].reason


def test_a_customer_without_fees_has_none(uow_factory: UowFactory) -> None:
    assert fees.recent_fees(customer_id(uow_factory, MARIA), uow_factory()) == []


def test_the_returned_payment_is_explained_with_its_fee_and_the_other_saved_account(
    uow_factory: UowFactory,
) -> None:
    returned = fees.latest_returned_payment(customer_id(uow_factory, KEISHA), uow_factory())
    assert returned is not None
    assert (returned.date, returned.amount, returned.method) == (
        date(2026, 10, 10), Decimal("367.45"), "checking ****5521")
    assert returned.fee is not None and returned.fee.amount == Decimal("25.00")
    assert returned.other_sources == ("savings ****8830",)
    assert returned.on_autopay is False


def test_no_returned_payment_means_none(uow_factory: UowFactory) -> None:
    assert fees.latest_returned_payment(customer_id(uow_factory, MARIA), uow_factory()) is None


# --- the policy ------------------------------------------------------------------------------------


def test_a_current_account_with_no_waiver_in_12_months_may_have_its_late_fee_waived(
    uow_factory: UowFactory,
) -> None:
    before = snapshot(uow_factory)
    decision = decide(uow_factory)
    assert (decision.eligible, decision.reason, decision.reference) == (True, fees.ELIGIBLE, None)
    assert decision.fee is not None and decision.fee.amount == Decimal("15.00")
    assert snapshot(uow_factory) == before  # deciding changes nothing
    assert count(uow_factory, HandoffTicket) == 0 and count(uow_factory, WorkItem) == 0


def test_a_past_due_account_is_refused_and_a_specialists_work_item_is_queued(uow_factory: UowFactory) -> None:
    set_account(uow_factory, KEISHA, past_due_amount=Decimal("367.45"), status="past_due")
    before = snapshot(uow_factory)
    decision = decide(uow_factory)
    assert decision.eligible is False
    assert decision.reason == fees.PAST_DUE.format(past_due="$367.45")
    with uow_factory() as uow:
        item = uow.session.scalars(select(WorkItem)).one()
        assert (item.reference, item.kind, item.status) == (decision.reference, "fee_waiver", "open")
        assert item.reference.startswith("FW") and item.details["amount"] == "15.00"
        assert "$15.00 late fee" in item.summary
    assert count(uow_factory, HandoffTicket) == 0  # a back-office review, not a conversation
    assert count(uow_factory, AuditLog, AuditLog.action == "fee_waiver_refused") == 1
    assert decide(uow_factory).reference == decision.reference  # asked again: the same item
    assert count(uow_factory, WorkItem) == 1
    assert snapshot(uow_factory) == before
    with pytest.raises(NotEligible):
        waive(uow_factory)
    assert snapshot(uow_factory) == before


@pytest.mark.parametrize("months_ago, eligible", [(11, False), (13, True)])
def test_one_courtesy_waiver_in_12_months(uow_factory: UowFactory, months_ago: int, eligible: bool) -> None:
    set_account(uow_factory, KEISHA, last_fee_waiver_on=add_months(TODAY, -months_ago))
    decision = decide(uow_factory)
    assert decision.eligible is eligible
    if not eligible:
        assert decision.reason == fees.ALREADY_WAIVED.format(waived="December 24, 2025")
        assert decision.reference is not None


def test_a_customer_without_a_late_fee_is_told_so_and_nothing_is_queued(uow_factory: UowFactory) -> None:
    decision = decide(uow_factory, MARIA)
    assert (decision.eligible, decision.reason, decision.fee) == (False, fees.NO_LATE_FEE, None)
    assert count(uow_factory, HandoffTicket) == 0 and count(uow_factory, WorkItem) == 0


def test_dana_past_due_without_fees_hears_there_is_nothing_to_waive(uow_factory: UowFactory) -> None:
    assert decide(uow_factory, DANA).reason == fees.NO_LATE_FEE


# --- the waiver ------------------------------------------------------------------------------------


def test_the_waiver_is_recorded_emailed_and_audited(uow_factory: UowFactory) -> None:
    waived = waive(uow_factory)
    assert (waived.fee.amount, waived.fee.status, waived.fee.waived_on) == (
        Decimal("15.00"), "waived", date(2026, 11, 24))
    assert waived.fees_due == Decimal("40.00")
    with uow_factory() as uow:
        account = uow.session.scalars(select(Account).where(Account.account_number == KEISHA)).one()
        assert (account.fees_due, account.last_fee_waiver_on) == (Decimal("40.00"), TODAY)
        fee = uow.session.scalars(select(Fee).where(Fee.status == "waived")).one()
        assert fee.charged_on == date(2026, 9, 21)  # the newer late fee
        assert (fee.status, fee.waiver_reason, fee.waived_at) == ("waived", "courtesy", NOW)
        email = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "fee_waived")).one()
        assert email.to == "keisha.grant@example.com" and "$15.00 late fee" in email.body
        entry = uow.session.scalars(select(AuditLog).where(AuditLog.action == "fee_waived")).one()
        assert entry.actor == f"customer:{account.customer_id}" and entry.details["amount"] == "15.00"


def test_a_second_waiver_within_12_months_is_refused_with_a_work_item_and_changes_nothing(
    uow_factory: UowFactory,
) -> None:
    waive(uow_factory)
    before = snapshot(uow_factory)
    with pytest.raises(NotEligible) as refused:
        waive(uow_factory)  # the older late fee is still owed
    assert refused.value.message == fees.ALREADY_WAIVED.format(waived="November 24, 2026")
    decision = decide(uow_factory)
    assert (decision.eligible, decision.reason) == (False, refused.value.message)
    assert decision.fee is not None and decision.fee.charged_on == date(2026, 7, 21)
    assert decision.reference is not None
    assert snapshot(uow_factory) == before


def test_with_no_late_fee_left_there_is_nothing_to_waive(uow_factory: UowFactory) -> None:
    set_account(uow_factory, KEISHA, last_fee_waiver_on=None)
    waive(uow_factory)
    set_account(uow_factory, KEISHA, last_fee_waiver_on=None)
    waive(uow_factory)
    with pytest.raises(NotEligible) as refused:
        waive(uow_factory)
    assert refused.value.message == fees.NO_LATE_FEE


def test_of_two_racing_waivers_only_one_is_stored(uow_factory: UowFactory) -> None:
    keisha = customer_id(uow_factory, KEISHA)
    with uow_factory() as slow:
        stale = primary_account(slow.session, keisha)  # read before the other waiver commits
        late = fees.owed_late_fee(slow.session, stale)
        assert late is not None
        waive(uow_factory)
        with pytest.raises(NotEligible):
            fees.record_waiver(slow.session, stale, late, TODAY, NOW)
    with uow_factory() as uow:
        account = uow.session.scalars(select(Account).where(Account.account_number == KEISHA)).one()
        assert account.fees_due == Decimal("40.00")  # taken off once
    assert count(uow_factory, AuditLog, AuditLog.action == "fee_waived") == 1
    assert count(uow_factory, OutboxMessage, OutboxMessage.kind == "fee_waived") == 1
