"""Statements and autopay cancellation for verified customers."""
from __future__ import annotations

from sqlalchemy import select

from actions.runtime import lender_today
from actions.servicing import ActionCancelAutopay, ActionConfirmCancelAutopay, ActionSendStatement
from autofinance.domain.calendar import add_months
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import AutopayEnrolment
from autofinance.services.outbox import newest_messages
from tests.actions.conftest import make_tracker, run, texts, verify


async def test_a_statement_link_goes_to_the_email_on_file_not_into_the_chat(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionSendStatement(), make_tracker("maria-chat", {"verified": True}))
    assert "m****@example.com" in texts(messages) and "/documents/" not in texts(messages)
    [sent] = newest_messages(store.uow(), store.settings.secret_pepper, kind="document_link")
    assert "/documents/statement-" in sent.body and "sig=" in sent.body


async def test_james_confirms_and_his_autopay_is_cancelled(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    tracker = make_tracker("james-chat", {"verified": True})
    _, asked = await run(ActionConfirmCancelAutopay(), tracker)
    assert "checking ****2244" in texts(asked) and "Cancel it?" in texts(asked)
    with store.uow() as uow:
        assert uow.session.scalar(select(AutopayEnrolment.active)) is True
    _, done = await run(ActionCancelAutopay(), tracker)
    assert "cancelled" in texts(done)
    with store.uow() as uow:
        assert uow.session.scalar(select(AutopayEnrolment.active)) is False


async def test_cancelling_autopay_that_is_not_on_changes_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionConfirmCancelAutopay(), make_tracker("maria-chat", {"verified": True}))
    assert "isn't on" in texts(messages)


def _links(store: Container) -> list[str]:
    """The document links emailed, oldest first, as the customer reads them (sealed at rest)."""
    sent = newest_messages(store.uow(), store.settings.secret_pepper, kind="document_link")
    return [message.body for message in reversed(sent)]


async def test_the_statement_or_contract_named_is_the_one_sent(store: Container) -> None:
    verify(store, "maria-chat")
    last_month = add_months(lender_today().replace(day=1), -1)
    earlier = add_months(last_month, -2)
    for asked, document in [(f"my {earlier:%B} statement", f"statement-{earlier:%Y-%m}"),
                            ("the contract please", "contract"), ("send my statement", f"statement-{last_month:%Y-%m}")]:
        _, messages = await run(ActionSendStatement(), make_tracker("maria-chat", {"verified": True},
                                                                    intent="request_statement", text=asked))
        assert "m****@example.com" in texts(messages), asked
        assert f"/documents/{document}?" in _links(store)[-1], asked


async def test_a_statement_that_is_not_there_is_not_sent(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionSendStatement(), make_tracker("maria-chat", {"verified": True},
                                                                intent="inform", text="march 2019"))
    assert "can't find that one" in texts(messages) and _links(store) == []
