"""A total loss: the payoff for the insurer, GAP, and a specialist's case only when asked for."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from fixtures_store import JAMES, MARIA, ROBERT, TRAN, UowFactory, count, customer_id
from sqlalchemy import select

from autofinance.adapters.store.models import AuditLog, HandoffTicket, OutboxMessage
from autofinance.domain.money import format_usd
from autofinance.services import payoff, total_loss
from autofinance.services.errors import AccountNotFound

TODAY = date(2026, 11, 24)  # the seed's day
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def test_the_insurer_gets_the_10_day_payoff_and_gap_is_said(uow_factory: UowFactory) -> None:
    info = total_loss.total_loss_info(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    quote = payoff.payoff_quote(customer_id(uow_factory, MARIA), date(2026, 12, 4), uow_factory(), TODAY)
    assert info.payoff == quote  # the same figure and quote number as a payoff quote for that day
    assert (info.product, info.vehicle, info.gap_coverage, info.insurer) == (
        "loan", "2022 Toyota RAV4", True, "Peachtree Mutual")


def test_a_lease_gets_the_amount_to_close_it_and_no_gap_unless_the_contract_has_it(uow_factory: UowFactory) -> None:
    info = total_loss.total_loss_info(customer_id(uow_factory, JAMES), uow_factory(), TODAY)
    assert info.product == "lease" and info.payoff.per_diem == Decimal("0.00") and not info.gap_coverage
    assert info.payoff.amount == Decimal("3") * Decimal("389.00") + Decimal("21350.00") + Decimal("350.00")


def test_the_case_queues_a_total_loss_ticket_emails_the_figures_and_audits(uow_factory: UowFactory) -> None:
    case = total_loss.open_total_loss_case(customer_id(uow_factory, MARIA), "c-1", "rest", uow_factory(),
                                           TODAY, now=NOW)
    with uow_factory() as uow:
        ticket = uow.session.scalar(select(HandoffTicket))
        email = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "total_loss")).body
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "total_loss_reported")).details
        assert (ticket.ticket_number, ticket.reason, ticket.priority) == (case.ticket_number, "total_loss", 2)
        assert "GAP: yes" in ticket.summary and case.info.payoff.quote_number in ticket.summary
        assert "7301004821" not in ticket.summary
    assert case.email_masked == "m****@example.com"
    assert format_usd(case.info.payoff.amount) in email and case.info.payoff.quote_number in email
    assert "GAP" in email and case.ticket_number in email
    assert audit["ticket"] == case.ticket_number


def test_without_gap_the_email_says_nothing_of_it(uow_factory: UowFactory) -> None:
    total_loss.open_total_loss_case(customer_id(uow_factory, ROBERT), "c-2", "rest", uow_factory(), TODAY, now=NOW)
    with uow_factory() as uow:
        email = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "total_loss")).body
    assert "GAP" not in email


def test_asking_twice_in_one_conversation_keeps_one_ticket(uow_factory: UowFactory) -> None:
    for _ in range(2):
        total_loss.open_total_loss_case(customer_id(uow_factory, MARIA), "c-1", "rest", uow_factory(),
                                        TODAY, now=NOW)
    assert count(uow_factory, HandoffTicket) == 1


def test_only_the_figures_are_read_until_the_case_is_opened(uow_factory: UowFactory) -> None:
    before = count(uow_factory, HandoffTicket), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)
    total_loss.total_loss_info(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    assert (count(uow_factory, HandoffTicket), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)) == before


def test_a_paid_off_loan_has_no_total_loss_payoff(uow_factory: UowFactory) -> None:
    with pytest.raises(AccountNotFound):
        total_loss.total_loss_info(customer_id(uow_factory, TRAN), uow_factory(), TODAY)
