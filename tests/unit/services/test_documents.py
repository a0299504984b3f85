"""Documents: the statement list, signed links (tampering, expiry), sending a link, the text."""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fixtures_store import JAMES, MARIA, UowFactory, count, customer_id, set_account
from sqlalchemy import select, update

from autofinance.adapters.notify import readable_body
from autofinance.config import Secret, Settings
from autofinance.services import documents
from autofinance.services.documents import (
    DocumentLinkSent, RequestedDocument, StatementInfo, choose_document,
)
from autofinance.services.errors import UnknownDocument
from autofinance.adapters.store.models import AuditLog, OutboxMessage, Payment

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def link_parts(link: str) -> tuple[str, dict[str, str]]:
    """(document_id, {'c', 'exp', 'sig'}) as the web route reads them."""
    url = urlsplit(link)
    return url.path.rsplit("/", 1)[1], {k: v[0] for k, v in parse_qs(url.query).items()}


def verify(settings: Settings, document_id: str, query: dict[str, str],
           now: datetime = NOW) -> bool:
    return documents.verify_document_link(query["c"], document_id, query["exp"], query["sig"],
                                          settings.secret_pepper, now=now)


def nothing_sent(uow_factory: UowFactory) -> tuple[int, int]:
    return count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)


# --- the list ---------------------------------------------------------------------------


def test_the_list_is_the_twelve_months_before_this_one_newest_first_then_the_contract(
        uow_factory: UowFactory) -> None:
    listed = documents.list_statements(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    statements, contract = listed[:-1], listed[-1]
    assert len(statements) == 12
    assert statements[0] == StatementInfo(date(2026, 10, 31), "October 2026", "statement-2026-10")
    assert statements[-1] == StatementInfo(date(2025, 11, 30), "November 2025", "statement-2025-11")
    assert [s.period_end for s in statements] == sorted((s.period_end for s in statements),
                                                        reverse=True)
    assert statements[3].period_end == date(2026, 7, 31)
    assert statements[8].period_end == date(2026, 2, 28)
    assert (contract.document_id, contract.kind, contract.label) == ("contract", "contract",
                                                                    "Loan contract")


def test_only_months_that_end_after_the_account_opened_have_a_statement(
        uow_factory: UowFactory) -> None:
    set_account(uow_factory, JAMES, opened_on=date(2026, 8, 31))
    listed = documents.list_statements(customer_id(uow_factory, JAMES), uow_factory(), TODAY)

    assert [d.document_id for d in listed] == ["statement-2026-10", "statement-2026-09", "contract"]
    assert listed[-1].label == "Lease contract"


# --- signed links -----------------------------------------------------------------------


def test_a_link_is_signed_for_one_customer_and_document_and_expires_in_a_day(
        uow_factory: UowFactory, settings: Settings) -> None:
    maria = customer_id(uow_factory, MARIA)
    link = documents.document_link(maria, "statement-2026-10", settings.public_base_url,
                                   settings.secret_pepper, now=NOW)

    assert link.startswith(f"{settings.public_base_url}/documents/statement-2026-10?c={maria}&exp=")
    document_id, query = link_parts(link)
    assert int(query["exp"]) == int((NOW + timedelta(days=1)).timestamp())
    assert re.fullmatch(r"[0-9a-f]{64}", query["sig"])
    assert verify(settings, document_id, query)
    assert verify(settings, document_id, query, now=NOW + timedelta(hours=23, minutes=59))


@pytest.mark.parametrize("tamper", [
    lambda d, q: (d, {**q, "sig": q["sig"][:-1] + ("0" if q["sig"][-1] != "0" else "1")}),
    lambda d, q: (d, {**q, "sig": q["sig"].upper()}),
    lambda d, q: (d, {**q, "sig": ""}),
    lambda d, q: (d, {**q, "sig": "é" * 64}),
    lambda d, q: ("statement-2026-09", q),
    lambda d, q: ("contract", q),
    lambda d, q: (d, {**q, "exp": str(int(q["exp"]) + 86400)}),
    lambda d, q: (d, {**q, "exp": "soon"}),
    lambda d, q: (d, {**q, "c": str(int(q["c"]) + 1)}),
    lambda d, q: (d, {**q, "c": ""}),
])
def test_a_tampered_link_is_refused(tamper: Any, uow_factory: UowFactory,
                                    settings: Settings) -> None:
    link = documents.document_link(customer_id(uow_factory, MARIA), "statement-2026-10",
                                   settings.public_base_url, settings.secret_pepper, now=NOW)
    document_id, query = tamper(*link_parts(link))
    assert not verify(settings, document_id, query)


def test_a_link_signed_for_another_customer_does_not_open_this_customers_document(
        uow_factory: UowFactory, settings: Settings) -> None:
    james, maria = customer_id(uow_factory, JAMES), customer_id(uow_factory, MARIA)
    document_id, query = link_parts(documents.document_link(
        james, "contract", settings.public_base_url, settings.secret_pepper, now=NOW))
    assert not verify(settings, document_id, {**query, "c": str(maria)})


def test_an_expired_link_or_another_servers_signature_is_refused(
        uow_factory: UowFactory, settings: Settings) -> None:
    maria = customer_id(uow_factory, MARIA)
    document_id, query = link_parts(
        documents.document_link(maria, "contract", settings.public_base_url,
                                settings.secret_pepper, now=NOW, ttl_minutes=60))

    assert verify(settings, document_id, query, now=NOW + timedelta(minutes=59))
    assert not verify(settings, document_id, query, now=NOW + timedelta(minutes=60))
    assert not verify(settings, document_id, query, now=NOW + timedelta(days=30))
    other = Settings(secret_pepper=Secret("another-pepper"))
    assert not verify(other, document_id, query)


@pytest.mark.parametrize("document_id", ["../etc/passwd", "statement-2026-13", "Contract", ""])
def test_a_link_is_only_made_for_a_well_formed_document_id(document_id: str,
                                                           settings: Settings) -> None:
    with pytest.raises(UnknownDocument):
        documents.document_link(1, document_id, settings.public_base_url, settings.secret_pepper,
                                now=NOW)


@pytest.mark.parametrize("ttl", [0, -5, 7 * 24 * 60 + 1])
def test_a_link_lives_between_a_minute_and_a_week(ttl: int, settings: Settings) -> None:
    with pytest.raises(ValueError):
        documents.document_link(1, "contract", settings.public_base_url, settings.secret_pepper,
                                now=NOW, ttl_minutes=ttl)


# --- sending a link ---------------------------------------------------------------------


def test_sending_a_link_emails_the_address_on_file_with_a_working_link(
        uow_factory: UowFactory, settings: Settings) -> None:
    maria = customer_id(uow_factory, MARIA)
    sent = documents.send_document_link(maria, "statement-2026-10", uow_factory(),
                                        settings.public_base_url, settings.secret_pepper,
                                        settings.lender_timezone, now=NOW)

    assert sent == DocumentLinkSent("October 2026", "m****@example.com", 24)
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage)).one()
        assert (message.to, message.channel, message.kind) == (
            "maria.lopez@example.com", "email", "document_link")
        assert "http" not in message.body  # sealed at rest: the link works on its own
        found = re.search(r"(http\S+)", readable_body(message, settings.secret_pepper) or "")
        assert found is not None
        assert verify(settings, *link_parts(found.group(1)))
        audit = uow.session.scalars(select(AuditLog)).one()
        assert (audit.action, audit.details) == (
            "document_link_sent", {"document_id": "statement-2026-10", "to": "m****@example.com"})


@pytest.mark.parametrize("document_id", ["statement-2025-11", "statement-2026-11",
                                         "statement-2020-01", "statement-2026-13", "../contract"])
def test_a_document_the_customer_does_not_have_is_refused_and_nothing_is_sent(
        document_id: str, uow_factory: UowFactory, settings: Settings) -> None:
    """Maria has November 2025; James (opened since, here) does not: it is not his document."""
    set_account(uow_factory, JAMES, opened_on=date(2026, 1, 10))
    before = nothing_sent(uow_factory)
    with pytest.raises(UnknownDocument):
        documents.send_document_link(customer_id(uow_factory, JAMES), document_id, uow_factory(),
                                     settings.public_base_url, settings.secret_pepper,
                                     settings.lender_timezone, now=NOW)
    assert nothing_sent(uow_factory) == before


def test_a_document_asked_for_by_name_is_emailed_with_the_oldest_statement_on_offer(
        uow_factory: UowFactory, settings: Settings) -> None:
    requested = documents.send_requested_document(
        customer_id(uow_factory, MARIA), "my march statement please", uow_factory(),
        settings.public_base_url, settings.secret_pepper, settings.lender_timezone, now=NOW)

    assert requested == RequestedDocument(DocumentLinkSent("March 2026", "m****@example.com", 24),
                                          False, "November 2025")
    with uow_factory() as uow:
        body = readable_body(uow.session.scalars(select(OutboxMessage)).one(), settings.secret_pepper)
    assert "/documents/statement-2026-03?" in (body or "")


def test_a_document_asked_for_that_the_customer_does_not_have_sends_nothing(
        uow_factory: UowFactory, settings: Settings) -> None:
    before = nothing_sent(uow_factory)
    requested = documents.send_requested_document(
        customer_id(uow_factory, MARIA), "march 2019", uow_factory(), settings.public_base_url,
        settings.secret_pepper, settings.lender_timezone, now=NOW)

    assert requested == RequestedDocument(None, False, "November 2025")
    assert nothing_sent(uow_factory) == before


def test_before_the_first_statement_the_contract_can_still_be_asked_for(
        uow_factory: UowFactory, settings: Settings) -> None:
    set_account(uow_factory, JAMES, opened_on=date(2026, 11, 2))
    requested = documents.send_requested_document(
        customer_id(uow_factory, JAMES), "the contract", uow_factory(), settings.public_base_url,
        settings.secret_pepper, settings.lender_timezone, now=NOW)

    assert requested.sent is not None and requested.sent.label == "Lease contract"
    assert requested.is_contract and requested.oldest_statement is None


# --- the text ---------------------------------------------------------------------------


def test_a_loan_statement_lists_the_periods_payments_and_todays_principal(
        uow_factory: UowFactory) -> None:
    text = documents.render_statement(customer_id(uow_factory, MARIA), "statement-2026-10",
                                      uow_factory(), today=TODAY)

    assert "Account ****4821 (loan, 2022 Toyota RAV4)" in text and "7301004821" not in text
    assert "Period: October 1, 2026 to October 31, 2026" in text
    assert "October 15, 2026  $452.18  posted  checking ****6789" in text
    assert "September 15" not in text
    assert "Principal balance today: $18,420.55" in text
    assert "Balances on past dates are not shown" in text


def test_a_cancelled_payment_is_left_out_and_a_month_without_payments_says_so(
        uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Payment).where(Payment.scheduled_for == date(2026, 10, 15))
                            .values(status="cancelled"))
        uow.commit()
    text = documents.render_statement(customer_id(uow_factory, MARIA), "statement-2026-10",
                                      uow_factory(), today=TODAY)
    assert "Payments in this period:\n  None." in text
    assert "Total posted in this period: $0.00" in text


def test_a_lease_statement_shows_remaining_payments_and_residual_not_a_principal(
        uow_factory: UowFactory) -> None:
    text = documents.render_statement(customer_id(uow_factory, JAMES), "statement-2026-10",
                                      uow_factory(), today=TODAY)
    assert "October 1, 2026  $389.00  posted" in text
    assert "Remaining lease payments today: 3 of $389.00 ($1,167.00)" in text
    assert "Residual value: $21,350.00" in text and "Principal balance" not in text


def test_the_contract_is_a_summary_of_the_terms_on_file_and_says_so(
        uow_factory: UowFactory) -> None:
    text = documents.render_statement(customer_id(uow_factory, JAMES), "contract",
                                      uow_factory(), today=TODAY)
    assert "Lease contract summary" in text and "Purchase-option fee: $350.00" in text
    assert "Mileage allowance: 12,000 miles a year" in text
    assert "not a copy of your signed contract" in text


def test_rendering_a_document_the_customer_does_not_have_is_refused(
        uow_factory: UowFactory) -> None:
    with pytest.raises(UnknownDocument):
        documents.render_statement(customer_id(uow_factory, MARIA), "statement-2026-11",
                                   uow_factory(), today=TODAY)


# Maria's documents as of November 2026: ten statements this year, last December's, the contract.
LISTED = [StatementInfo(date(2026, m, calendar.monthrange(2026, m)[1]), f"{calendar.month_name[m]} 2026",
                        f"statement-2026-{m:02}") for m in range(10, 0, -1)] + [
    StatementInfo(date(2025, 12, 31), "December 2025", "statement-2025-12"),
    StatementInfo(date(2024, 1, 2), "Loan contract", "contract", "contract")]


@pytest.mark.parametrize("asked, label", [
    ("send me my statement", "October 2026"), ("March", "March 2026"), ("my oct statement", "October 2026"),
    ("the contract please", "Loan contract"), ("loan agreement", "Loan contract"),
    ("december", "December 2025"), ("the may one", "May 2026"), ("i may need my statement", "October 2026"),
    ("sept", "September 2026"), ("2025", "December 2025"),
])
def test_the_document_a_customer_names(asked: str, label: str) -> None:
    assert (choose_document(LISTED, asked) or StatementInfo(TODAY, "none", "none")).label == label


@pytest.mark.parametrize("asked", ["december 2024", "march 2019"])
def test_a_document_outside_the_list_is_not_chosen(asked: str) -> None:
    assert choose_document(LISTED, asked) is None

