"""Several accounts per customer: which account a use case is about (services/accounts.py).

Alex Morgan has a loan (****9911, 2021 Toyota Camry) and a lease (****9922, 2023 Honda CR-V).
With several open accounts nothing is read until one is chosen; a choice counts only for an
open account of the customer asked about.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fixtures_store import (
    ALEX_LEASE, ALEX_LOAN, JAMES, MARIA, UowFactory, account_id, customer_id, set_account,
)

from autofinance.services import accounts, autopay, documents, paperless, payoff, title
from autofinance.services.accounts import (
    AccountChoice, AccountOption, AccountsInPlay, LeaseBalance, LoanBalance, accounts_in_play,
    balance_summary, choosing, match_account,
)
from autofinance.services.errors import AccountChoiceNeeded, ServiceError

TODAY = date(2026, 11, 24)
LOAN = AccountOption(1, "loan", "****9911", "2021 Toyota Camry")
LEASE = AccountOption(2, "lease", "****9922", "2023 Honda CR-V")


def _alex(uow_factory: UowFactory) -> int:
    return customer_id(uow_factory, ALEX_LOAN)


def test_a_customer_with_a_loan_and_a_lease_is_asked_which_one_with_both_masked(
        uow_factory: UowFactory) -> None:
    with pytest.raises(AccountChoiceNeeded) as raised:
        balance_summary(_alex(uow_factory), uow_factory(), TODAY)

    labels = [option.label for option in raised.value.options]
    assert labels == ["loan ****9911 · 2021 Toyota Camry", "lease ****9922 · 2023 Honda CR-V"]
    assert all("7301" not in label for label in labels)  # never the number in full


def test_a_customer_with_one_account_is_never_asked(uow_factory: UowFactory) -> None:
    balance = balance_summary(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    assert isinstance(balance, LoanBalance) and balance.account_masked == "****4821"


def test_the_chosen_account_is_the_one_every_use_case_reads(uow_factory: UowFactory) -> None:
    alex, lease = _alex(uow_factory), account_id(uow_factory, ALEX_LEASE)

    with choosing(AccountChoice(lease)):
        balance = balance_summary(alex, uow_factory(), TODAY)
        quote = payoff.payoff_quote(alex, TODAY, uow_factory(), TODAY)
        setup = autopay.autopay_setup(alex, uow_factory(), TODAY)

    assert isinstance(balance, LeaseBalance)
    assert (balance.account_masked, balance.vehicle) == ("****9922", "2023 Honda CR-V")
    assert quote.quote_number.startswith("PQ") and quote.amount > Decimal("19875.00")
    assert setup.monthly_payment == Decimal("436.15")  # the lease's payment, not the loan's


def test_choosing_the_loan_reads_the_loan(uow_factory: UowFactory) -> None:
    with choosing(AccountChoice(account_id(uow_factory, ALEX_LOAN))):
        balance = balance_summary(_alex(uow_factory), uow_factory(), TODAY)

    assert isinstance(balance, LoanBalance)
    assert (balance.principal_balance, balance.vehicle) == (Decimal("15310.25"), "2021 Toyota Camry")


def test_a_choice_naming_another_customers_account_reaches_nothing(uow_factory: UowFactory) -> None:
    """A forged choice (James's lease id) for Alex: asked again, never James's figures; for
    Maria, who has one account, her own account and nothing else."""
    james = account_id(uow_factory, JAMES)

    with choosing(AccountChoice(james)):
        with pytest.raises(AccountChoiceNeeded):
            balance_summary(_alex(uow_factory), uow_factory(), TODAY)
        maria = balance_summary(customer_id(uow_factory, MARIA), uow_factory(), TODAY)

    assert maria.account_masked == "****4821"
    assert accounts_in_play(_alex(uow_factory), james, uow_factory()).chosen is None


def test_a_closed_account_cannot_be_chosen(uow_factory: UowFactory) -> None:
    set_account(uow_factory, ALEX_LEASE, status="closed")

    with choosing(AccountChoice(account_id(uow_factory, ALEX_LEASE))):
        balance = balance_summary(_alex(uow_factory), uow_factory(), TODAY)

    assert balance.account_masked == "****9911"  # the only open one left: nothing to ask


def test_the_choice_records_that_an_account_was_read(uow_factory: UowFactory) -> None:
    with choosing(AccountChoice(account_id(uow_factory, ALEX_LOAN))) as choice:
        assert not choice.used
        balance_summary(_alex(uow_factory), uow_factory(), TODAY)
    assert choice.used


def test_the_title_and_documents_follow_the_choice(uow_factory: UowFactory) -> None:
    alex = _alex(uow_factory)
    with pytest.raises(AccountChoiceNeeded):
        title.title_status(alex, uow_factory(), TODAY)
    with choosing(AccountChoice(account_id(uow_factory, ALEX_LOAN))):
        loan_title = title.title_status(alex, uow_factory(), TODAY)
        listed = documents.list_statements(alex, uow_factory(), TODAY)
    assert loan_title.vehicle == "2021 Toyota Camry"
    assert listed and all(d.document_id.endswith("-for-9911") for d in listed)  # the loan's, named so


def test_a_document_link_opens_the_account_it_names_whatever_is_chosen(uow_factory: UowFactory) -> None:
    """The web page has no chat choice: the link's document id names the account."""
    alex = _alex(uow_factory)
    lease_doc = documents.render_statement(alex, "contract-for-9922", uow_factory(), TODAY)
    loan_doc = documents.render_statement(alex, "contract-for-9911", uow_factory(), TODAY)
    assert "****9922 (lease, 2023 Honda CR-V)" in lease_doc
    assert "****9911 (loan, 2021 Toyota Camry)" in loan_doc
    with pytest.raises(ServiceError):  # another customer's account number: nothing
        documents.render_statement(alex, "contract-for-4821", uow_factory(), TODAY)
    with pytest.raises(ServiceError):  # untagged: which account is not known
        documents.render_statement(alex, "contract", uow_factory(), TODAY)


def test_accounts_in_play_lists_both_and_names_the_chosen_one(uow_factory: UowFactory) -> None:
    alex, loan = _alex(uow_factory), account_id(uow_factory, ALEX_LOAN)

    in_play = accounts_in_play(alex, loan, uow_factory())

    assert in_play.several and [o.product for o in in_play.options] == ["loan", "lease"]
    assert in_play.chosen is not None and in_play.chosen.described == "loan ****9911 (2021 Toyota Camry)"
    assert accounts_in_play(customer_id(uow_factory, MARIA), None, uow_factory()).current is not None


@pytest.mark.parametrize("said, expected", [
    ("my other car", LEASE),
    ("the lease", LEASE),
    ("switch to my loan", LOAN),
    ("the Camry", LOAN),
    ("the camery please", LOAN),  # a typo
    ("my crv", LEASE),
    ("the honda cr-v", LEASE),
    ("the one ending in 9922", LEASE),
    ("the other one", LEASE),
    ("hmm", None),
    ("the toyota or the honda", None),  # both: not one
])
def test_a_customer_names_an_account_in_their_own_words(said: str, expected: object) -> None:
    in_play = AccountsInPlay((LOAN, LEASE), chosen=LOAN)

    assert match_account(said, in_play) == expected


def test_my_other_car_needs_a_current_account_to_be_the_other_of() -> None:
    assert match_account("my other car", AccountsInPlay((LOAN, LEASE), chosen=None)) is None
    assert match_account("my other car", AccountsInPlay((LOAN, LEASE), chosen=LEASE)) == LOAN


def test_account_less_use_cases_never_ask(uow_factory: UowFactory) -> None:
    """The customer's own things (statement delivery, payment methods) are not per account."""
    alex = _alex(uow_factory)

    assert paperless.statement_delivery(alex, uow_factory()).by == "mail"  # no AccountChoiceNeeded
    with uow_factory() as uow:
        assert len(accounts.open_accounts(uow.session, alex)) == 2
