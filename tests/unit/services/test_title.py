"""The title: what happens at payoff while a loan is open, where the release stands after it."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from fixtures_store import JAMES, MARIA, TRAN, UowFactory, customer_id, set_account
from sqlalchemy import select, update

from autofinance.adapters.store.models import Account, VehicleTitle
from autofinance.services import title
from autofinance.services.errors import AccountNotFound

TODAY = date(2026, 11, 24)  # the seed's day


def status(uow_factory: UowFactory, account: str, today: date = TODAY) -> title.TitleStatus:
    return title.title_status(customer_id(uow_factory, account), uow_factory(), today)


def set_title(uow_factory: UowFactory, account_number: str, **values: object) -> None:
    with uow_factory() as uow:
        account_id = uow.session.scalar(select(Account.id).where(Account.account_number == account_number))
        uow.session.execute(update(VehicleTitle).where(VehicleTitle.account_id == account_id).values(**values))
        uow.commit()


def test_an_open_loan_keeps_the_lien_and_says_how_the_state_keeps_the_title(uow_factory: UowFactory) -> None:
    maria = status(uow_factory, MARIA)
    assert (maria.stage, maria.state, maria.kind, maria.status) == ("open", "GA", "electronic", "lien_held")
    assert maria.release_business_days == title.RELEASE_BUSINESS_DAYS["electronic"] == 3
    assert maria.vehicle == "2022 Toyota RAV4" and maria.paid_off_on is None and not maria.overdue


def test_a_lease_has_no_lien_to_release(uow_factory: UowFactory) -> None:
    james = status(uow_factory, JAMES)
    assert (james.stage, james.kind, james.status) == ("lease", None, None)


def test_a_paid_off_loan_shows_its_paper_title_released_and_mailed_with_dates(uow_factory: UowFactory) -> None:
    tran = status(uow_factory, TRAN)
    assert (tran.stage, tran.state, tran.kind, tran.status) == ("paid_off", "OR", "paper", "mailed")
    assert (tran.paid_off_on, tran.released_on, tran.mailed_on) == (
        date(2026, 11, 12), date(2026, 11, 16), date(2026, 11, 17))
    assert tran.mailed_to_city == "Portland, OR" and tran.expected_by is None and not tran.overdue


def test_a_mailed_title_is_overdue_once_the_mail_should_have_come(uow_factory: UowFactory) -> None:
    later = date(2026, 11, 17) + timedelta(days=title.MAIL_DAYS + 1)
    assert status(uow_factory, TRAN, today=later).overdue
    assert not status(uow_factory, TRAN, today=later - timedelta(days=1)).overdue


def test_a_release_still_to_do_says_by_when_in_business_days(uow_factory: UowFactory) -> None:
    set_title(uow_factory, TRAN, status="release_requested", released_on=None, mailed_on=None,
              release_requested_on=date(2026, 11, 20))  # a Friday
    tran = status(uow_factory, TRAN)
    assert tran.status == "release_requested"
    assert tran.expected_by == date(2026, 12, 4)  # 10 business days, weekends skipped


def test_an_electronic_release_has_no_mailing_step(uow_factory: UowFactory) -> None:
    set_title(uow_factory, TRAN, kind="electronic", status="released", mailed_on=None)
    tran = status(uow_factory, TRAN)
    assert (tran.kind, tran.status, tran.mailed_on, tran.expected_by) == ("electronic", "released", None, None)


def test_a_loan_without_a_title_record_says_so_rather_than_guess(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.session.execute(VehicleTitle.__table__.delete())
        uow.commit()
    maria = status(uow_factory, MARIA)
    assert (maria.stage, maria.kind, maria.state) == ("open", None, None)


def test_a_customer_with_no_open_or_paid_off_account_has_no_title_to_tell(uow_factory: UowFactory) -> None:
    set_account(uow_factory, MARIA, status="closed")  # closed, but not by a payoff
    with pytest.raises(AccountNotFound):
        status(uow_factory, MARIA)
