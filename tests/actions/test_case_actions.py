"""Fraud reports and hardship help in conversation: the right cases, and the right side effects."""
from __future__ import annotations

from sqlalchemy import select

from actions.cases import ActionHardshipOptions, ActionRequestHardship, ActionSubmitFraudReport
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import Account, FraudCase, HandoffTicket, HardshipCase, OnlineCredential
from tests.actions.conftest import make_tracker, run, texts, verify

REPORT = {"fraud_description": "a payment I did not make", "fraud_when": "yesterday"}


async def test_a_verified_report_opens_a_case_locks_access_freezes_and_goes_first_in_line(
    store: Container, agent_online: None,
) -> None:
    verify(store, "maria-chat")
    events, messages = await run(ActionSubmitFraudReport(), make_tracker("maria-chat", REPORT, intent="inform"))
    assert "fraud case FR" in texts(messages) and "locked your online access" in texts(messages)
    assert [e["event"] for e in events[-2:]] == ["pause", "action"]  # paused, and listening
    with store.uow() as uow:
        assert uow.session.scalar(select(FraudCase.reporter_verified)) is True
        assert uow.session.scalar(select(Account.fraud_frozen).where(Account.account_number == "7301004821"))
        assert uow.session.scalar(select(OnlineCredential.locked).where(OnlineCredential.username == "mlopez"))
        assert uow.session.scalar(select(HandoffTicket.priority)) == 1


async def test_an_unverified_report_reaches_the_fraud_team_but_freezes_nothing(store: Container) -> None:
    events, messages = await run(ActionSubmitFraudReport(), make_tracker("anon", REPORT, intent="inform"))
    assert "fraud case FR" in texts(messages) and "locked" not in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(FraudCase.reporter_verified)) is False
        assert not uow.session.scalars(select(Account).where(Account.fraud_frozen)).all()
        assert not uow.session.scalar(select(OnlineCredential.locked).where(OnlineCredential.username == "mlopez"))
        assert uow.session.scalar(select(HandoffTicket.reason)) == "fraud"


async def test_dana_hears_she_can_ask_for_an_extension_and_what_it_means(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    _, messages = await run(ActionHardshipOptions(), make_tracker("dana-chat", {"verified": True}))
    assert "payment extension" in texts(messages).lower() and "interest" in texts(messages).lower()
    assert any(b["payload"].endswith('"extension"}') for b in messages[0]["buttons"])


async def test_asking_for_the_extension_opens_a_case_without_changing_the_account(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    tracker = make_tracker("dana-chat", {"verified": True}, intent="inform",
                           entities=[{"entity": "hardship_option", "value": "extension"}])
    _, messages = await run(ActionRequestHardship(), tracker)
    assert "HS" in texts(messages)
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase.option)) == "extension"
        assert uow.session.scalar(select(Account.last_extension_on).where(
            Account.account_number == "7301005530")) is None


async def _typed(text: str) -> tuple[list[dict], list[dict]]:
    """Dana (buttons 1 extension, 2 due-date change, 3 specialist) types her choice."""
    return await run(ActionRequestHardship(), make_tracker("dana-chat", {"verified": True},
                                                           intent="inform", text=text))


async def test_a_typed_number_picks_the_button_with_that_number(
        store: Container, agent_online: None) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    events, messages = await _typed("3")  # SMS shows "3. Talk to a specialist"
    assert "connecting you" in texts(messages) and [e["event"] for e in events[-2:]] == ["pause", "action"]
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase)) is None  # no extension asked for
        assert uow.session.scalar(select(HandoffTicket.reason)) == "hardship"
    _, messages = await _typed("the first one")
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase.option)) == "extension"


async def test_an_unclear_typed_choice_asks_again_and_files_nothing(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    for text in ("$200", "4", "maybe", "extension or a specialist?"):
        events, messages = await _typed(text)
        assert "which one" in texts(messages)
        assert events == [{"event": "followup", "name": "action_hardship_options", "timestamp": None}]
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase)) is None
        assert uow.session.scalar(select(HandoffTicket)) is None


async def test_a_report_that_says_what_and_when_asks_nothing_more(store: Container) -> None:
    from actions.cases import ActionStartFraudReport  # noqa: PLC0415

    text = "I want to report fraud. Someone logged into my account and made a $600 payment on Monday"
    events, said = await run(ActionStartFraudReport(), make_tracker("anyone", {}, intent="report_fraud", text=text))
    assert {e["name"]: e["value"] for e in events} == {
        "fraud_description": text, "fraud_when": "Someone logged into my account and made a $600 payment on Monday"}
    assert [m.get("response") for m in said] == ["utter_fraud_empathy_no_question"]


async def test_a_bare_report_asks_both_questions(store: Container) -> None:
    from actions.cases import ActionStartFraudReport  # noqa: PLC0415

    events, said = await run(ActionStartFraudReport(), make_tracker("anyone", {}, intent="report_fraud",
                                                                    text="report fraud"))
    assert events == [] and [m.get("response") for m in said] == ["utter_fraud_empathy"]


async def test_a_due_date_change_in_hardship_is_a_case_for_a_specialist(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    _, messages = await _typed("2")
    assert "Your case number is" in texts(messages)
    with store.uow() as uow:
        case = uow.session.scalars(select(HardshipCase)).one()
        assert case.option == "specialist" and case.reason.startswith("due-date change")


async def test_a_change_of_mind_in_one_message_takes_the_last_choice(store: Container) -> None:
    verify(store, "dana-chat", "7301005530", "60614")
    await _typed("let's do the due date change. no wait, sorry, the payment extension is better for me")
    with store.uow() as uow:
        assert uow.session.scalar(select(HardshipCase.option)) == "extension"
