"""Placeholders, prompt recognition and the simulated customer's own answers
(evaluation/conversations/placeholders.py, prompts.py, customer.py)."""
from __future__ import annotations

from typing import Optional

import pytest
import yaml

from evaluation.conversations.customer import LoopGuard, SimulatedCustomer
from evaluation.conversations.placeholders import CustomerDetails, fill, placeholders_in
from evaluation.conversations.prompts import (
    ACTION_PROMPTS,
    CHANNEL,
    CODE,
    CONTACT_CODE,
    DOMAIN,
    DOMAIN_PROMPTS,
    FACTOR,
    IDENTIFIER,
    PROJECT_ROOT,
    recognise,
    verified_at,
)

MARIA = CustomerDetails(account_number="7912345678", username="mlopezab12cd", zip="30309",
                        dob="1985-03-14", ssn4="4821", email="mlopezab12cd@eval.example.com",
                        mobile="+15551234567")


def domain_text(response: str) -> str:
    return yaml.safe_load(DOMAIN.read_text())["responses"][response][0]["text"]


# --- placeholders ------------------------------------------------------------------------------


def test_every_placeholder_is_filled_with_the_copys_own_details() -> None:
    text = "{account_number} {username} {zip} {dob} {ssn4} {email} {mobile}"
    assert fill(text, MARIA) == ("7912345678 mlopezab12cd 30309 1985-03-14 4821 "
                                 "mlopezab12cd@eval.example.com +15551234567")


def test_text_without_placeholders_is_left_as_it_is() -> None:
    assert fill("pay $300 on friday", MARIA) == "pay $300 on friday"
    assert fill("what are your hours?", None) == "what are your hours?"


def test_placeholders_in_lists_names_in_order_known_or_not() -> None:
    assert placeholders_in("it's {account_number}, zip {zipcode}") == ["account_number", "zipcode"]


def test_an_unknown_placeholder_or_one_for_nobody_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        fill("{acct}", MARIA)
    with pytest.raises(ValueError):
        fill("{zip}", None)


# --- recognising prompts -----------------------------------------------------------------------


@pytest.mark.parametrize("response, kind", sorted(DOMAIN_PROMPTS.items()))
def test_each_prompt_of_the_domain_is_recognised_in_its_own_wording(response: str, kind: str) -> None:
    assert recognise([domain_text(response)]) == kind


@pytest.mark.parametrize("replies, kind", [
    (["Sure. For your security, let me verify your identity first.",
      "What's your account number or your online username?"], IDENTIFIER),
    (["That doesn't look like an account number (10 digits) or an online username. "
      "Could you check it and send it again?"], IDENTIFIER),
    (["Please send your 5-digit ZIP code, your date of birth (like 03/14/1985), or the last 4 "
      "digits of your SSN."], FACTOR),
    (["Thanks. Where should I send your verification code: by email to m****@example.com, "
      "or by text to ***-***-0101?"], CHANNEL),
    (["Thanks. Where should I send your verification code: by email to m****@example.com, "
      "or by text to ***-***-0101?", "1: Email m****@example.com (/inform{\"otp_channel\":\"email\"})",
      "2: Text ***-***-0101 (/inform{\"otp_channel\":\"sms\"})"], CHANNEL),
    (["Thanks. Where should I send your verification code: by email to m****@example.com, "
      "or by text to ***-***-0101?\n1. Email m****@example.com\n2. Text ***-***-0101"], CHANNEL),
    (["I've sent a 6-digit code by email to m****@example.com.",
      "I've sent a 6-digit code. Please type it here. It expires in 5 minutes."], CODE),
    (["I've sent a 6-digit code to your new email address, n****@example.com. It expires in 10 "
      "minutes.", "Please type the code here. If it hasn't arrived, say \"resend\"."], CONTACT_CODE),
    (["I\u2019ve sent a 6-digit code by text to ***-***-0101."], CODE),
])
def test_the_last_prompt_in_the_replies_says_what_is_asked(replies: list[str], kind: str) -> None:
    assert recognise(replies) == kind


def test_replies_that_ask_nothing_of_verification_are_no_prompt() -> None:
    assert recognise(["Thank you, Maria, you're verified.",
                      "Your balance is $18,420.55. How much would you like to pay?"]) is None
    assert recognise([]) is None


WORDING = {  # file -> phrases of it the runner's patterns (prompts.ACTION_PROMPTS) look for
    "actions/identity.py": [
        "That doesn't look like an account number (10 digits) or an online",
        "let's start from your account number or username again",
        "Please send your 5-digit ZIP code, your date of birth",
        "Where should I send your verification code",
        "Should I send the code by email or by text message?",
        "I've sent a 6-digit code by {where} to",
        "The code is 6 digits. Please type it as you received it",
        "you're verified.",
    ],
    "actions/contact.py": [
        "I've sent a 6-digit code {where}", "to your new email address", "by text to your new number",
        "to the email address on file",
    ],
    "autofinance/services/errors.py": ["That code didn't match"],
}


@pytest.mark.parametrize("path", sorted(WORDING))
def test_the_prompts_written_by_actions_still_use_the_assistants_wording(path: str) -> None:
    """A change of wording in the product shows up here rather than as a scenario that stalls."""
    source = (PROJECT_ROOT / path).read_text()
    for phrase in WORDING[path]:
        assert phrase in source, phrase
    assert len(ACTION_PROMPTS) == 9  # a new pattern gets its phrase listed above


def test_the_verified_moment_is_the_first_reply_saying_so() -> None:
    replies = ["What's your account number?", "Thank you, Dana, you're verified.", "Balance ..."]
    assert verified_at(replies) == 1
    assert verified_at(["What's your account number or your online username?"]) is None


# --- the simulated customer --------------------------------------------------------------------


def customer(identify_with: str = "account", factor: str = "zip",
             codes: Optional[dict[str, str]] = None) -> SimulatedCustomer:
    codes = {CODE: "123456", CONTACT_CODE: "654321"} if codes is None else codes
    return SimulatedCustomer(MARIA, identify_with, factor, codes.get)


def test_the_customer_answers_each_verification_prompt_as_format_md_says() -> None:
    maria = customer()
    assert [maria.answer(k) for k in (IDENTIFIER, FACTOR, CHANNEL, CODE, CONTACT_CODE)] == [
        "7912345678", "30309", "email", "123456", "654321"]
    assert maria.answer(None) is None


@pytest.mark.parametrize("identify_with, factor, answers", [
    ("username", "dob", ["mlopezab12cd", "1985-03-14"]),
    ("account", "ssn", ["7912345678", "4821"]),
])
def test_identify_with_and_factor_choose_the_details_given(identify_with: str, factor: str,
                                                           answers: list[str]) -> None:
    maria = customer(identify_with, factor)
    assert [maria.answer(IDENTIFIER), maria.answer(FACTOR)] == answers


def test_a_code_asked_again_is_the_kind_of_code_asked_last() -> None:
    maria = customer()
    maria.answer(CONTACT_CODE)
    assert maria.answer("code_again") == "654321"


def test_nobody_answers_no_prompt_so_the_writers_turns_go_on() -> None:
    nobody = SimulatedCustomer(None, "account", "zip", lambda kind: None)
    assert nobody.answer(IDENTIFIER) is None


def test_a_fourth_answer_to_one_prompt_stops_the_scenario_with_the_reason() -> None:
    maria = customer()
    for _ in range(3):
        maria.answer(FACTOR)
    with pytest.raises(LoopGuard, match="asked for the second detail more than 3 times"):
        maria.answer(FACTOR)


def test_a_code_prompt_with_no_code_in_the_outbox_stops_the_scenario() -> None:
    with pytest.raises(LoopGuard, match="none is in the outbox"):
        customer(codes={}).answer(CODE)
