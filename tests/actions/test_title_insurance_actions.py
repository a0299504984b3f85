"""The title, insurance and a total loss in conversation: read from the store, worded by the
domain's responses, and nothing changed without a yes."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from actions.insurance import (
    ActionAskInsuranceConfirmed,
    ActionInsuranceInfo,
    ActionStartInsuranceUpdate,
    ActionSubmitInsuranceUpdate,
    ValidateInsuranceForm,
)
from actions.runtime import lender_today
from actions.title import ActionTitleStatus
from actions.total_loss import ActionOpenTotalLossCase, ActionTotalLossInfo
from autofinance.adapters.sealing import seal
from autofinance.adapters.store.models import AuditLog, HandoffTicket, InsurancePolicy, OutboxMessage
from autofinance.bootstrap import Container
from tests.actions.conftest import domain, make_tracker, run, verify

MARIA, JAMES, ROBERT, TRAN = ("7301004821", "30309"), ("7301007734", "94107"), ("7301009912", "77002"), \
    ("7301003350", "97205")
VERIFIED = {"verified": True}


def _responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("response") for m in messages]


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _changes(store: Container) -> tuple[int, ...]:
    """Policies, outbox messages, tickets and audit rows: what a cancelled task must leave alone."""
    with store.uow() as uow:
        return tuple(uow.session.scalar(select(func.count()).select_from(model))
                     for model in (InsurancePolicy, OutboxMessage, HandoffTicket, AuditLog))


def _fill(response: str, message: dict[str, Any]) -> str:
    """The response's text as Rasa would fill it from the message's values."""
    text = domain()["responses"][response][0]["text"]
    return text.format(**{k: v for k, v in message.items() if isinstance(v, (str, int))})


# --- the title ---------------------------------------------------------------------------------


async def test_an_open_loan_hears_what_happens_to_the_title_at_payoff(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionTitleStatus(), make_tracker("m", VERIFIED, intent="title_status"))
    assert _responses(messages) == ["utter_title_open_electronic"]
    said = _fill("utter_title_open_electronic", messages[0])
    assert "titled in GA electronically" in said and "within 3 business days" in said


async def test_tran_hears_his_paper_title_was_mailed_and_when(store: Container) -> None:
    verify(store, "t", *TRAN)
    _, messages = await run(ActionTitleStatus(), make_tracker("t", VERIFIED, intent="title_status"))
    assert _responses(messages) == ["utter_title_mailed"]
    today = lender_today()
    said = _fill("utter_title_mailed", messages[0])
    assert messages[0]["paid_off"] == f"{today - timedelta(days=12):%B} {(today - timedelta(days=12)).day}, " \
                                      f"{(today - timedelta(days=12)).year}"
    assert "mailed your 2019 Subaru Outback's paper title on" in said and "Portland, OR" in said
    assert "7301003350" not in said


async def test_a_lease_hears_that_the_lessor_keeps_the_title(store: Container) -> None:
    verify(store, "j", *JAMES)
    _, messages = await run(ActionTitleStatus(), make_tracker("j", VERIFIED, intent="title_status"))
    assert _responses(messages) == ["utter_title_lease"]


async def test_the_title_is_never_told_before_verification(store: Container) -> None:
    events, messages = await run(ActionTitleStatus(), make_tracker("nobody", intent="title_status"))
    assert "utter_title_mailed" not in _responses(messages)
    assert {"event": "slot", "timestamp": None, "name": "pending_task", "value": "title_status"} in events


# --- insurance on file -------------------------------------------------------------------------


async def test_the_policy_on_file_is_shown_masked_with_gap(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionInsuranceInfo(), make_tracker("m", VERIFIED, intent="insurance_info"))
    assert _responses(messages) == ["utter_insurance_on_file", "utter_insurance_gap_on_file"]
    assert messages[0]["insurer"] == "Peachtree Mutual" and messages[0]["policy"] == "****4418"
    assert "PMA-2207-4418" not in str(messages)


async def test_a_lapsed_policy_is_said_with_the_way_to_update_it(store: Container) -> None:
    verify(store, "r", *ROBERT)
    _, messages = await run(ActionInsuranceInfo(), make_tracker("r", VERIFIED, intent="insurance_info"))
    assert _responses(messages) == ["utter_insurance_lapsed"]
    buttons = domain()["responses"]["utter_insurance_lapsed"][0]["buttons"]
    assert buttons[0]["payload"] == "/update_insurance"


# --- an update -----------------------------------------------------------------------------------


def _form_tracker(sender: str, requested: str, text: str, slots: dict[str, Any]) -> Any:
    """The form's tracker right after the customer answered `requested` with `text`."""
    tracker = make_tracker(sender, {**VERIFIED, **slots, "requested_slot": requested, requested: text},
                           intent="inform", text=text, active_loop="insurance_form")
    tracker.events.append({"event": "slot", "name": requested, "value": text})
    return tracker


async def test_each_detail_is_checked_and_the_policy_number_sealed(store: Container) -> None:
    verify(store, "r", *ROBERT)
    form = ValidateInsuranceForm()
    events, messages = await run(form, _form_tracker("r", "insurer_name", "state farm", {}))
    assert _slots(events)["insurer_name"] == "State Farm" and messages == []
    events, _ = await run(form, _form_tracker("r", "policy_number", "SF-4471-0932", {"insurer_name": "State Farm"}))
    sealed = _slots(events)["policy_number"]
    assert sealed.startswith("sealed:") and "4471" not in sealed
    events, messages = await run(form, _form_tracker("r", "policy_number", "12", {"insurer_name": "State Farm"}))
    assert _slots(events)["policy_number"] is None and _responses(messages) == ["utter_insurance_invalid_policy_number"]


async def test_an_end_date_before_the_start_or_already_past_is_asked_again(store: Container) -> None:
    verify(store, "r", *ROBERT)
    today = lender_today()
    slots = {"insurer_name": "State Farm", "policy_effective": (today - timedelta(days=200)).isoformat()}
    events, messages = await run(ValidateInsuranceForm(), _form_tracker(
        "r", "policy_expiry", (today - timedelta(days=20)).strftime("%m/%d/%Y"), slots))
    assert _slots(events)["policy_expiry"] is None
    assert _responses(messages) == ["utter_insurance_invalid_already_expired"]
    events, messages = await run(ValidateInsuranceForm(), _form_tracker(
        "r", "policy_effective", (today + timedelta(days=90)).strftime("%m/%d/%Y"), {}))
    assert _responses(messages) == ["utter_insurance_invalid_effective_too_far"]


async def test_a_confirmed_update_is_made_once_and_a_no_changes_nothing(store: Container) -> None:
    verify(store, "r", *ROBERT)
    today = lender_today()
    slots = {"insurer_name": "State Farm",
             "policy_number": seal("SF-4471-0932", store.settings.secret_pepper),
             "policy_effective": today.isoformat(),
             "policy_expiry": (today + timedelta(days=182)).isoformat()}
    _, messages = await run(ActionAskInsuranceConfirmed(), make_tracker("r", {**VERIFIED, **slots}))
    assert messages[0]["policy"] == "****0932" and "4471" not in str(messages)
    before = _changes(store)
    events, messages = await run(ActionSubmitInsuranceUpdate(), make_tracker(
        "r", {**VERIFIED, **slots, "insurance_confirmed": False}, intent="deny"))
    assert _responses(messages) == ["utter_insurance_not_updated"] and _changes(store) == before
    assert all(value is None for value in _slots(events).values())
    _, messages = await run(ActionSubmitInsuranceUpdate(), make_tracker(
        "r", {**VERIFIED, **slots, "insurance_confirmed": True}, intent="affirm"))
    assert _responses(messages) == ["utter_insurance_updated"] and messages[0]["policy"] == "****0932"
    assert _changes(store) == (before[0] + 1, before[1] + 1, before[2], before[3] + 1)
    _, messages = await run(ActionSubmitInsuranceUpdate(), make_tracker(
        "r", {**VERIFIED, **slots, "insurance_confirmed": True}, intent="affirm"))
    assert _responses(messages) == ["utter_insurance_unchanged"]


async def test_the_update_says_which_policy_it_replaces(store: Container) -> None:
    verify(store, "m", *MARIA)
    events, messages = await run(ActionStartInsuranceUpdate(), make_tracker("m", VERIFIED, intent="update_insurance"))
    assert _responses(messages) == ["utter_insurance_update_replaces"] and messages[0]["policy"] == "****4418"
    assert _slots(events)["insurer_name"] is None


# --- a total loss --------------------------------------------------------------------------------


async def test_a_total_loss_gives_the_payoff_and_gap_then_a_case_only_after_yes(store: Container) -> None:
    verify(store, "m", *MARIA)
    before = _changes(store)
    events, messages = await run(ActionTotalLossInfo(), make_tracker("m", VERIFIED, intent="total_loss",
                                                                     text="my car was totaled"))
    assert _responses(messages) == ["utter_total_loss_payoff_loan", "utter_total_loss_gap",
                                    "utter_total_loss_offer_case"]
    assert messages[0]["amount"].startswith("$18,4") and _slots(events)["total_loss_offered"] is True
    assert _changes(store) == before
    _, messages = await run(ActionOpenTotalLossCase(), make_tracker(
        "m", {**VERIFIED, "total_loss_offered": True}, intent="cancel"))
    assert _responses(messages) == ["utter_total_loss_case_not_opened"] and _changes(store) == before
    _, messages = await run(ActionOpenTotalLossCase(), make_tracker(
        "m", {**VERIFIED, "total_loss_offered": True}, intent="affirm"))
    assert _responses(messages) == ["utter_total_loss_case_opened"] and messages[0]["ticket"].startswith("HT")
    with store.uow() as uow:
        assert uow.session.scalar(select(HandoffTicket.reason)) == "total_loss"


async def test_a_yes_without_an_offer_opens_nothing(store: Container) -> None:
    verify(store, "m", *MARIA)
    before = _changes(store)
    _, messages = await run(ActionOpenTotalLossCase(), make_tracker("m", VERIFIED, intent="affirm"))
    assert _responses(messages) == ["utter_total_loss_case_not_opened"] and _changes(store) == before


async def test_every_value_a_response_needs_is_given(store: Container) -> None:
    """A value missing from a response would show as '{amount}' to the customer."""
    verify(store, "j", *JAMES)
    _, messages = await run(ActionTotalLossInfo(), make_tracker("j", VERIFIED, intent="total_loss"))
    for message in messages:
        assert "{" not in _fill(message["response"], message)


async def test_a_stolen_car_also_hears_to_report_the_theft_first(store: Container) -> None:
    verify(store, "m", *MARIA)
    _, messages = await run(ActionTotalLossInfo(), make_tracker("m", VERIFIED, intent="total_loss",
                                                                text="my car was stolen last night"))
    assert "utter_total_loss_stolen" in _responses(messages)
    _, messages = await run(ActionTotalLossInfo(), make_tracker("m", VERIFIED, intent="total_loss",
                                                                text="my car was totaled"))
    assert "utter_total_loss_stolen" not in _responses(messages)
