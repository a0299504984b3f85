"""The second question of a message (actions/answers.py): answered after the first, an account
one only for a verified customer."""
from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

import actions.account  # noqa: F401 - the answers, loaded as the action server loads them
import actions.cases
from actions import runtime
from actions.answers import ActionAnswerSecondQuestion, answer_second_question
from autofinance.bootstrap import Container
from autofinance.services import identity

from tests.actions.conftest import make_tracker, run, texts, verify


def _asking(second: str, sender: str = "maria-chat", **slots: Any) -> Any:
    return make_tracker(sender, dict(slots), intent="faq", text="what are your hours and what's my balance",
                        entities=[{"entity": "also_asked", "value": second, "start": 24, "end": 42}])


async def test_a_second_common_question_gets_its_answer(store: Container) -> None:
    _, messages = await run(ActionAnswerSecondQuestion(), _asking("faq/mailing_address"))
    assert [m.get("response") for m in messages] == ["utter_faq/mailing_address"]


async def test_an_account_question_second_is_not_answered_before_verification(store: Container) -> None:
    events, messages = await run(ActionAnswerSecondQuestion(), _asking("check_balance", "stranger"))
    assert events == [] and messages == []


async def test_an_account_question_second_is_answered_once_verified(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionAnswerSecondQuestion(), _asking("check_balance", verified=True))
    assert "$18,420.55" in texts(messages)


async def test_after_an_account_answer_the_other_account_question_is_answered(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _asking("payoff_quote", verified=True)
    customer = await identity_of(store)
    dispatcher = CollectingDispatcher()
    await answer_second_question("action_check_balance", dispatcher, tracker, {}, customer)
    assert "payoff amount is" in texts(dispatcher.messages).lower()
    again = CollectingDispatcher()
    await answer_second_question("action_payoff_quote", again, tracker, {}, customer)
    assert again.messages == []  # the same question is not answered twice
    contained = CollectingDispatcher()
    await answer_second_question("action_check_balance", contained, _asking("next_payment", verified=True),
                                 {}, customer)
    assert contained.messages == []  # the balance already says when the next payment is due


async def identity_of(store: Container) -> identity.VerifiedCustomer:
    return await runtime.call(identity.require_verified, "maria-chat", "read", store.uow())


async def test_a_task_asked_second_starts_after_the_answer(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="check_balance",
                           text="how much do I owe and can I pay it now from my checking",
                           entities=[{"entity": "also_asked", "value": "make_payment"}])
    events, messages = await run(actions.account.ActionCheckBalance(), tracker)
    assert "$18,420.55" in texts(messages)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_start_payment"]


async def test_a_task_started_second_does_not_start_itself_again(store: Container) -> None:
    verify(store, "maria-chat")
    request = {"event": "user", "text": "balance and can I pay it now", "parse_data": {
        "intent": {"name": "check_balance"}, "entities": [{"entity": "also_asked", "value": "make_payment"}]}}
    yes = {"event": "user", "text": "yes", "parse_data": {"intent": {"name": "affirm"}, "entities": []}}
    tracker = make_tracker("maria-chat", {"verified": True}, intent="affirm", text="yes", events=[request, yes])
    dispatcher = CollectingDispatcher()
    customer = await identity_of(store)
    assert await answer_second_question("action_submit_payment", dispatcher, tracker, {}, customer,
                                        asked_for="make_payment") == []


async def test_asking_for_a_person_with_a_question_answers_then_hands_off(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="check_balance",
                           text="what's my balance? and I'd like a real person, not a chatbot",
                           entities=[{"entity": "also_asked", "value": "human_handoff"}])
    events, messages = await run(actions.account.ActionCheckBalance(), tracker)
    assert "$18,420.55" in texts(messages)
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_handoff"]


async def test_a_question_asked_with_hardship_help_is_answered_before_the_options(store: Container) -> None:

    verify(store, "dana-chat", identifier="7301005530", factor="60614")
    tracker = make_tracker("dana-chat", {"verified": True}, intent="hardship_help",
                           text="how much am I behind, and do you have any kind of hardship program?",
                           entities=[{"entity": "also_asked", "value": "past_due"}])
    events, messages = await run(actions.cases.ActionHardshipOptions(), tracker)
    said = texts(messages)
    assert "$812.40" in said and "Here's what I can offer" in said
    assert "between the 1st and the 20th" in said
    assert said.index("$812.40") < said.index("Here's what I can offer")
    assert not [e for e in events if e["event"] == "followup"]


async def test_a_task_asked_with_hardship_help_waits_for_the_options(store: Container) -> None:

    verify(store, "dana-chat", identifier="7301005530", factor="60614")
    tracker = make_tracker("dana-chat", {"verified": True}, intent="hardship_help",
                           text="can I get on a hardship plan and also pay something now",
                           entities=[{"entity": "also_asked", "value": "make_payment"}])
    events, messages = await run(actions.cases.ActionHardshipOptions(), tracker)
    assert "Here's what I can offer" in texts(messages)
    assert not [e for e in events if e["event"] == "followup"]
