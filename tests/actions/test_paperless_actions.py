"""Paperless statements in chat: the switch offered from the customer's words, made on a yes."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.paperless import ActionChangeStatementDelivery, ActionOfferStatementDelivery, wanted_delivery
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import Customer, OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify


@pytest.mark.parametrize("text, wanted", [
    ("i want to go paperless", "email"), ("stop mailing me paper statements", "email"),
    ("can i turn off the paper statements", "email"), ("email me my statements instead", "email"),
    ("i'd like paper statements again", "mail"), ("opt out of paperless", "mail"),
    ("turn off paperless billing", "mail"), ("cancel the e-statements, mail them to me", "mail"),
    ("how do i change how i get my statements", None),
])
def test_the_words_say_which_way(text: str, wanted: str | None) -> None:
    assert wanted_delivery(text) == wanted


def _delivery(store: Container, email: str) -> str:
    with store.uow() as uow:
        return uow.session.scalar(select(Customer.statement_delivery).where(Customer.email == email))


async def test_maria_goes_paperless_on_a_yes_with_a_confirmation(store: Container) -> None:
    verify(store, "maria-chat")
    asked = make_tracker("maria-chat", {"verified": True}, intent="statement_delivery",
                         text="i want to go paperless")
    events, offer = await run(ActionOfferStatementDelivery(), asked)
    assert "by mail now, to your address in Atlanta, GA" in texts(offer)
    assert "Switch to paperless?" in texts(offer) and "m****@example.com" in texts(offer)
    assert {"event": "slot", "name": "statement_delivery_choice", "value": "email"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events]
    assert _delivery(store, "maria.lopez@example.com") == "mail"  # nothing changed before the yes
    _, done = await run(ActionChangeStatementDelivery(), make_tracker(
        "maria-chat", {"verified": True, "statement_delivery_choice": "email"}, intent="affirm"))
    assert "Done: you're paperless" in texts(done)
    assert _delivery(store, "maria.lopez@example.com") == "email"
    with store.uow() as uow:
        assert uow.session.scalar(select(OutboxMessage.subject).where(
            OutboxMessage.kind == "statement_delivery_changed")) == "You're now paperless"


async def test_james_already_paperless_is_told_so_and_offered_nothing(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionOfferStatementDelivery(), make_tracker(
        "james-chat", {"verified": True}, intent="statement_delivery", text="sign me up for paperless"))
    assert "You're already paperless: your statements come by email to j****@example.com" in texts(messages)
    assert not messages[0].get("buttons")


async def test_a_yes_without_an_offer_changes_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionChangeStatementDelivery(), make_tracker(
        "maria-chat", {"verified": True}, intent="affirm"))
    assert "lost track" in texts(messages) and _delivery(store, "maria.lopez@example.com") == "mail"
