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


async def test_a_statement_not_yet_chosen_is_asked_for_not_sent(store: Container) -> None:
    """"one of my old statements, not sure which month yet": the choices, nothing emailed."""
    verify(store, "maria-chat")
    for asked in ("I need one of my old statements, not sure which month yet",
                  "can I get an older statement", "i need some of my past statements"):
        _, messages = await run(ActionSendStatement(), make_tracker(
            "maria-chat", {"verified": True}, intent="request_statement", text=asked))
        assert "Which would you like?" in texts(messages) and _links(store) == [], asked
    _, messages = await run(ActionSendStatement(), make_tracker(
        "maria-chat", {"verified": True}, intent="request_statement",
        text="one of my old statements, the march one"))
    assert "m****@example.com" in texts(messages) and "statement-" in _links(store)[-1]


async def test_the_month_named_in_answer_is_the_one_sent_not_the_first_request(store: Container) -> None:
    verify(store, "maria-chat")
    earlier = add_months(add_months(lender_today().replace(day=1), -1), -2)
    first = {"event": "user", "text": "I need one of my old statements",
             "parse_data": {"intent": {"name": "request_statement"}, "entities": []}}
    asked = [first, {"event": "action", "name": "action_send_statement"},
             {"event": "action", "name": "action_listen"},
             {"event": "user", "text": f"{earlier:%B}", "parse_data": {"intent": {"name": "inform"}}}]
    tracker = make_tracker("maria-chat", {"verified": True}, intent="inform", text=f"{earlier:%B}",
                           events=asked)
    _, messages = await run(ActionSendStatement(), tracker)
    assert f"/documents/statement-{earlier:%Y-%m}?" in _links(store)[-1]


async def test_the_verification_code_is_never_read_as_the_statement_named(store: Container) -> None:
    """Right after verification the latest message is the code: the request before it counts."""
    verify(store, "maria-chat")
    request = {"event": "user", "text": "I need one of my old statements, not sure which month yet",
               "parse_data": {"intent": {"name": "request_statement"}, "entities": []}}
    code = {"event": "user", "text": "123456", "parse_data": {"intent": {"name": "inform"}}}
    tracker = make_tracker("maria-chat", {"verified": True}, intent="inform", text="123456",
                           events=[request, {"event": "action", "name": "identity_form"},
                                   {"event": "action", "name": "action_listen"}, code])
    _, messages = await run(ActionSendStatement(), tracker)
    assert "Which would you like?" in texts(messages) and _links(store) == []
