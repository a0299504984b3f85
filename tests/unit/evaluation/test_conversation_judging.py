"""Playing a scenario against fake replies, the effects over snapshots, and the verdict
(evaluation/conversations/runner.py `play`, effects.py, judge.py). No stack."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from evaluation.conversations.customer import SimulatedCustomer
from evaluation.conversations.effects import EFFECTS, Snapshot, happened
from evaluation.conversations.judge import Line, data_before_verification, judge
from evaluation.conversations.placeholders import CustomerDetails
from evaluation.conversations.prompts import CODE
from evaluation.conversations.runner import play
from evaluation.conversations.scenarios import EFFECTS as LISTED
from evaluation.conversations.scenarios import Success, parse_file

MARIA = CustomerDetails(account_number="7912345678", username="mlopezab12cd", zip="30309",
                        dob="1985-03-14", ssn4="4821", email="m@eval.example.com", mobile="+15551234567")

ASK_ID = "What's your account number or your online username?"
ASK_FACTOR = ("Thanks. Now one of these, please: your ZIP code, your date of birth, or the last "
              "four digits of your SSN.")
ASK_CHANNEL = ("Thanks. Where should I send your verification code: by email to m****@eval.example.com, "
               "or by text to ***-***-4567?")
ASK_CODE = "I've sent a 6-digit code. Please type it here. It expires in 5 minutes."


def scenario(turns: str, success: str = 'said_any: ["confirmation"]', customer: str = "maria"):  # noqa: ANN201
    text = f"""
scenarios:
  - id: pay-test-case-01
    flow: make_payment
    customer: {customer}
    channel: rest
    fewest_turns: 6
    turns: {turns}
    success: {{{success}}}
"""
    [found], problems = parse_file(text, "t.yml")
    assert problems == []
    return found


class FakeAssistant:
    """Answers each message from a script: message -> replies; records what it was sent."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script, self.sent = script, []

    def __call__(self, text: str) -> list[str]:
        self.sent.append(text)
        return self.script.get(text, ["Sorry, I didn't get that."])


VERIFYING = {
    "I want to pay $300": ["Sure. For your security, let me verify your identity first.", ASK_ID],
    "7912345678": [ASK_FACTOR], "30309": [ASK_CHANNEL],
    "email": ["I've sent a 6-digit code by email to m****@eval.example.com.", ASK_CODE],
    "123456": ["Thank you, Maria, you're verified.", "Pay $300.00 on December 7 from checking ****6789?"],
    "yes": ["Done. Your confirmation number is MP1234."],
}


def maria(codes: dict[str, str] | None = None) -> SimulatedCustomer:
    return SimulatedCustomer(MARIA, "account", "zip", (codes or {CODE: "123456"}).get)


def test_the_runner_answers_verification_by_itself_between_the_writers_turns() -> None:
    assistant = FakeAssistant(VERIFYING)
    played = play(scenario('["I want to pay $300", "yes"]'), assistant, maria(), MARIA)
    assert assistant.sent == ["I want to pay $300", "7912345678", "30309", "email", "123456", "yes"]
    assert played.turns_used == 6 and played.stopped is None
    autos = [line.auto for line in played.transcript if line.speaker == "customer"]
    assert autos == ["", "identifier", "factor", "channel", "code", ""]


def test_expect_any_sees_the_replies_to_the_automatic_answers_after_the_message() -> None:
    played = play(scenario('["I want to pay $300", {expect_any: ["$300.00"]}, "yes"]'),
                  FakeAssistant(VERIFYING), maria(), MARIA)
    assert played.stopped is None


def test_a_failed_expect_any_stops_the_scenario_there_with_the_reason() -> None:
    assistant = FakeAssistant(VERIFYING)
    played = play(scenario('["I want to pay $300", {expect_any: ["$250.00"]}, "yes"]'),
                  assistant, maria(), MARIA)
    assert played.stopped == "expect_any after 'I want to pay $300': none of ['$250.00'] in the replies"
    assert "yes" not in assistant.sent


def test_placeholders_are_filled_before_the_message_is_sent() -> None:
    assistant = FakeAssistant({})
    play(scenario('["my account is {account_number}"]'), assistant, maria(), MARIA)
    assert assistant.sent == ["my account is 7912345678"]


def test_an_assistant_asking_the_same_thing_forever_fails_the_scenario_as_a_loop() -> None:
    assistant = FakeAssistant({"balance": [ASK_FACTOR], "30309": [ASK_FACTOR]})
    played = play(scenario('["balance"]'), assistant, maria(), MARIA)
    assert played.stopped == "loop: the assistant asked for the second detail more than 3 times"
    assert assistant.sent == ["balance", "30309", "30309", "30309"]


def test_a_channel_error_fails_the_scenario_instead_of_the_suite() -> None:
    def broken(text: str) -> list[str]:
        raise OSError("connection refused")

    played = play(scenario('["balance"]'), broken, maria(), MARIA)
    assert played.stopped == "error: OSError: connection refused"


# --- effects ----------------------------------------------------------------------------------

BEFORE = Snapshot(
    payments={1: ("posted", Decimal("452.18"))},
    autopay={},
    contact=("m@x", "+1555", "1 Main", "Atlanta", "GA", "h"),
    accounts={10: (15, "2026-12-15", False)},
    outbox={100: "otp"},
    credential=(True, 5),
)


def test_every_effect_of_format_md_is_defined_with_a_docstring() -> None:
    assert set(EFFECTS) == set(LISTED)
    assert all(effect.__doc__ for effect in EFFECTS.values())


def test_a_verification_code_alone_is_nothing_changed() -> None:
    after = replace(BEFORE, outbox={100: "otp", 101: "otp"})
    assert happened(BEFORE, after) == {"nothing_changed": ()}


def test_a_new_payment_is_scheduled_with_its_amount_and_changes_something() -> None:
    after = replace(BEFORE, payments={**BEFORE.payments, 2: ("scheduled", Decimal("300.00"))},
                    outbox={100: "otp", 101: "payment_confirmation"})
    assert happened(BEFORE, after) == {"payment_scheduled": (Decimal("300.00"),)}


def test_a_payment_made_and_cancelled_in_one_scenario_counts_as_both() -> None:
    after = replace(BEFORE, payments={**BEFORE.payments, 2: ("cancelled", Decimal("50.00"))})
    assert happened(BEFORE, after) == {"payment_cancelled": (Decimal("50.00"),)}
    scheduled_then_cancelled = replace(after, payments={1: ("posted", Decimal("452.18")),
                                                        2: ("scheduled", Decimal("50.00")),
                                                        3: ("cancelled", Decimal("50.00"))})
    assert set(happened(BEFORE, scheduled_then_cancelled)) == {"payment_scheduled", "payment_cancelled"}


def test_autopay_enrolled_changed_and_cancelled_follow_the_active_enrolment() -> None:
    on = replace(BEFORE, autopay={5: (True, 15, 1, Decimal("452.18"))})
    moved = replace(BEFORE, autopay={5: (False, 15, 1, Decimal("452.18")), 6: (True, 20, 1, Decimal("452.18"))})
    off = replace(BEFORE, autopay={5: (False, 15, 1, Decimal("452.18"))})
    assert "autopay_enrolled" in happened(BEFORE, on)
    assert set(happened(on, moved)) == {"autopay_changed"}
    assert set(happened(on, off)) == {"autopay_cancelled"}


def test_autopay_enrolled_and_then_changed_in_one_scenario_counts_as_both() -> None:
    changed_after_enrolling = replace(BEFORE, autopay={6: (True, 25, 1, Decimal("452.18"))},
                                      audit={**BEFORE.audit, 901: "autopay_enrolled",
                                             902: "autopay_changed"})
    assert set(happened(BEFORE, changed_after_enrolling)) >= {"autopay_enrolled", "autopay_changed"}
    only_enrolled = replace(changed_after_enrolling, audit={**BEFORE.audit, 901: "autopay_enrolled"})
    assert "autopay_changed" not in happened(BEFORE, only_enrolled)


def test_a_contact_change_is_sent_then_changed_only_when_confirmed_and_different() -> None:
    sent = replace(BEFORE, contact_changes={7: ("email", False, False)})
    changed = replace(sent, contact_changes={7: ("email", True, False)},
                      contact=("new@x", *BEFORE.contact[1:]))
    assert set(happened(BEFORE, sent)) == {"contact_change_code_sent"}
    assert set(happened(sent, changed)) == {"contact_changed"}


def test_unlocking_online_access_and_a_hand_off_follow_up_are_seen() -> None:
    unlocked = replace(BEFORE, credential=(False, 0), outbox={100: "otp", 101: "online_access_unlocked"})
    assert set(happened(BEFORE, unlocked)) == {"online_access_unlocked"}
    ticket = replace(BEFORE, tickets={3: None})
    follow = replace(BEFORE, tickets={3: "email"})
    assert set(happened(BEFORE, ticket)) == {"handoff_ticket_opened"}
    assert set(happened(ticket, follow)) == {"followup_recorded"}


def test_emails_are_told_apart_by_their_kind() -> None:
    for kind, effect in [("document_link", "statement_emailed"), ("payoff_quote", "payoff_quote_emailed"),
                         ("username_reminder", "username_sent")]:
        assert set(happened(BEFORE, replace(BEFORE, outbox={100: "otp", 101: kind}))) == {effect}


# --- the verdict -------------------------------------------------------------------------------


def transcript(*replies: str) -> list[Line]:
    return [Line("assistant", reply) for reply in replies]


def test_success_needs_every_key_given() -> None:
    success = Success(said_any=("confirmation", "reference"), said_all=("$300.00", "checking"),
                      effects=("payment_scheduled",), amount=Decimal("300.00"))
    lines = transcript("Pay $300.00 from Checking ****6789?", "Your CONFIRMATION number is MP1")
    good = judge(success, (), lines, {"payment_scheduled": (Decimal("300.00"),)}, (), False)
    assert good.success and good.failures == []
    bad = judge(success, (), transcript("Pay $300.00?"), {"payment_scheduled": (Decimal("250.00"),)}, (), False)
    assert bad.failures == [
        "success.said_any: none of ['confirmation', 'reference'] was said",
        "success.said_all: never said ['checking']",
        "success.amount: expected 300.00, the store has 250.00",
    ]


def test_an_effect_that_did_not_happen_lists_those_that_did() -> None:
    verdict = judge(Success(effects=("autopay_enrolled",)), (), [], {"nothing_changed": ()}, (), False)
    assert verdict.failures == ["success.effects: autopay_enrolled did not happen (effects seen: nothing_changed)"]


def test_never_said_fails_on_any_reply_containing_the_text() -> None:
    verdict = judge(Success(said_any=("hours",)), ("$18,420.55",),
                    transcript("Our hours are 8 to 8.", "Your balance is $18,420.55"), {}, (), False)
    assert verdict.failures == ["never_said: the assistant said '$18,420.55'"]


def test_account_figures_after_the_verified_moment_are_allowed() -> None:
    replies = ["What's your account number?", "Thank you, Maria, you're verified.", "Balance $18,420.55"]
    assert data_before_verification(("$18,420.55",), replies, never_verifies=False) == []


def test_account_figures_before_verification_fail_and_are_counted() -> None:
    lines = transcript("Your balance is $18,420.55.", "Thank you, Maria, you're verified.")
    verdict = judge(Success(said_any=("balance",)), (), lines, {}, ("$18,420.55", "$452.18"), False)
    assert verdict.data_before_verification == ["$18,420.55"]
    assert verdict.failures == ["account data before verification: $18,420.55"]


def test_for_nobody_a_figure_in_any_reply_is_account_data_before_verification() -> None:
    replies = ["Thank you, Maria, you're verified.", "It is $18,420.55"]
    assert data_before_verification(("$18,420.55",), replies, never_verifies=True) == ["$18,420.55"]


def test_a_scenario_stopped_early_fails_with_why_it_stopped_first() -> None:
    verdict = judge(Success(said_any=("hours",)), (), transcript("Our hours"), {}, (), False,
                    stopped="loop: the assistant asked for the code more than 3 times")
    assert verdict.failures == ["loop: the assistant asked for the code more than 3 times"]


def test_a_message_the_assistant_did_not_answer_at_all_is_a_failure() -> None:
    lines = [Line("customer", "bal?"), Line("assistant", ASK_ID), Line("customer", "7912345678", "identifier")]
    verdict = judge(Success(said_any=("account",)), (), lines, {}, (), False)
    assert verdict.failures == ["no reply to '7912345678'"]
