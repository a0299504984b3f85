"""Contact changes: validation, a code to the new destination, confirmation, notice to the old."""
from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fixtures_store import JAMES, MARIA, UowFactory, customer_id
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from autofinance.config import Settings
from autofinance.adapters.notify import readable_body
from autofinance.adapters.sealing import unseal_at_rest
from autofinance.adapters.security import keyed_hash
from autofinance.services import contact, identity
from autofinance.services.contact import ContactChanged, ContactChangePending
from autofinance.services.errors import (
    ContactChangeHeld,
    ContactChangeLimitReached,
    ContactCodeExpired,
    ContactCodeInvalid,
    ContactUnchanged,
    IdentificationFailed,
    InvalidContactValue,
    NoPendingContactChange,
)
from autofinance.adapters.store.models import AuditLog, ContactChange, Customer, OutboxMessage

PEPPER = Settings().secret_pepper  # the seeded store's (tests/unit/conftest.py)


# --- helpers ----------------------------------------------------------------------------


def request(uow_factory: UowFactory, settings: Settings, clock: Any, field: str, value: str,
            account: str = MARIA) -> ContactChangePending:
    return contact.request_contact_change(customer_id(uow_factory, account), field, value,
                                          uow_factory(), settings.secret_pepper, now=clock.now)


def confirm(uow_factory: UowFactory, settings: Settings, clock: Any, field: str, code: str,
            account: str = MARIA) -> ContactChanged:
    return contact.confirm_contact_change(customer_id(uow_factory, account), field, code,
                                          uow_factory(), settings.secret_pepper, now=clock.now)


def messages(uow_factory: UowFactory, kind: str) -> list[OutboxMessage]:
    with uow_factory() as uow:
        found = list(uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return found


def last_code(uow_factory: UowFactory) -> str:
    """The code as the customer reads it in the message we sent (sealed in the outbox)."""
    body = readable_body(messages(uow_factory, "contact_change_code")[-1], PEPPER)
    found = re.search(r"\b(\d{6})\b", body or "")
    assert found is not None
    return found.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def customer_row(uow_factory: UowFactory, account: str = MARIA) -> tuple[str, ...]:
    with uow_factory() as uow:
        c = uow.session.get_one(Customer, customer_id(uow_factory, account))
        return (c.email, c.mobile, c.address_line1, c.city, c.state,
                unseal_at_rest(c.zip_code_sealed, PEPPER))


def snapshot(uow_factory: UowFactory) -> tuple[Any, ...]:
    """Every customer's contact details, every change row, the outbox and the audit log."""
    with uow_factory() as uow:
        s = uow.session
        customers = s.execute(select(Customer.email, Customer.mobile, Customer.address_line1,
                                     Customer.city, Customer.state, Customer.zip_code_hash)
                              .order_by(Customer.id)).all()
        changes = s.execute(select(ContactChange.id, ContactChange.attempts,
                                   ContactChange.confirmed_at, ContactChange.cancelled_at)
                            .order_by(ContactChange.id)).all()
        counts = [s.scalar(select(func.count()).select_from(m)) for m in (OutboxMessage, AuditLog)]
        return tuple(customers), tuple(changes), tuple(counts)


# --- requesting -------------------------------------------------------------------------


def test_an_email_change_sends_a_code_to_the_new_address_and_changes_nothing_yet(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    before = customer_row(uow_factory)
    pending = request(uow_factory, settings, clock, "email", "  Maria.New@Example.ORG ")

    assert pending == ContactChangePending("email", "m****@example.org", 10)
    sent = messages(uow_factory, "contact_change_code")
    assert [(m.to, m.channel) for m in sent] == [("maria.new@example.org", "email")]
    assert customer_row(uow_factory) == before
    code = last_code(uow_factory)
    with uow_factory() as uow:
        change = uow.session.scalars(select(ContactChange)).one()
        assert unseal_at_rest(change.new_value, PEPPER) == "maria.new@example.org"
        assert change.code_hash == keyed_hash(code, settings.secret_pepper) != code
        assert change.expires_at == clock.now + contact.CODE_LIFETIME
        assert (change.attempts, change.confirmed_at, change.cancelled_at) == (0, None, None)


@pytest.mark.parametrize("typed", ["(404) 555-0199", "404.555.0199", "+1 404 555 0199",
                                   "1-404-555-0199", "4045550199"])
def test_a_us_mobile_is_stored_as_e164_and_its_code_goes_by_text_to_the_new_number(
        typed: str, uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    pending = request(uow_factory, settings, clock, "mobile", typed)

    assert pending.destination_masked == "***-***-0199"
    assert [(m.to, m.channel, m.subject) for m in messages(uow_factory, "contact_change_code")] \
        == [("+14045550199", "sms", "")]


def test_an_address_change_is_normalised_and_its_code_goes_to_the_email_on_file(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    typed = " 12  Oak St. ,  decatur , ga 30030 "
    pending = request(uow_factory, settings, clock, "address", typed)

    assert pending.destination_masked == "m****@example.com"
    assert messages(uow_factory, "contact_change_code")[-1].to == "maria.lopez@example.com"
    with uow_factory() as uow:
        stored = uow.session.scalars(select(ContactChange.new_value)).one()
    assert "30030" not in stored  # sealed: the new ZIP is a verification factor
    assert unseal_at_rest(stored, PEPPER) == "12 Oak St, Decatur, GA 30030"


@pytest.mark.parametrize("field, value, says", [
    ("email", "not-an-email", "email"),
    ("email", "maria@localhost", "email"),
    ("email", "ma ria@example.com", "email"),
    ("email", "maria@@example.com", "email"),
    ("email", "", "email"),
    ("mobile", "+44 20 7946 0958", "US mobile"),
    ("mobile", "555-0199", "10-digit"),
    ("mobile", "(104) 555-0199", "10-digit"),
    ("mobile", "404-555-01999", "10-digit"),
    ("mobile", "call me maybe", "10-digit"),
    ("address", "somewhere nice", "street, city, state ZIP"),
    ("address", "12 Oak St, Decatur", "street, city, state ZIP"),
    ("address", "Oak Street, Decatur, GA 30030", "house or building number"),
    ("address", "12 Oak St, , GA 30030", "city"),
    ("address", "12 Oak St, Decatur, Georgia 30030", "2-letter state"),
    ("address", "12 Oak St, Decatur, ZZ 30030", "2-letter state"),
    ("address", "12 Oak St, Decatur, GA 3003", "5-digit ZIP"),
    ("address", "<script>1</script>, Decatur, GA 30030", "house or building number"),
])
def test_an_unusable_value_is_refused_saying_what_is_wrong_and_nothing_changes(
        field: str, value: str, says: str, uow_factory: UowFactory, settings: Settings,
        clock: Any) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(InvalidContactValue) as refused:
        request(uow_factory, settings, clock, field, value)
    assert says in refused.value.message
    assert snapshot(uow_factory) == before


@pytest.mark.parametrize("field, value", [
    ("email", "MARIA.LOPEZ@example.com"),
    ("mobile", "(404) 555-0101"),
    ("address", "1180 peachtree st ne, atlanta, GA 30309"),
])
def test_the_value_already_on_file_is_refused_and_nothing_changes(
        field: str, value: str, uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    before = snapshot(uow_factory)
    with pytest.raises(ContactUnchanged):
        request(uow_factory, settings, clock, field, value)
    assert snapshot(uow_factory) == before


def test_a_new_request_cancels_the_earlier_pending_change_of_the_same_field_only(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "first@example.org")
    first_code = last_code(uow_factory)
    request(uow_factory, settings, clock, "mobile", "404-555-0199")
    request(uow_factory, settings, clock, "email", "second@example.org")

    with uow_factory() as uow:
        rows = uow.session.execute(select(ContactChange.field, ContactChange.new_value,
                                          ContactChange.cancelled_at)
                                   .order_by(ContactChange.id)).all()
    assert [(f, unseal_at_rest(v, PEPPER), c is not None) for f, v, c in rows] == [
        ("email", "first@example.org", True), ("mobile", "+14045550199", False),
        ("email", "second@example.org", False)]
    if first_code != last_code(uow_factory):  # the old code is dead (unless equal by chance)
        with pytest.raises(ContactCodeInvalid):
            confirm(uow_factory, settings, clock, "email", first_code)


def test_requests_are_limited_per_day_and_the_refusal_changes_nothing(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    for i in range(contact.MAX_REQUESTS_PER_DAY):
        request(uow_factory, settings, clock, "email", f"try{i}@example.org")
    before = snapshot(uow_factory)
    with pytest.raises(ContactChangeLimitReached):
        request(uow_factory, settings, clock, "email", "one.more@example.org")
    assert snapshot(uow_factory) == before

    clock.advance(days=1, seconds=1)
    request(uow_factory, settings, clock, "email", "next.day@example.org")


# --- confirming -------------------------------------------------------------------------


def test_the_right_code_changes_the_email_and_notifies_the_old_address(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    clock.advance(minutes=9)
    changed = confirm(uow_factory, settings, clock, "email", f" {last_code(uow_factory)} ")

    assert changed == ContactChanged("email", "m****@example.org")
    assert customer_row(uow_factory)[0] == "maria.new@example.org"
    [notice] = messages(uow_factory, "contact_changed_notice")
    assert (notice.to, notice.channel) == ("maria.lopez@example.com", "email")
    assert "email address" in notice.body and "m****@example.org" in notice.body
    assert "did not make this change" in notice.body and contact.SUPPORT_PHONE in notice.body
    assert "maria.new@example.org" not in notice.body
    with uow_factory() as uow:
        audit = uow.session.scalars(
            select(AuditLog).where(AuditLog.action == "contact_changed")).one()
        assert audit.details == {"field": "email", "old": "m****@example.com",
                                 "new": "m****@example.org"}
        assert uow.session.scalars(select(ContactChange.confirmed_at)).one() == clock.now


def test_a_mobile_change_texts_the_notice_to_the_old_number(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "mobile", "404-555-0199")
    confirm(uow_factory, settings, clock, "mobile", last_code(uow_factory))

    assert customer_row(uow_factory)[1] == "+14045550199"
    [notice] = messages(uow_factory, "contact_changed_notice")
    assert (notice.to, notice.channel) == ("+14045550101", "sms")
    assert "***-***-0199" in notice.body and "4045550199" not in notice.body


def test_an_address_change_updates_street_city_state_and_zip_and_emails_the_notice(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "address", "12 Oak St, Apt 4, Decatur, GA, 30030-1234")
    changed = confirm(uow_factory, settings, clock, "address", last_code(uow_factory))

    assert changed.new_value_masked == "****, Decatur, GA 300**"
    assert customer_row(uow_factory)[2:] == ("12 Oak St, Apt 4", "Decatur", "GA", "30030")
    [notice] = messages(uow_factory, "contact_changed_notice")
    assert notice.to == "maria.lopez@example.com" and "12 Oak" not in notice.body
    with uow_factory() as uow:
        details = uow.session.scalars(select(AuditLog.details)
                                      .where(AuditLog.action == "contact_changed")).one()
    assert details["old"] == "****, Atlanta, GA 303**" and "Peachtree" not in str(details)


def test_an_address_change_moves_the_zip_factor_and_keeps_no_zip_in_clear(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "address", "12 Oak St, Decatur, GA 30030")
    confirm(uow_factory, settings, clock, "address", last_code(uow_factory))

    with uow_factory() as uow:
        customer = uow.session.get_one(Customer, customer_id(uow_factory, MARIA))
        assert customer.zip_code_hash == keyed_hash("30030", PEPPER)
        assert "30030" not in customer.zip_code_sealed
    assert identity.identify("conv-new-zip", MARIA, "30030", PEPPER, uow_factory(),
                             now=clock.now).email_masked == "m****@example.com"
    with pytest.raises(IdentificationFailed):
        identity.identify("conv-old-zip", MARIA, "30309", PEPPER, uow_factory(), now=clock.now)


def test_a_wrong_code_counts_down_then_cancels_the_change_and_never_changes_the_customer(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    code = last_code(uow_factory)
    before = customer_row(uow_factory), len(messages(uow_factory, "contact_changed_notice"))

    for left in (4, 3, 2, 1, 0):
        with pytest.raises(ContactCodeInvalid) as refused:
            confirm(uow_factory, settings, clock, "email", wrong(code))
        assert refused.value.attempts_left == left
    assert "cancelled" in refused.value.message
    with pytest.raises(NoPendingContactChange):  # even the right code is too late now
        confirm(uow_factory, settings, clock, "email", code)
    assert (customer_row(uow_factory), len(messages(uow_factory, "contact_changed_notice"))) \
        == before


def test_an_expired_code_is_refused_and_nothing_changes(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    clock.advance(minutes=10)
    before = snapshot(uow_factory)
    with pytest.raises(ContactCodeExpired):
        confirm(uow_factory, settings, clock, "email", last_code(uow_factory))
    assert snapshot(uow_factory) == before


def test_a_code_works_once(uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    code = last_code(uow_factory)
    confirm(uow_factory, settings, clock, "email", code)
    before = snapshot(uow_factory)
    with pytest.raises(NoPendingContactChange):
        confirm(uow_factory, settings, clock, "email", code)
    assert snapshot(uow_factory) == before


@pytest.mark.parametrize("account, field", [(MARIA, "email"), (MARIA, "mobile"), (JAMES, "email")])
def test_without_a_pending_change_of_that_field_for_that_customer_nothing_is_confirmed(
        account: str, field: str, uow_factory: UowFactory, settings: Settings,
        clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.org", account=MARIA)
    code = last_code(uow_factory)
    if (account, field) == (MARIA, "email"):
        confirm(uow_factory, settings, clock, field, code)  # used up: now none is pending
    before = snapshot(uow_factory)
    with pytest.raises(NoPendingContactChange):
        confirm(uow_factory, settings, clock, field, code, account=account)
    assert snapshot(uow_factory) == before


def test_logs_never_hold_the_values_or_the_code(
        uow_factory: UowFactory, settings: Settings, clock: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    code = last_code(uow_factory)
    confirm(uow_factory, settings, clock, "email", code)

    text = caplog.text
    assert code not in text and "maria.new" not in text and "maria.lopez" not in text


def test_the_database_itself_allows_one_pending_change_per_field(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    """What stops two racing requests both leaving a live code: a partial unique index."""
    request(uow_factory, settings, clock, "email", "maria.new@example.org")
    maria = customer_id(uow_factory, MARIA)
    with uow_factory() as uow:
        uow.session.add(ContactChange(customer_id=maria, field="email", new_value="x@example.org",
                                      code_hash="0" * 64, created_at=clock.now,
                                      expires_at=clock.now))
        with pytest.raises(IntegrityError):
            uow.session.flush()


def _report_fraud(uow_factory: UowFactory, clock: Any) -> None:
    from autofinance.services import fraud
    fraud.report_fraud("conv-fraud", "someone paid from my account", "yesterday",
                       customer_id(uow_factory, MARIA), True, uow_factory(), now=clock.now)


def _email_on_file(uow_factory: UowFactory) -> str:
    with uow_factory() as uow:
        return uow.session.get_one(Customer, customer_id(uow_factory, MARIA)).email


def test_contact_details_cannot_be_changed_while_a_verified_fraud_report_is_open(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    """An intruder who got in must not redirect where codes and notices go once the real
    customer has reported fraud: only the fraud team lifts the hold."""
    _report_fraud(uow_factory, clock)
    before = _email_on_file(uow_factory)
    with pytest.raises(ContactChangeHeld):
        request(uow_factory, settings, clock, "email", "intruder@example.net")
    assert _email_on_file(uow_factory) == before
    assert messages(uow_factory, "contact_change_code") == []


def test_a_change_requested_before_a_fraud_report_cannot_be_confirmed_after_it(
        uow_factory: UowFactory, settings: Settings, clock: Any) -> None:
    request(uow_factory, settings, clock, "email", "maria.new@example.com")
    code = last_code(uow_factory)
    _report_fraud(uow_factory, clock)
    with pytest.raises(ContactChangeHeld):
        confirm(uow_factory, settings, clock, "email", code)
    assert _email_on_file(uow_factory) != "maria.new@example.com"


def test_an_address_without_a_comma_before_the_state_is_read_as_typed() -> None:
    assert contact.normalise("address", "2217 N Halsted St Apt 3R, Chicago IL 60614") == \
        "2217 N Halsted St Apt 3R, Chicago, IL 60614"
