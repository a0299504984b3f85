"""Year-end interest: worked out from the posted payments, a statement by signed link, none for a lease."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Callable

import pytest
from sqlalchemy import select

from autofinance.adapters.notify import readable_body
from autofinance.adapters.store.db import UnitOfWork
from autofinance.adapters.store.models import Account, Customer, OutboxMessage, Payment
from autofinance.config import Settings
from autofinance.services import documents, tax_documents
from autofinance.services.errors import NoInterestStatement

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)
TODAY = date(2026, 12, 7)


def _ids(uow: UnitOfWork, email: str) -> tuple[int, int]:
    with uow:
        customer = uow.session.scalar(select(Customer.id).where(Customer.email == email))
        account = uow.session.scalar(select(Account.id).where(Account.customer_id == customer))
        return customer, account


def test_interest_is_the_rate_on_the_balance_before_each_payment(uow_factory: Callable[[], UnitOfWork]) -> None:
    """One posted payment of $500 on a 12% loan leaving $9,600: the balance before was
    (9,600 + 500) / 1.01 = $10,000.00, so it paid $100.00 interest and $400.00 principal."""
    maria, account_id = _ids(uow_factory(), "maria.lopez@example.com")
    with uow_factory() as uow:
        account = uow.session.get_one(Account, account_id)
        account.apr, account.principal_balance = Decimal("12.00"), Decimal("9600.00")
        for payment in account.payments:
            uow.session.delete(payment)
        uow.session.add(Payment(account_id=account_id, amount=Decimal("500.00"), status="posted",
                                scheduled_for=date(2026, 3, 15), confirmation_number="MTEST1"))
        uow.commit()
    found = tax_documents.interest_paid(maria, 2026, uow_factory(), TODAY)
    assert (found.interest, found.principal, found.payments) == (Decimal("100.00"), Decimal("400.00"), 1)
    assert tax_documents.interest_paid(maria, 2025, uow_factory(), TODAY).payments == 0


def test_the_demo_loans_paid_interest_this_year_and_a_lease_has_none(uow_factory: Callable[[], UnitOfWork]) -> None:
    maria, _ = _ids(uow_factory(), "maria.lopez@example.com")
    found = tax_documents.interest_paid(maria, TODAY.year, uow_factory(), TODAY)
    assert found.payments > 0 and Decimal("0") < found.interest < found.principal
    james, _ = _ids(uow_factory(), "james.chen@example.com")
    with pytest.raises(NoInterestStatement):
        tax_documents.interest_paid(james, TODAY.year, uow_factory(), TODAY)


@pytest.mark.parametrize("asked, year", [
    ("how much interest did i pay last year", 2025), ("my 1098 for 2024", 2024),
    ("interest paid so far this year", 2026), ("tax form", 2025), ("the 2031 one", 2025),
])
def test_the_year_asked_for(asked: str, year: int) -> None:
    assert tax_documents.statement_year(asked, TODAY) == year


def test_the_statement_goes_by_signed_link_to_the_email_on_file(uow_factory: Callable[[], UnitOfWork]) -> None:
    settings = Settings()
    maria, _ = _ids(uow_factory(), "maria.lopez@example.com")
    figures, sent = documents.send_interest_statement(maria, TODAY.year, uow_factory(), "http://x",
                                                      settings.secret_pepper, "UTC", NOW)
    assert sent.destination_masked == "m****@example.com" and figures.year == TODAY.year
    with uow_factory() as uow:
        message = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "document_link")).one()
        body, to = readable_body(message, settings.secret_pepper) or "", message.to
    assert f"/documents/interest-{TODAY.year}?" in body and to == "maria.lopez@example.com"
    page = documents.render_statement(maria, f"interest-{TODAY.year}", uow_factory(), TODAY)
    assert f"Interest paid: ${figures.interest:,}" in page and "not tax advice" in page
    with pytest.raises(documents.UnknownDocument):
        documents.render_statement(maria, "interest-2031", uow_factory(), TODAY)
