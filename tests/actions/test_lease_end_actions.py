"""Lease end in conversation: the options, and an extension request sent once, only when confirmed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from actions.lease_end import (
    ActionAskExtensionConfirmed,
    ActionLeaseEndOptions,
    ActionStartLeaseExtension,
    ActionSubmitLeaseExtension,
    ValidateLeaseExtensionForm,
)
from autofinance.bootstrap import Container
from autofinance.adapters.store.models import Account, AuditLog, OutboxMessage
from tests.actions.conftest import make_tracker, run, texts, verify

JAMES_SLOTS = {"verified": True}


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _requests(store: Container) -> int:
    with store.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "lease_extension_requested"))


def _maturity(store: Container) -> Any:
    with store.uow() as uow:
        return uow.session.scalar(select(Account.maturity_date).where(Account.product == "lease"))


async def test_james_hears_his_buyout_price_and_his_three_options(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionLeaseEndOptions(), make_tracker("james-chat", JAMES_SLOTS))
    said = texts(messages)
    assert "$22,867.00" in said and "Return it" in said and "Extend it" in said
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/extend_lease", "/deny"]


async def test_a_loan_customer_asking_about_lease_end_is_pointed_to_a_payoff_quote(store: Container) -> None:
    verify(store, "maria-chat")
    _, messages = await run(ActionLeaseEndOptions(), make_tracker("maria-chat", {"verified": True}))
    assert "payoff quote" in texts(messages) and "$" not in texts(messages)


async def test_the_months_said_in_the_request_are_kept_for_the_form(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    tracker = make_tracker("james-chat", JAMES_SLOTS, intent="extend_lease",
                           text="can you extend my lease 2 months, the new car isn't ready")
    events, messages = await run(ActionStartLeaseExtension(), tracker)
    assert _slots(events) == {"lease_extension_allowed": True,
                              "extension_months": "can you extend my lease 2 months, the new car isn't ready"}
    assert messages == []


async def test_a_loan_customer_cannot_start_an_extension(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = make_tracker("maria-chat", {"verified": True}, intent="extend_lease", text="extend my lease")
    events, messages = await run(ActionStartLeaseExtension(), tracker)
    assert _slots(events) == {"lease_extension_allowed": False}
    assert "only for lease accounts" in texts(messages)


async def test_months_outside_one_to_six_are_refused(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    for said, expected in [("12 months", None), ("zero", None), ("soon", None), ("three", "3"), ("6", "6")]:
        tracker = make_tracker("james-chat", {**JAMES_SLOTS, "requested_slot": "extension_months",
                                              "extension_months": said},
                               intent="inform", text=said, active_loop="lease_extension_form")
        tracker.events.append({"event": "slot", "name": "extension_months", "value": said})
        events, messages = await run(ValidateLeaseExtensionForm(), tracker)
        assert _slots(events)["extension_months"] == expected, said
        assert ("1 to 6 months" in texts(messages)) == (expected is None)


async def test_the_summary_says_the_new_end_date_and_that_nothing_changes_yet(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    _, messages = await run(ActionAskExtensionConfirmed(),
                            make_tracker("james-chat", {**JAMES_SLOTS, "extension_months": "2"}))
    said = texts(messages)
    assert "by 2 months" in said and "$389.00 a month" in said and "nothing on your lease changes" in said


async def test_a_confirmed_request_is_sent_once_and_the_lease_stays_as_it_is(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    before = _maturity(store)
    slots = {**JAMES_SLOTS, "extension_months": "2", "extension_confirmed": True}
    events, messages = await run(ActionSubmitLeaseExtension(), make_tracker("james-chat", slots))
    assert "reference is LX" in texts(messages) and "emailed you a receipt" in texts(messages)
    assert all(value is None for value in _slots(events).values())
    _, again = await run(ActionSubmitLeaseExtension(), make_tracker("james-chat", slots))
    assert "haven't sent it twice" in texts(again)
    assert _requests(store) == 1 and _maturity(store) == before
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "lease_extension_requested")) == 1


async def test_saying_no_sends_nothing(store: Container) -> None:
    verify(store, "james-chat", "jchen", "94107")
    slots = {**JAMES_SLOTS, "extension_months": "2", "extension_confirmed": False}
    _, messages = await run(ActionSubmitLeaseExtension(), make_tracker("james-chat", slots))
    assert texts(messages) == "utter_lease_extension_stopped" and _requests(store) == 0
