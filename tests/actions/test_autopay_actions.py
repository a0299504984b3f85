"""Autopay in conversation: Maria sets it up, James changes his, and nothing is stored without a yes."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from actions.autopay import (
    ActionAskAutopayConfirmed,
    ActionAskAutopayDay,
    ActionAskAutopaySource,
    ActionCheckAutopay,
    ActionSubmitAutopay,
    ValidateAutopayForm,
    ordinal,
)
from actions.conversation import ActionCancelTask
from actions.runtime import lender_today
from autofinance.bootstrap import Container
from autofinance.domain.parsing import format_long_date
from autofinance.adapters.portal_tokens import issue_token
from autofinance.domain.calendar import next_due
from autofinance.adapters.store.models import Account, AutopayEnrolment, FundingSource, OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def _answer(sender: str, slot: str, value: str, entities: list[dict[str, Any]] | None = None
                  ) -> tuple[dict[str, Any], str]:
    tracker = make_tracker(sender, {"verified": True, "requested_slot": slot, slot: value}, intent="inform",
                           text=value, entities=entities, active_loop="autopay_form")
    tracker.events.append({"event": "slot", "name": slot, "value": value})
    events, messages = await run(ValidateAutopayForm(), tracker)
    return _slots(events), texts(messages)


def _source_id(store: Container, last4: str) -> str:
    with store.uow() as uow:
        return str(uow.session.scalar(select(FundingSource.id).where(FundingSource.last4 == last4)))


def _enrolments(store: Container) -> list[tuple[str, int, bool]]:
    with store.uow() as uow:
        rows = uow.session.execute(
            select(Account.account_number, AutopayEnrolment.day_of_month, AutopayEnrolment.active)
            .join(Account, Account.id == AutopayEnrolment.account_id).order_by(AutopayEnrolment.id)).all()
        return [tuple(row) for row in rows]


def _emails(store: Container, kind: str) -> list[str]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxMessage.body).where(OutboxMessage.kind == kind)))


def test_days_are_said_as_ordinals() -> None:
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 28)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "28th"]


async def test_maria_sets_up_autopay_for_her_monthly_payment_after_a_summary(store: Container) -> None:
    verify(store, "maria-chat")
    events, said = await run(ActionCheckAutopay(), make_tracker("maria-chat", {"verified": True},
                                                                intent="setup_autopay"))
    assert _slots(events) == {"autopay_enrolled": False} and said == []

    _, asked = await run(ActionAskAutopaySource(), make_tracker("maria-chat", {"verified": True}))
    assert "$452.18" in texts(asked)
    assert [b["title"] for b in asked[0]["buttons"]] == ["checking ****6789", "debit card ****1111", "A new bank account"]
    checking = _source_id(store, "6789")
    slots, _ = await _answer("maria-chat", "autopay_source", asked[0]["buttons"][0]["payload"],
                             [{"entity": "funding_source", "value": "checking ****6789"}])
    assert slots["autopay_source"] == checking

    _, asked = await run(ActionAskAutopayDay(), make_tracker("maria-chat", {"verified": True}))
    assert "due on the 15th" in texts(asked)
    assert asked[0]["buttons"] == [{"title": "The 15th (your due date)", "payload": '/inform{"date":"the 15th"}'}]
    slots, _ = await _answer("maria-chat", "autopay_day", "the 15th of every month")
    assert slots["autopay_day"] == "15"

    chosen = {"verified": True, "autopay_enrolled": False, "autopay_source": checking, "autopay_day": "15"}
    _, summary = await run(ActionAskAutopayConfirmed(), make_tracker("maria-chat", chosen))
    first = format_long_date(next_due(lender_today(), 15))
    assert "$452.18" in texts(summary) and "checking ****6789" in texts(summary)
    assert "15th of every month" in texts(summary) and first in texts(summary)
    assert _enrolments(store) == [("7301007734", 1, True)]  # only James's: nothing stored yet

    events, done = await run(ActionSubmitAutopay(), make_tracker("maria-chat", {**chosen, "autopay_confirmed": True}))
    assert "Autopay is set up" in texts(done) and first in texts(done)
    assert ("7301004821", 15, True) in _enrolments(store)
    assert len(_emails(store, "autopay_enrolled")) == 1
    assert all(value is None for value in _slots(events).values())


async def test_a_day_every_month_has_is_asked_for_again_until_given(store: Container) -> None:
    verify(store, "maria-chat")
    for answer in ("the 30th", "friday", "whenever"):
        slots, said = await _answer("maria-chat", "autopay_day", answer)
        assert slots["autopay_day"] is None and "1st to the 28th" in said, answer
    slots, _ = await _answer("maria-chat", "autopay_day", "3", [{"entity": "date", "value": "the 3rd"}])
    assert slots["autopay_day"] == "3"


async def test_someone_elses_account_cannot_be_chosen(store: Container) -> None:
    verify(store, "maria-chat")
    slots, said = await _answer("maria-chat", "autopay_source", "checking ending 2244")  # James's
    assert slots["autopay_source"] is None
    assert "checking ****6789, debit card ****1111" in said and "2244" not in said


async def test_saying_no_at_the_summary_stores_nothing(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {"verified": True, "autopay_enrolled": False, "autopay_source": _source_id(store, "6789"),
             "autopay_day": "10", "autopay_confirmed": False}
    _, said = await run(ActionSubmitAutopay(), make_tracker("maria-chat", slots))
    assert "haven't set up autopay" in texts(said)
    assert _enrolments(store) == [("7301007734", 1, True)] and not _emails(store, "autopay_enrolled")


async def test_james_is_offered_a_change_and_moves_his_autopay_to_the_5th(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    events, offer = await run(ActionCheckAutopay(), make_tracker("james-chat", {"verified": True},
                                                                 intent="setup_autopay"))
    # his only account is taken as it is, so the change asks only the day
    assert _slots(events) == {"autopay_enrolled": True, "autopay_source": "checking ****2244"}
    assert "already on autopay" in texts(offer) and "$389.00" in texts(offer)
    assert "checking ****2244" in texts(offer) and "1st of every month" in texts(offer)

    chosen = {"verified": True, "autopay_enrolled": True, "autopay_source": _source_id(store, "2244"),
              "autopay_day": "5"}
    _, summary = await run(ActionAskAutopayConfirmed(), make_tracker("james-chat", chosen))
    assert "confirm the change" in texts(summary) and "instead of on the 1st" in texts(summary)
    _, done = await run(ActionSubmitAutopay(), make_tracker("james-chat", {**chosen, "autopay_confirmed": True}))
    assert "Autopay is changed" in texts(done) and "5th of every month" in texts(done)
    assert _enrolments(store) == [("7301007734", 5, True)]
    assert len(_emails(store, "autopay_changed")) == 1


async def test_a_second_enrolment_is_refused_and_changes_nothing(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    slots = {"verified": True, "autopay_enrolled": False, "autopay_source": _source_id(store, "2244"),
             "autopay_day": "9", "autopay_confirmed": True}
    _, said = await run(ActionSubmitAutopay(), make_tracker("james-chat", slots))
    assert "already set up" in texts(said) and "Nothing was changed" in texts(said)
    assert _enrolments(store) == [("7301007734", 1, True)]


async def test_cancel_leaves_the_set_up_and_forgets_the_answers() -> None:
    tracker = make_tracker("maria-chat", {"autopay_source": "1", "autopay_day": "15"}, intent="cancel",
                           active_loop="autopay_form")
    events, said = await run(ActionCancelTask(), tracker)
    assert texts(said) == "utter_autopay_setup_stopped"
    assert _slots(events)["autopay_source"] is None and _slots(events)["autopay_enrolled"] is None


async def test_a_portal_session_needs_a_code_before_autopay_is_set_up(store: Container) -> None:
    with store.uow() as uow:
        maria = uow.session.scalar(select(Account.customer_id).where(Account.account_number == "7301004821"))
    tracker = make_tracker(f"portal-{maria}", {"verified": True}, intent="setup_autopay")
    tracker.latest_message["metadata"] = {"portal_token": issue_token(maria, "Maria", store.settings)}
    events, _ = await run(ActionCheckAutopay(), tracker)
    assert {"event": "followup", "name": "identity_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(AutopayEnrolment)) == 1
