"""The specialist work queues: every kind of request queues an item; one person claims it, decides
it once (a decline needs a note), the decision is applied with it and audited, and the customer
is told in the next chat once. The seed's day is 2026-11-24."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fixtures_store import DANA, JAMES, KEISHA, MARIA, UowFactory, customer_id, set_account
from sqlalchemy import select
from test_console import Staff, add_staff, alice, bob, supervisor  # noqa: F401 (fixtures)

from autofinance.adapters.store.models import Account, AuditLog, Fee, HardshipCase, WorkItem
from autofinance.config import Settings
from autofinance.domain.calendar import add_months
from autofinance.services import fees, hardship, insurance, lease_end, work_queue
from autofinance.services.errors import (
    InvalidNote,
    WorkItemAlreadyClaimed,
    WorkItemAlreadyDecided,
    WorkItemCannotComplete,
    WorkItemNotClaimed,
    WorkItemNotFound,
    WorkItemNotYours,
    WorkItemNoteRequired,
)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
SETTINGS = Settings()


def dana_extension(uow_factory: UowFactory) -> str:
    return hardship.request_hardship(customer_id(uow_factory, DANA), "extension", "lost my job",
                                     uow_factory(), TODAY, now=NOW).case_number


def james_extension(uow_factory: UowFactory, months: int = 2) -> str:
    return lease_end.request_lease_extension(customer_id(uow_factory, JAMES), months, uow_factory(),
                                             SETTINGS.public_base_url, TODAY, now=NOW).reference


def keisha_waiver(uow_factory: UowFactory) -> str:
    set_account(uow_factory, KEISHA, past_due_amount=Decimal("367.45"), status="past_due")
    reference = fees.fee_waiver_decision(customer_id(uow_factory, KEISHA), "c-1", "rest", uow_factory(),
                                         TODAY, now=NOW).reference
    set_account(uow_factory, KEISHA, past_due_amount=Decimal("0.00"), status="current")
    assert reference is not None
    return reference


def item(uow_factory: UowFactory, reference: str) -> WorkItem:
    with uow_factory() as uow:
        found = uow.session.scalars(select(WorkItem).where(WorkItem.reference == reference)).one()
        uow.session.expunge(found)
        return found


def account(uow_factory: UowFactory, number: str) -> Account:
    with uow_factory() as uow:
        found = uow.session.scalars(select(Account).where(Account.account_number == number)).one()
        uow.session.expunge(found)
        return found


def claim(uow_factory: UowFactory, reference: str, staff: Staff) -> work_queue.ItemView:
    return work_queue.claim_item(reference, staff, uow_factory(), now=NOW)


def complete(uow_factory: UowFactory, reference: str, staff: Staff, note: str = "") -> work_queue.ItemView:
    return work_queue.complete_item(reference, staff, note, uow_factory(), TODAY, now=NOW + timedelta(hours=1))


def decline(uow_factory: UowFactory, reference: str, staff: Staff, note: str = "Income not verified.") -> Any:
    return work_queue.decline_item(reference, staff, note, uow_factory(), TODAY, now=NOW + timedelta(hours=1))


def audit_rows(uow_factory: UowFactory, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with uow_factory() as uow:
        return [(row.actor, row.subject, row.details) for row in uow.session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


# --- what is queued ----------------------------------------------------------------------------


def test_each_kind_of_request_queues_one_open_item_under_the_number_the_customer_was_given(
        uow_factory: UowFactory) -> None:
    case = dana_extension(uow_factory)
    lease = james_extension(uow_factory)
    waiver = keisha_waiver(uow_factory)
    insurance.update_policy(customer_id(uow_factory, MARIA), "Harbor Auto Insurance", "HAI-9081-2275",
                            date(2026, 11, 20), date(2027, 5, 20), uow_factory(), SETTINGS.secret_pepper,
                            TODAY, now=NOW)

    with uow_factory() as uow:
        items = {i.kind: i for i in uow.session.scalars(select(WorkItem))}
        uow.session.expunge_all()
    assert set(items) == {"hardship", "lease_extension", "fee_waiver", "insurance_document"}
    assert all(i.status == "open" and i.claimed_by is None for i in items.values())
    assert (items["hardship"].reference, items["lease_extension"].reference, items["fee_waiver"].reference) == (
        case, lease, waiver)
    assert "lost my job" in items["hardship"].summary and "****5530" in items["hardship"].summary
    assert items["lease_extension"].details["months"] == 2
    proof = items["insurance_document"]
    assert proof.reference.startswith("PI") and "Harbor Auto Insurance, policy ****2275" in proof.summary
    assert "HAI-9081-2275" not in proof.summary + str(proof.details)  # only the last four
    assert dana_extension(uow_factory) == case  # asked again: the same case, the same item
    assert len(work_queue.work_queue(add_staff(uow_factory, "carol", "Carol"), uow_factory(), now=NOW)) == 4


def test_a_due_date_change_is_applied_at_once_and_queues_nothing(uow_factory: UowFactory) -> None:
    hardship.request_hardship(customer_id(uow_factory, MARIA), "due_date_change", "payday moved",
                              uow_factory(), TODAY, now=NOW, new_day=20)
    with uow_factory() as uow:
        assert uow.session.scalars(select(WorkItem)).all() == []


def test_each_queue_lists_its_kind_oldest_first_and_an_unknown_queue_is_refused(
        uow_factory: UowFactory, alice: Staff) -> None:
    case, lease = dana_extension(uow_factory), james_extension(uow_factory)

    assert [v.reference for v in work_queue.work_queue(alice, uow_factory(), "hardship", now=NOW)] == [case]
    assert [v.reference for v in work_queue.work_queue(alice, uow_factory(), "lease_extension", now=NOW)] == [lease]
    assert [v.customer for v in work_queue.work_queue(alice, uow_factory(), now=NOW)] == ["Dana W.", "James C."]
    with pytest.raises(WorkItemNotFound):
        work_queue.work_queue(alice, uow_factory(), "payments", now=NOW)


# --- claiming --------------------------------------------------------------------------------


def test_one_claim_wins_and_a_second_claimer_is_told_who_holds_it(
        uow_factory: UowFactory, alice: Staff, bob: Staff) -> None:
    case = dana_extension(uow_factory)

    view = claim(uow_factory, case, alice)
    with pytest.raises(WorkItemAlreadyClaimed) as second:
        claim(uow_factory, case, bob)
    with pytest.raises(WorkItemAlreadyClaimed) as again:
        claim(uow_factory, case, alice)

    assert (view.status, view.claimed_by, view.mine) == ("claimed", "Alice Agent", True)
    assert "Alice Agent" in second.value.message and "You have already" in again.value.message
    assert item(uow_factory, case).claimed_by == alice.id
    assert audit_rows(uow_factory, "work_item_claimed") == [(f"staff:{alice.id}", case, {"kind": "hardship"})]


def test_an_agent_sees_open_items_and_their_own_a_supervisor_sees_every_holder(
        uow_factory: UowFactory, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    case, lease = dana_extension(uow_factory), james_extension(uow_factory)
    claim(uow_factory, case, alice)

    assert [v.reference for v in work_queue.work_queue(bob, uow_factory(), now=NOW)] == [lease]
    assert [v.reference for v in work_queue.work_queue(alice, uow_factory(), now=NOW)] == [case, lease]
    everything = work_queue.work_queue(supervisor, uow_factory(), now=NOW)
    assert [(v.reference, v.claimed_by, v.mine) for v in everything] == [
        (case, "Alice Agent", False), (lease, None, False)]


def test_only_the_holder_or_a_supervisor_releases_and_a_released_item_can_be_claimed_again(
        uow_factory: UowFactory, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    case = dana_extension(uow_factory)
    claim(uow_factory, case, alice)

    with pytest.raises(WorkItemNotYours):
        work_queue.release_item(case, bob, uow_factory(), now=NOW)
    assert work_queue.release_item(case, alice, uow_factory(), now=NOW).status == "open"
    with pytest.raises(WorkItemNotClaimed):
        work_queue.release_item(case, alice, uow_factory(), now=NOW)
    claim(uow_factory, case, bob)
    assert work_queue.release_item(case, supervisor, uow_factory(), now=NOW).status == "open"
    assert [actor for actor, _, _ in audit_rows(uow_factory, "work_item_released")] == [
        f"staff:{alice.id}", f"staff:{supervisor.id}"]


# --- deciding --------------------------------------------------------------------------------


def test_only_the_holder_decides_an_item_and_an_unclaimed_one_must_be_claimed_first(
        uow_factory: UowFactory, alice: Staff, bob: Staff, supervisor: Staff) -> None:
    case = dana_extension(uow_factory)
    with pytest.raises(WorkItemNotClaimed):
        complete(uow_factory, case, alice)
    claim(uow_factory, case, alice)

    for other in (bob, supervisor):
        with pytest.raises(WorkItemNotYours):
            complete(uow_factory, case, other)
        with pytest.raises(WorkItemNotYours):
            decline(uow_factory, case, other)
    with pytest.raises(WorkItemNotFound):
        complete(uow_factory, "HSNOSUCH00", alice)
    assert item(uow_factory, case).status == "claimed"


def test_declining_needs_a_note_and_a_note_has_at_most_2000_characters(
        uow_factory: UowFactory, alice: Staff) -> None:
    case = dana_extension(uow_factory)
    claim(uow_factory, case, alice)

    for empty in ("", "   \n"):
        with pytest.raises(WorkItemNoteRequired):
            decline(uow_factory, case, alice, empty)
    with pytest.raises(InvalidNote):
        complete(uow_factory, case, alice, "x" * 2001)
    assert item(uow_factory, case).status == "claimed"


def test_an_approved_extension_moves_danas_oldest_missed_payment_to_the_end_once(
        uow_factory: UowFactory, alice: Staff) -> None:
    case = dana_extension(uow_factory)
    before = account(uow_factory, DANA)
    claim(uow_factory, case, alice)

    view = complete(uow_factory, case, alice, "Hours cut confirmed with payslips.")
    with pytest.raises(WorkItemAlreadyDecided):
        complete(uow_factory, case, alice)
    with pytest.raises(WorkItemAlreadyDecided):
        decline(uow_factory, case, alice)
    with pytest.raises(WorkItemAlreadyDecided):
        claim(uow_factory, case, alice)

    after = account(uow_factory, DANA)
    assert (view.status, view.note) == ("completed", "Hours cut confirmed with payslips.")
    assert (after.past_due_amount, after.days_past_due, after.status) == (Decimal("406.20"), 15, "past_due")
    assert after.maturity_date == add_months(before.maturity_date, 1)
    assert after.last_extension_on == TODAY and after.next_due_date == before.next_due_date
    with uow_factory() as uow:
        decided = uow.session.scalars(select(HardshipCase).where(HardshipCase.case_number == case)).one()
        assert (decided.status, decided.decided_at) == ("approved", NOW + timedelta(hours=1))
    [(actor, subject, details)] = audit_rows(uow_factory, "work_item_completed")
    assert (actor, subject, details["kind"], details["note_length"]) == (f"staff:{alice.id}", case, "hardship", 34)
    assert "payslips" not in str(details)


def test_a_declined_request_is_recorded_with_its_note_and_changes_no_account(
        uow_factory: UowFactory, alice: Staff) -> None:
    case, lease = dana_extension(uow_factory), james_extension(uow_factory)
    dana_before, james_before = account(uow_factory, DANA), account(uow_factory, JAMES)
    for reference in (case, lease):
        claim(uow_factory, reference, alice)
        assert decline(uow_factory, reference, alice).status == "declined"

    assert account(uow_factory, DANA).past_due_amount == dana_before.past_due_amount
    assert account(uow_factory, JAMES).maturity_date == james_before.maturity_date
    assert item(uow_factory, lease).note == "Income not verified."
    with uow_factory() as uow:
        assert uow.session.scalars(select(HardshipCase.status)).one() == "declined"
    assert [subject for _, subject, _ in audit_rows(uow_factory, "work_item_declined")] == [case, lease]


def test_a_confirmed_lease_extension_ends_the_lease_later_with_as_many_more_payments(
        uow_factory: UowFactory, alice: Staff) -> None:
    lease = james_extension(uow_factory, months=2)
    before = account(uow_factory, JAMES)
    claim(uow_factory, lease, alice)

    complete(uow_factory, lease, alice)

    after = account(uow_factory, JAMES)
    assert after.maturity_date == add_months(before.maturity_date, 2)
    assert (after.payments_remaining, after.monthly_payment) == (before.payments_remaining + 2, Decimal("389.00"))


def test_a_lease_that_changed_since_the_request_cannot_be_extended_and_nothing_is_half_done(
        uow_factory: UowFactory, alice: Staff) -> None:
    lease = james_extension(uow_factory)
    claim(uow_factory, lease, alice)
    moved = add_months(account(uow_factory, JAMES).maturity_date, 1)
    set_account(uow_factory, JAMES, maturity_date=moved)

    with pytest.raises(WorkItemCannotComplete):
        complete(uow_factory, lease, alice)

    assert item(uow_factory, lease).status == "claimed"  # rolled back: decline it with a note
    assert account(uow_factory, JAMES).maturity_date == moved


def test_a_granted_waiver_exception_waives_the_fee_and_a_second_grant_is_refused(
        uow_factory: UowFactory, alice: Staff) -> None:
    waiver = keisha_waiver(uow_factory)
    claim(uow_factory, waiver, alice)

    complete(uow_factory, waiver, alice, "Bank error confirmed.")

    keisha = account(uow_factory, KEISHA)
    assert (keisha.fees_due, keisha.last_fee_waiver_on) == (Decimal("40.00"), TODAY)
    with uow_factory() as uow:
        fee = uow.session.get_one(Fee, item(uow_factory, waiver).details["fee_id"])
        assert (fee.status, fee.waiver_reason) == ("waived", "exception")


def test_verifying_proof_of_insurance_changes_nothing_on_the_account(uow_factory: UowFactory, alice: Staff) -> None:
    insurance.update_policy(customer_id(uow_factory, MARIA), "Harbor Auto Insurance", "HAI-9081-2275",
                            date(2026, 11, 20), date(2027, 5, 20), uow_factory(), SETTINGS.secret_pepper,
                            TODAY, now=NOW)
    [view] = work_queue.work_queue(alice, uow_factory(), "insurance_document", now=NOW)
    before = account(uow_factory, MARIA)
    claim(uow_factory, view.reference, alice)

    assert complete(uow_factory, view.reference, alice).status == "completed"
    assert account(uow_factory, MARIA).principal_balance == before.principal_balance


# --- told in the next chat -------------------------------------------------------------------


def test_a_decision_is_told_in_the_customers_next_chat_once_and_an_open_item_is_not(
        uow_factory: UowFactory, alice: Staff) -> None:
    case, lease = dana_extension(uow_factory), james_extension(uow_factory)
    dana = customer_id(uow_factory, DANA)
    assert work_queue.outcomes_to_tell(dana, uow_factory(), now=NOW) == []  # still open
    claim(uow_factory, case, alice)
    decline(uow_factory, case, alice)

    told = work_queue.outcomes_to_tell(dana, uow_factory(), now=NOW + timedelta(hours=2))

    assert [(o.reference, o.kind, o.status) for o in told] == [(case, "hardship", "declined")]
    assert told[0].text == (f"a specialist could not approve your payment extension request (case {case}). "
                            "We can talk about other options.")
    assert work_queue.outcomes_to_tell(dana, uow_factory(), now=NOW + timedelta(hours=3)) == []
    assert item(uow_factory, case).customer_told_at == NOW + timedelta(hours=2)
    assert work_queue.outcomes_to_tell(customer_id(uow_factory, JAMES), uow_factory(), now=NOW) == []
    assert item(uow_factory, lease).customer_told_at is None


def test_a_decision_older_than_30_days_is_not_brought_up_in_a_chat(uow_factory: UowFactory, alice: Staff) -> None:
    case = dana_extension(uow_factory)
    claim(uow_factory, case, alice)
    decline(uow_factory, case, alice)

    later = NOW + timedelta(days=31)
    assert work_queue.outcomes_to_tell(customer_id(uow_factory, DANA), uow_factory(), now=later) == []
