"""Year-end interest in chat: the figure and a statement emailed for a loan, none for a lease."""
from __future__ import annotations

from sqlalchemy import select

from actions.runtime import lender_today
from actions.tax import ActionInterestStatement
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify


def _links(store: Container) -> int:
    with store.uow() as uow:
        return len(uow.session.scalars(select(OutboxMessage.id).where(
            OutboxMessage.kind == "document_link")).all())


async def test_maria_hears_this_years_interest_and_gets_the_statement_by_email(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionInterestStatement(), make_tracker(
        "maria-chat", {"verified": True}, intent="tax_document",
        text="how much interest have i paid so far this year"))
    said = texts(messages)
    assert f"In {lender_today().year} so far" in said and "in interest and" in said
    assert "m****@example.com" in said and "not tax advice" in said and _links(store) == 1


async def test_a_year_without_payments_is_said_so_and_nothing_is_sent(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionInterestStatement(), make_tracker(
        "maria-chat", {"verified": True}, intent="tax_document", text="my 1098 for 2025"))
    assert "no posted payments on your loan in 2025" in texts(messages) and _links(store) == 0
    _, messages = await run(ActionInterestStatement(), make_tracker(
        "maria-chat", {"verified": True}, intent="tax_document", text="my 1098 for 2019"))
    assert "Your loan started after 2019" in texts(messages) and _links(store) == 0


async def test_james_lease_has_no_interest_statement(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionInterestStatement(), make_tracker(
        "james-chat", {"verified": True}, intent="tax_document", text="do i get a tax form for my lease"))
    assert "A lease doesn't have a year-end interest statement" in texts(messages) and _links(store) == 0


async def test_a_year_named_in_answer_is_the_one_given(store: Container) -> None:
    verify(store, "maria-chat")
    asked = [{"event": "user", "text": "how much interest did i pay last year",
              "parse_data": {"intent": {"name": "tax_document"}}},
             {"event": "action", "name": "action_interest_statement"},
             {"event": "action", "name": "action_listen"},
             {"event": "user", "text": "this year then", "parse_data": {"intent": {"name": "inform"}}}]
    _, messages = await run(ActionInterestStatement(), make_tracker(
        "maria-chat", {"verified": True}, intent="inform", text="this year then", events=asked))
    assert f"In {lender_today().year} so far" in texts(messages) and _links(store) == 1
