"""Several accounts per customer in the chat: Alex Morgan, a loan (****9911, 2021 Toyota Camry)
and a lease (****9922, 2023 Honda CR-V). Asked which one once, the choice holds for the
session, "my other car" switches, and a choice never reaches another customer's account."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.account import ActionCheckBalance, ActionLoanTerms, ActionPayoffQuote
from actions.account_choice import CONTINUED_BY_RULES, ActionSwitchAccount
from actions.answers import ActionAnswerSecondQuestion
from actions.identity import ValidateIdentityForm
from actions.online_access import ActionSendPasswordReset
from actions.payments import ActionAskPaymentAmount, ActionAskPaymentConfirmed, ActionStartPayment
from actions.runtime import ACCOUNT_RESUME_SLOT, ACCOUNT_SLOT, lender_today
from autofinance.adapters.store.models import Account, FundingSource
from autofinance.bootstrap import Container
from autofinance.config import PROJECT_ROOT
from tests.actions.conftest import make_tracker, run, texts, verify
from tests.unit.rasa_ext.rasa_checks import run_in_rasa

ALEX = ("amorgan", "60614")


def _id(store: Container, number: str) -> str:
    with store.uow() as uow:
        return str(uow.session.scalar(select(Account.id).where(Account.account_number == number)))


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _followup(events: list[dict[str, Any]]) -> Optional[str]:
    return next((e["name"] for e in events if e.get("event") == "followup"), None)


def _alex(store: Container, conversation: str) -> None:
    verify(store, conversation, *ALEX)


def _switch(conversation: str, text: str = "", ref: Optional[str] = None, **slots: Any) -> Any:
    entities = [{"entity": "account_ref", "value": ref}] if ref is not None else []
    return make_tracker(conversation, {"verified": True, **slots}, intent="switch_account", text=text,
                        entities=entities)


async def test_alex_is_asked_which_account_with_both_masked_and_their_cars(store: Container) -> None:
    _alex(store, "alex-1")

    events, messages = await run(ActionCheckBalance(), make_tracker("alex-1", {"verified": True}))

    assert [m.get("response") for m in messages] == ["utter_ask_account_choice"]
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert titles == ["loan ****9911 · 2021 Toyota Camry", "lease ****9922 · 2023 Honda CR-V"]
    assert "7301009911" not in str(messages) and "$" not in texts(messages)  # nothing read out yet
    assert _slots(events)[ACCOUNT_RESUME_SLOT] == "action_check_balance"
    assert _followup(events) == "action_listen"


async def test_a_customer_with_one_account_is_not_asked(store: Container) -> None:
    verify(store, "maria-1")

    _, messages = await run(ActionCheckBalance(), make_tracker("maria-1", {"verified": True}))

    assert "$18,420.55" in texts(messages)
    assert all(m.get("response") not in ("utter_ask_account_choice", "utter_account_in_play") for m in messages)


async def test_choosing_the_lease_answers_the_question_that_was_asked(store: Container) -> None:
    _alex(store, "alex-2")
    lease = _id(store, "7301009922")

    events, messages = await run(ActionSwitchAccount(), _switch(
        "alex-2", f'/switch_account{{"account_ref":"{lease}"}}', lease,
        **{ACCOUNT_RESUME_SLOT: "action_check_balance"}))

    assert _slots(events)[ACCOUNT_SLOT] == lease and _slots(events)[ACCOUNT_RESUME_SLOT] is None
    assert messages[0] == {**messages[0], "response": "utter_account_switched",
                           "account": "lease ****9922 (2023 Honda CR-V)"}
    said = texts(messages)
    assert "2023 Honda CR-V lease (****9922)" in said and "22 payments of $436.15" in said


async def test_the_choice_holds_for_the_next_questions_and_each_answer_names_the_account(
        store: Container) -> None:
    _alex(store, "alex-3")
    lease = _id(store, "7301009922")

    _, terms = await run(ActionLoanTerms(), make_tracker("alex-3", {"verified": True, ACCOUNT_SLOT: lease},
                                                         intent="loan_terms"))
    _, quote = await run(ActionPayoffQuote(), make_tracker("alex-3", {"verified": True, ACCOUNT_SLOT: lease},
                                                           intent="payoff_quote"))

    for messages in (terms, quote):
        assert messages[0]["response"] == "utter_account_in_play"
        assert messages[0]["account"] == "lease ****9922 (2023 Honda CR-V)"
        assert all(m.get("response") != "utter_ask_account_choice" for m in messages)
    assert "money factor of 0.0015" in texts(terms)


async def test_my_other_car_switches_and_answers_the_last_question_again(store: Container) -> None:
    _alex(store, "alex-4")
    lease, loan = _id(store, "7301009922"), _id(store, "7301009911")
    tracker = _switch("alex-4", "what about my other car", **{ACCOUNT_SLOT: lease})
    tracker.events.insert(0, {"event": "action", "name": "action_check_balance"})

    events, messages = await run(ActionSwitchAccount(), tracker)

    assert _slots(events)[ACCOUNT_SLOT] == loan
    assert messages[0]["account"] == "loan ****9911 (2021 Toyota Camry)"
    assert "$15,310.25" in texts(messages) and "9922" not in texts(messages)


async def test_the_camry_or_switch_to_my_loan_name_the_loan(store: Container) -> None:
    _alex(store, "alex-5")
    lease, loan = _id(store, "7301009922"), _id(store, "7301009911")
    for said in ("the camry", "switch to my loan", "the one ending 9911"):
        events, messages = await run(ActionSwitchAccount(), _switch("alex-5", said, **{ACCOUNT_SLOT: lease}))
        assert _slots(events)[ACCOUNT_SLOT] == loan, said
        assert messages[-1]["response"] == "utter_ask_about_account"  # nothing asked before: what now?


async def test_words_that_fit_no_account_ask_again_with_the_buttons(store: Container) -> None:
    _alex(store, "alex-6")

    events, messages = await run(ActionSwitchAccount(), _switch("alex-6", "the blue one"))

    assert messages[0]["response"] == "utter_ask_account_choice_again" and len(messages[0]["buttons"]) == 2
    assert _slots(events).get(ACCOUNT_SLOT) is None


async def test_a_forged_choice_of_another_customers_account_is_refused(store: Container) -> None:
    """The attack: a slot or a typed payload naming James's account id in Alex's conversation."""
    _alex(store, "alex-7")
    james = _id(store, "7301007734")

    events, messages = await run(ActionCheckBalance(), make_tracker(
        "alex-7", {"verified": True, ACCOUNT_SLOT: james}))
    assert messages[0]["response"] == "utter_ask_account_choice"
    assert "7734" not in str(messages) and "Accord" not in str(messages)
    assert _slots(events)[ACCOUNT_SLOT] is None  # the forged value is dropped

    events, messages = await run(ActionSwitchAccount(), _switch(
        "alex-7", f'/switch_account{{"account_ref":"{james}"}}', james))
    assert messages[0]["response"] == "utter_ask_account_choice_again"
    assert _slots(events).get(ACCOUNT_SLOT) != james and "7734" not in str(messages)


async def test_a_forged_choice_gives_a_one_account_customer_only_their_own(store: Container) -> None:
    verify(store, "maria-2")
    alex_lease = _id(store, "7301009922")

    _, messages = await run(ActionCheckBalance(), make_tracker("maria-2", {"verified": True,
                                                                           ACCOUNT_SLOT: alex_lease}))

    assert "****4821" in texts(messages) and "9922" not in str(messages) and "CR-V" not in str(messages)


async def test_identifying_with_an_account_number_chooses_that_account(store: Container) -> None:
    tracker = make_tracker("alex-8", {"identifier": "7301009922"}, intent="inform", text="60614",
                           active_loop="identity_form")
    form = ValidateIdentityForm()
    answer = await form._identify("7301009922", "60614", CollectingDispatcher(), tracker)

    assert answer[ACCOUNT_SLOT] == _id(store, "7301009922")
    by_username = await form._identify("amorgan", "60614", CollectingDispatcher(), tracker)
    assert ACCOUNT_SLOT not in by_username  # a username names no account: asked when it matters


async def test_account_less_requests_are_not_asked_which_account(store: Container) -> None:
    _alex(store, "alex-9")

    _, messages = await run(ActionSendPasswordReset(), make_tracker("alex-9", {"verified": True},
                                                                    intent="reset_password"))

    assert all(m.get("response") != "utter_ask_account_choice" for m in messages)


async def test_a_payment_asks_first_and_goes_on_with_the_payment_once_chosen(store: Container) -> None:
    verify(store, "alex-10", *ALEX)  # a code: payments need the full level
    loan = _id(store, "7301009911")

    events, messages = await run(ActionStartPayment(), make_tracker("alex-10", {"verified": True},
                                                                    intent="make_payment"))
    assert messages[0]["response"] == "utter_ask_account_choice"
    assert _slots(events)[ACCOUNT_RESUME_SLOT] == "action_start_payment"

    events, _ = await run(ActionSwitchAccount(), _switch("alex-10", "the loan", **{
        ACCOUNT_RESUME_SLOT: "action_start_payment"}))
    assert _slots(events)[ACCOUNT_SLOT] == loan and _followup(events) == "action_start_payment"


async def test_a_second_question_is_asked_about_too(store: Container) -> None:
    _alex(store, "alex-11")
    tracker = make_tracker("alex-11", {"verified": True}, intent="faq",
                           entities=[{"entity": "also_asked", "value": "check_balance"}])

    events, messages = await run(ActionAnswerSecondQuestion(), tracker)

    assert messages[0]["response"] == "utter_ask_account_choice"
    assert _slots(events)[ACCOUNT_RESUME_SLOT] == "action_check_balance"


async def test_a_customer_with_one_account_who_switches_is_told_there_is_one(store: Container) -> None:
    verify(store, "maria-3")

    _, messages = await run(ActionSwitchAccount(), _switch("maria-3", "my other car"))

    assert messages[0]["response"] == "utter_only_one_account"
    assert messages[0]["account"] == "loan ****4821 (2022 Toyota RAV4)"


def test_the_actions_resumed_by_rules_are_those_the_rules_continue() -> None:
    """Going on after the choice: an action a rule takes further must run as the next action."""
    starts = set()
    for path in (PROJECT_ROOT / "data" / "rules").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            first = (rule.get("steps") or [{}])[0]
            if "action" in first and "intent" not in first:
                starts.add(first["action"])
    account_steps = {name for name in starts if not name.startswith("utter_")} - {
        "identity_form", "fraud_form"}  # verification and fraud reports are never per account
    assert CONTINUED_BY_RULES == account_steps


def test_the_choice_is_cleared_on_restart_and_when_a_session_ends() -> None:
    """Rasa itself, with the real domain: /restart and a new session drop the chosen account."""
    result = run_in_rasa(Path(__file__).with_name("account_choice_checks.py"))
    assert result == {"after_restart": None, "after_new_session": None, "before": "42"}


async def test_a_payment_summary_says_which_account_it_pays(store: Container) -> None:
    """Inside a form only the summary (the yes-or-no question) names the account, once."""
    verify(store, "alex-12", *ALEX)
    loan = _id(store, "7301009911")
    with store.uow() as uow:
        source = uow.session.scalar(select(FundingSource.id).where(FundingSource.last4 == "7733"))
    slots = {"verified": True, ACCOUNT_SLOT: loan, "payment_amount": "50.00",
             "payment_date": lender_today().isoformat(), "payment_source": str(source)}

    _, summary = await run(ActionAskPaymentConfirmed(), make_tracker(
        "alex-12", slots, intent="inform", active_loop="payment_form"))
    _, question = await run(ActionAskPaymentAmount(), make_tracker(
        "alex-12", {"verified": True, ACCOUNT_SLOT: loan}, intent="make_payment", active_loop="payment_form"))

    assert summary[0] == {**summary[0], "response": "utter_account_in_play",
                          "account": "loan ****9911 (2021 Toyota Camry)"}
    assert "Please confirm: pay $50.00" in texts(summary)
    assert all(m.get("response") != "utter_account_in_play" for m in question)


async def test_the_task_resumed_after_a_switch_does_not_say_the_account_twice(store: Container) -> None:
    _alex(store, "alex-13")
    tracker = make_tracker("alex-13", {"verified": True, ACCOUNT_SLOT: _id(store, "7301009922")},
                           intent="switch_account", text="the lease")
    tracker.latest_action_name = "action_switch_account"  # run as its FollowupAction

    _, messages = await run(ActionPayoffQuote(), tracker)

    assert all(m.get("response") != "utter_account_in_play" for m in messages)
    assert "Your payoff amount is" in texts(messages)
