"""A specialist's decision is said in the customer's next verified chat, once, before the answer."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from actions.account import ActionCheckBalance
from actions.runtime import lender_today
from autofinance.adapters.store.models import Account, StaffUser, WorkItem
from autofinance.bootstrap import Container
from autofinance.services import lease_end, work_queue
from tests.actions.conftest import domain, make_tracker, run, texts, verify

JAMES, JAMES_ZIP = "jchen", "94107"


@dataclass(frozen=True)
class Specialist:
    id: int
    display_name: str
    is_supervisor: bool = True


def james_extension_confirmed(store: Container) -> str:
    """James asked to extend his lease by 2 months; a specialist claims and confirms it."""
    with store.uow() as uow:
        james = uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301007734"))
        staff = uow.session.scalars(select(StaffUser)).first()
        specialist = Specialist(staff.id, staff.display_name)
    reference = lease_end.request_lease_extension(james, 2, store.uow(), "http://x", lender_today()).reference
    work_queue.claim_item(reference, specialist, store.uow())
    work_queue.complete_item(reference, specialist, "", store.uow(), lender_today())
    return reference


def told(store: Container, reference: str) -> bool:
    with store.uow() as uow:
        return uow.session.scalar(select(WorkItem.customer_told_at).where(WorkItem.reference == reference)) is not None


async def test_the_next_verified_answer_starts_with_the_decision_and_says_it_only_once(store: Container) -> None:
    reference = james_extension_confirmed(store)
    verify(store, "james-chat", JAMES, JAMES_ZIP)

    _, first = await run(ActionCheckBalance(), make_tracker("james-chat", {"verified": True}))
    _, second = await run(ActionCheckBalance(), make_tracker("james-chat", {"verified": True}))

    assert first[0]["response"] == "utter_work_item_outcome"
    outcome = first[0]["work_item_outcome"]
    assert outcome.startswith("a specialist confirmed your request to extend your lease by 2 months")
    assert reference in outcome
    assert "5 payments of $389.00" in texts(first[1:])  # the answer follows, with the change in it
    assert all(m.get("response") != "utter_work_item_outcome" for m in second)
    assert told(store, reference)
    response = domain()["responses"]["utter_work_item_outcome"][0]["text"]
    assert "{work_item_outcome}" in response  # the words are the catalogue's, filled in by Rasa


async def test_an_unverified_customer_is_not_told_and_the_decision_waits(store: Container) -> None:
    reference = james_extension_confirmed(store)

    _, messages = await run(ActionCheckBalance(), make_tracker("stranger-chat", {"verified": True}))

    assert all(m.get("response") != "utter_work_item_outcome" for m in messages)
    assert not told(store, reference)


async def test_another_customer_never_hears_someone_elses_decision(store: Container) -> None:
    reference = james_extension_confirmed(store)
    verify(store, "maria-chat")

    _, messages = await run(ActionCheckBalance(), make_tracker("maria-chat", {"verified": True}))

    assert all(m.get("response") != "utter_work_item_outcome" for m in messages)
    assert not told(store, reference)
