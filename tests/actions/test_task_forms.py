"""Corrections and questions aside at any step of a task form (actions/forms.py), through the
payment and autopay forms: the value changes, the summary is asked again, a question is answered
and the step asked again, and nothing is paid or changed along the way."""
from __future__ import annotations

from typing import Any, Optional

from actions.autopay import ValidateAutopayForm
from actions.details import TaskRequest, capture_events, task_request
from actions.payments import ValidatePaymentForm, named_payment_values
from autofinance.bootstrap import Container

from tests.actions.conftest import make_tracker, run, texts, verify

FILLED = {"verified": True, "payment_amount": "300.00", "payment_date": "2026-12-11",
          "payment_source": "1", "payment_attempt": "a1"}


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _at(requested: str, text: str, intent: str, entities: Optional[list[dict[str, Any]]] = None,
        slots: Optional[dict[str, Any]] = None, form: str = "payment_form") -> Any:
    tracker = make_tracker("maria-chat", {**(slots or FILLED), "requested_slot": requested}, intent=intent,
                           text=text, entities=entities, active_loop=form)
    return tracker


async def test_a_new_amount_at_the_summary_replaces_the_amount_and_asks_again(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_confirmed", "actually make it $250", "inform",
                  [{"entity": "amount", "value": "$250", "start": 17, "end": 21}])
    events, said = await run(ValidatePaymentForm(), tracker)
    slots = _slots(events)
    assert slots["payment_amount"] == "250.00"
    assert slots["payment_confirmed"] is None  # the summary is shown again, not taken as a no
    assert "didn't catch" not in texts(said)


async def test_no_the_debit_card_is_a_correction_not_a_no(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_confirmed", "no, the debit card", "deny",
                  [{"entity": "funding_source", "value": "debit card", "start": 8, "end": 18}],
                  slots={**FILLED, "payment_confirmed": False})
    tracker.events.append({"event": "slot", "name": "payment_confirmed", "value": False})
    events, _ = await run(ValidatePaymentForm(), tracker)
    slots = _slots(events)
    assert slots["payment_confirmed"] is None
    assert slots["payment_source"] not in (None, "1")  # Maria's debit card, not the checking account


async def test_a_new_date_at_the_source_question_keeps_the_question(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {k: v for k, v in FILLED.items() if k != "payment_source"}
    tracker = _at("payment_source", "make it monday instead", "inform",
                  [{"entity": "date", "value": "monday", "start": 8, "end": 14}], slots=slots)
    tracker.events.append({"event": "slot", "name": "payment_source", "value": "make it monday instead"})
    events, said = await run(ValidatePaymentForm(), tracker)
    result = _slots(events)
    assert result["payment_date"] not in (None, "2026-12-11")
    assert result["payment_source"] is None
    assert "saved accounts" not in texts(said)  # the step is simply asked again


async def test_a_question_aside_is_answered_and_the_step_asked_again(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {k: v for k, v in FILLED.items() if k not in ("payment_date", "payment_source")}
    tracker = _at("payment_date", "wait, what's my payoff?", "payoff_quote", slots=slots)
    tracker.events.append({"event": "slot", "name": "payment_date", "value": "wait, what's my payoff?"})
    events, said = await run(ValidatePaymentForm(), tracker)
    result = _slots(events)
    assert "payoff amount is" in texts(said)
    assert result["payment_date"] is None and "payment_amount" not in result  # kept as it was
    assert "didn't catch" not in texts(said)


async def test_an_amount_inside_a_date_is_not_an_amount() -> None:
    found = named_payment_values("the 15th", {"amount": "15", "date": "the 15th"}, [(0, 8)], [(4, 6)])
    assert found == {"payment_date": "the 15th"}


async def test_yes_to_the_proposed_day_takes_it(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_date", "yes", "affirm", slots={"verified": True, "payment_amount": "300.00"})
    tracker.events.append({"event": "slot", "name": "payment_date", "value": "yes"})
    events, _ = await run(ValidatePaymentForm(), tracker)
    assert _slots(events)["payment_date"] is not None


async def test_yes_to_the_autopay_due_day_takes_it(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("autopay_day", "yes", "affirm", slots={"verified": True, "autopay_source": "1"},
                  form="autopay_form")
    tracker.events.append({"event": "slot", "name": "autopay_day", "value": "yes"})
    events, said = await run(ValidateAutopayForm(), tracker)
    assert _slots(events)["autopay_day"] is not None, texts(said)


async def test_a_request_before_verification_is_read_back_after_it(store: Container) -> None:
    request = make_tracker("maria-chat", {}, intent="make_payment", text="pay $300 on friday",
                           entities=[{"entity": "amount", "value": "$300"}, {"entity": "date", "value": "friday"}])
    sealed = _slots(capture_events(request))["task_details"]
    assert sealed.startswith("sealed:") and "300" not in sealed
    later = make_tracker("maria-chat", {"task_details": sealed}, intent="inform", text="123456")
    assert task_request(later) == TaskRequest("make_payment", "pay $300 on friday",
                                              {"amount": "$300", "date": "friday"})


async def test_a_plain_no_to_a_question_stops_the_task_without_a_summary(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_source", "no", "deny", slots={"verified": True, "payment_amount": "300.00",
                                                         "payment_date": "2026-12-11"})
    events, said = await run(ValidatePaymentForm(), tracker)
    slots = _slots(events)
    assert slots == {"payment_confirmed": False, "requested_slot": None}  # the submit step says so
    assert said == []


async def test_no_at_the_summary_is_still_the_answer_to_the_summary(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_confirmed", "no", "deny", slots={**FILLED, "payment_confirmed": False})
    tracker.events.append({"event": "slot", "name": "payment_confirmed", "value": False})
    events, _ = await run(ValidatePaymentForm(), tracker)
    assert "requested_slot" not in _slots(events)  # the form completes as usual with a no


async def test_a_form_without_a_summary_says_it_stopped(store: Container) -> None:
    from actions.contact import ValidateContactForm  # noqa: PLC0415

    verify(store, "maria-chat")
    tracker = _at("contact_value", "no", "deny", slots={"verified": True, "contact_field": "email"},
                  form="contact_form")
    events, said = await run(ValidateContactForm(), tracker)
    assert _slots(events) == {"requested_slot": None}
    assert [m.get("response") for m in said] == ["utter_contact_change_stopped"]


async def test_an_autopay_change_named_up_front_goes_straight_to_the_form(store: Container) -> None:
    from actions.autopay import ActionCheckAutopay  # noqa: PLC0415

    verify(store, "james-chat", identifier="7301007734", factor="94107")
    tracker = make_tracker("james-chat", {"verified": True}, intent="setup_autopay",
                           text="move my autopay to the 5th", entities=[{"entity": "date", "value": "the 5th"}])
    events, said = await run(ActionCheckAutopay(), tracker)
    assert _slots(events)["autopay_day"] == "the 5th" and _slots(events)["autopay_enrolled"] is True
    assert [e["name"] for e in events if e["event"] == "followup"] == ["autopay_form"]
    assert "Would you like to change" not in texts(said)


def test_a_figure_right_after_pay_is_the_amount_even_untagged() -> None:
    assert named_payment_values("pay 100 tmrw from checking", {}, [], [])["payment_amount"] == "100"
    assert "payment_amount" not in named_payment_values("pay on the 15th", {}, [], [])
    assert "payment_amount" not in named_payment_values("pay 12/15", {}, [], [])


async def test_cancel_that_payment_in_the_middle_stops_the_payment(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_amount", "wait cancel that pmt", "cancel_payment", slots={"verified": True})
    events, _ = await run(ValidatePaymentForm(), tracker)
    assert _slots(events) == {"payment_confirmed": False, "requested_slot": None}


async def test_a_common_question_with_a_correction_is_answered_and_the_correction_kept(store: Container) -> None:
    verify(store, "maria-chat")
    slots = {**FILLED, "payment_source": "2"}
    tracker = _at("payment_confirmed", "oh there's a fee? no, switch it to my checking then", "faq",
                  [{"entity": "funding_source", "value": "my checking", "start": 35, "end": 46}], slots=slots)
    tracker.latest_message["response_selector"] = {
        "faq": {"response": {"utter_action": "utter_faq/payment_fees"}}}
    events, said = await run(ValidatePaymentForm(), tracker)
    assert [m.get("response") for m in said][:1] == ["utter_faq/payment_fees"]
    result = _slots(events)
    assert result["payment_source"] == "1" and result["payment_confirmed"] is None  # checking, asked again


async def test_an_account_question_with_a_correction_is_a_correction(store: Container) -> None:
    """"a fee? then use checking" read as a fee question: this payment's fee, not the account's
    late fees; the switch to checking is what the customer wants."""
    verify(store, "maria-chat")
    slots = {**FILLED, "payment_source": "2"}
    tracker = _at("payment_confirmed", "oh there's a fee? no, switch it to my checking then", "fee_question",
                  [], slots=slots)
    events, said = await run(ValidatePaymentForm(), tracker)
    assert "late" not in texts(said).lower()
    result = _slots(events)
    assert result["payment_source"] == "1" and result["payment_confirmed"] is None


async def test_a_common_question_alone_asks_the_step_again(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_date", "what are your hours", "faq", slots={"verified": True, "payment_amount": "300.00"})
    tracker.latest_message["response_selector"] = {
        "faq": {"response": {"utter_action": "utter_faq/support_hours"}}}
    events, said = await run(ValidatePaymentForm(), tracker)
    assert [m.get("response") for m in said] == ["utter_faq/support_hours"]
    assert _slots(events) == {"payment_date": None}


async def test_a_new_email_in_the_request_is_kept_only_sealed(store: Container) -> None:
    request = make_tracker("maria-chat", {}, intent="update_contact_info",
                           text="change my email to new.me@example.org",
                           entities=[{"entity": "email", "value": "new.me@example.org"}])
    [event] = capture_events(request)
    assert event["value"].startswith("sealed:") and "new.me" not in event["value"]
    forged = make_tracker("maria-chat", {"task_details": "sealed:not-a-real-token"}, intent="inform", text="123456",
                          events=[])
    assert task_request(forged) == TaskRequest()  # a value we did not seal reads as nothing


def test_a_saved_account_is_read_from_the_words_when_the_tag_says_too_little() -> None:
    from actions.payments import named_source  # noqa: PLC0415

    assert named_source("my", "take it out of my checking on the 15th") == "checking"
    assert named_source("debit card ****1111", "") == "debit card ****1111"
    assert named_source(None, "switch it to my checking then") == "checking"
    assert named_source(None, "pay it today") is None
    assert named_source(None, "from my checking ending 2244") == "checking ending 2244"  # digits kept


async def test_a_correction_naming_someone_elses_account_never_picks_ones_own(store: Container) -> None:
    verify(store, "maria-chat")
    tracker = _at("payment_confirmed", "no, take it from checking ending 2244", "deny", slots=FILLED)  # James's
    events, said = await run(ValidatePaymentForm(), tracker)
    assert _slots(events)["payment_source"] is None
    assert "2244" not in texts(said) and "saved accounts" in texts(said)
