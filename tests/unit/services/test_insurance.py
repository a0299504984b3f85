"""Insurance on file: shown masked, updated only after every check, lapses listed for reminders."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest
from fixtures_store import DANA, JAMES, MARIA, ROBERT, TRAN, UowFactory, count, customer_id
from sqlalchemy import select

from autofinance.adapters.sealing import unseal_at_rest
from autofinance.adapters.store.models import AuditLog, InsurancePolicy, OutboxMessage
from autofinance.config import Settings
from autofinance.services import insurance
from autofinance.services.errors import AccountNotFound, InsuranceUnchanged, InvalidInsuranceDetail

TODAY = date(2026, 11, 24)  # the seed's day
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
PEPPER = Settings().secret_pepper
NEW = ("Harbor Auto Insurance", "HAI-9081-2275", date(2026, 11, 20), date(2027, 5, 20))


def update(uow_factory: UowFactory, account: str = MARIA, insurer: str = NEW[0], number: str = NEW[1],
           effective: date = NEW[2], expires: date = NEW[3]) -> insurance.PolicyUpdated:
    return insurance.update_policy(customer_id(uow_factory, account), insurer, number, effective, expires,
                                   uow_factory(), PEPPER, TODAY, now=NOW)


def policies(uow_factory: UowFactory) -> list[tuple[Any, ...]]:
    with uow_factory() as uow:
        return [(p.account_id, p.insurer, p.policy_last4, p.status) for p in
                uow.session.scalars(select(InsurancePolicy).order_by(InsurancePolicy.id))]


def test_the_policy_on_file_is_shown_by_its_last_four_with_its_dates(uow_factory: UowFactory) -> None:
    maria = insurance.policy_on_file(customer_id(uow_factory, MARIA), uow_factory(), TODAY)
    assert maria == insurance.PolicyOnFile("Peachtree Mutual", "****4418", date(2026, 7, 27),
                                           date(2027, 7, 27), False, "2022 Toyota RAV4", True)


def test_an_expired_policy_is_lapsed(uow_factory: UowFactory) -> None:
    robert = insurance.policy_on_file(customer_id(uow_factory, ROBERT), uow_factory(), TODAY)
    assert robert is not None and robert.lapsed and robert.expires_on == date(2026, 11, 12)
    assert not robert.gap_coverage


def test_a_customer_without_an_open_account_has_no_policy_to_show(uow_factory: UowFactory) -> None:
    with pytest.raises(AccountNotFound):
        insurance.policy_on_file(customer_id(uow_factory, TRAN), uow_factory(), TODAY)


def test_lapsed_policies_lists_only_expired_active_policies_on_open_accounts(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        lapsed = insurance.lapsed_policies(uow.session, TODAY)
        assert [(p.customer_id, p.insurer, p.policy_masked, p.expired_on) for p in lapsed] == [
            (customer_id(uow_factory, ROBERT), "Lone Star Indemnity", "****0472", date(2026, 11, 12))]
        # Dana's runs to January 24: the day after, hers has lapsed too, and Robert's comes first
        later = insurance.lapsed_policies(uow.session, date(2027, 1, 25))
        assert [p.customer_id for p in later][:2] == [customer_id(uow_factory, ROBERT),
                                                      customer_id(uow_factory, DANA)]


def test_an_update_replaces_the_policy_emails_a_receipt_and_audits_it(uow_factory: UowFactory) -> None:
    updated = update(uow_factory)
    assert updated == insurance.PolicyUpdated("Harbor Auto Insurance", "****2275", NEW[2], NEW[3],
                                              "Peachtree Mutual", "m****@example.com")
    maria = customer_id(uow_factory, MARIA)
    mine = [p for p in policies(uow_factory) if p[0] == 1]
    assert mine == [(1, "Peachtree Mutual", "4418", "replaced"), (1, "Harbor Auto Insurance", "2275", "active")]
    with uow_factory() as uow:
        stored = uow.session.scalar(select(InsurancePolicy).where(InsurancePolicy.policy_last4 == "2275"))
        assert "9081" not in stored.policy_number_sealed
        assert unseal_at_rest(stored.policy_number_sealed, PEPPER) == "HAI-9081-2275"
        email = uow.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "insurance_updated"))
        audit = uow.session.scalar(select(AuditLog).where(AuditLog.action == "insurance_updated"))
        assert email.customer_id == maria and "Harbor Auto Insurance, policy ****2275" in email.body
        assert "HAI-9081-2275" not in email.body and "loss payee" in email.body
        assert audit.actor == f"customer:{maria}" and audit.details["policy"] == "****2275"
        assert "HAI-9081-2275" not in str(audit.details)


def test_the_same_policy_twice_changes_nothing_the_second_time(uow_factory: UowFactory) -> None:
    update(uow_factory)
    before = policies(uow_factory), count(uow_factory, OutboxMessage)
    with pytest.raises(InsuranceUnchanged):
        update(uow_factory, insurer="harbor auto insurance")
    assert (policies(uow_factory), count(uow_factory, OutboxMessage)) == before


def test_a_lapsed_policy_is_replaced_and_no_longer_listed(uow_factory: UowFactory) -> None:
    update(uow_factory, account=ROBERT)
    with uow_factory() as uow:
        assert insurance.lapsed_policies(uow.session, TODAY) == []


def test_a_customer_without_a_policy_can_add_one(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.session.execute(InsurancePolicy.__table__.delete().where(InsurancePolicy.account_id == 2))
        uow.commit()
    assert insurance.policy_on_file(customer_id(uow_factory, JAMES), uow_factory(), TODAY) is None
    assert update(uow_factory, account=JAMES).replaced_insurer is None


@pytest.mark.parametrize("changes, reason", [
    ({"insurer": "yes"}, "insurer"),
    ({"insurer": "12345"}, "insurer"),
    ({"insurer": "<script>"}, "insurer"),
    ({"number": "12"}, "policy_number"),
    ({"number": "ABCDEFG"}, "policy_number"),
    ({"number": "PA 12 ; DROP TABLE"}, "policy_number"),
    ({"effective": date(2027, 2, 1), "expires": date(2027, 8, 1)}, "effective_too_far"),
    ({"effective": date(2026, 11, 20), "expires": date(2026, 11, 20)}, "expiry_before_effective"),
    ({"effective": date(2026, 5, 1), "expires": date(2026, 11, 1)}, "already_expired"),
    ({"effective": date(2026, 5, 1), "expires": TODAY}, "already_expired"),
    ({"effective": date(2026, 11, 1), "expires": date(2029, 11, 1)}, "term_too_long"),
])
def test_a_detail_that_fails_a_check_changes_nothing(uow_factory: UowFactory, changes: dict[str, Any],
                                                     reason: str) -> None:
    before = policies(uow_factory), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)
    with pytest.raises(InvalidInsuranceDetail) as refused:
        update(uow_factory, **changes)
    assert refused.value.reason == reason
    assert (policies(uow_factory), count(uow_factory, OutboxMessage), count(uow_factory, AuditLog)) == before


def test_a_policy_starting_within_60_days_counts() -> None:
    insurance.check_dates(date(2027, 1, 23), date(2027, 7, 23), TODAY)


@pytest.mark.parametrize("typed, tidy", [
    ("policy # pa 123 456", "PA123456"), ("my policy number is SF-4471-0932", "SF-4471-0932"),
    ("1234567890", "1234567890"), ("Policy: HX99812", "HX99812"),
])
def test_policy_numbers_are_read_the_way_people_type_them(typed: str, tidy: str) -> None:
    assert insurance.check_policy_number(typed) == tidy


def test_insurer_names_are_tidied() -> None:
    assert insurance.check_insurer("  state   farm ") == "State Farm"
    assert insurance.check_insurer("USAA") == "USAA"
