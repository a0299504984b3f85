"""The TF-IDF intent classifier (`rasa_ext.intent_classifier`): it predicts, ranks, survives a
save and load unchanged, stores no pickle, and leaves messages alone when it has no model.
The checks need Rasa, so they run in Rasa's environment (`intent_classifier_checks.py`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.rasa_ext.rasa_checks import run_in_rasa

CHECKS = Path(__file__).with_name("intent_classifier_checks.py")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return run_in_rasa(CHECKS)


def test_it_predicts_the_intent_of_unseen_wording_and_typos(results: dict[str, Any]) -> None:
    assert results["intents"][:3] == ["check_balance", "make_payment", "greet"]
    assert results["intents"][4:] == ["faq", "faq", "chitchat"]
    assert all(0 < c <= 1 for c in results["confidences"])


def test_it_picks_the_faq_answer_as_rasas_response_selector_would(
        results: dict[str, Any]) -> None:
    assert results["answers"] == ["faq/phishing", "faq/support_hours"]
    selection = results["selection"]
    assert selection["all_retrieval_intents"] == ["chitchat", "faq"]
    response = selection["faq"]["response"]
    assert response["utter_action"] == "utter_faq/phishing"  # what utter_faq sends
    assert response["responses"] == [{"text": "We never ask for your password."}]
    assert 0.5 < response["confidence"] <= 1
    assert [r["intent_response_key"] for r in selection["faq"]["ranking"]] == \
        ["faq/phishing", "faq/support_hours"]


def test_a_retrieval_intent_with_a_single_answer_always_gives_it(results: dict[str, Any]) -> None:
    single = results["single_answer"]
    assert single["intent_response_key"] == "chitchat/weather" and single["confidence"] == 1.0
    assert single["utter_action"] == "utter_chitchat/weather"
    assert single["responses"] == [{"text": "I can't see outside, sorry."}]


def test_the_ranking_is_sorted_capped_and_led_by_the_intent(results: dict[str, Any]) -> None:
    assert results["ranking_lengths"] == [2] * 7  # ranking_length: 2 of 5 intents
    assert results["rankings_sorted"] and results["top_is_first_of_ranking"]


def test_a_saved_model_loads_to_the_same_answers_without_pickle(results: dict[str, Any]) -> None:
    assert results["reloaded_same"]
    assert results["stored_files"] == ["arrays.npz", "meta.json"]
    assert "|O" not in results["array_dtypes"]  # no object arrays: nothing to unpickle


def test_without_a_model_messages_are_left_alone(results: dict[str, Any]) -> None:
    assert results["single_intent_untouched"] is None  # one intent: nothing to tell apart
    assert results["missing_model_untouched"] is None


def test_each_feature_block_meets_its_own_weights_as_the_joined_matrix_would(
        results: dict[str, Any]) -> None:
    assert results["blocks"]["same"]  # sparse n-grams and a float32 embedding, no joined matrix
    assert results["blocks"]["missing_block_refused"]  # never a silent n-grams-only prediction


def test_digits_without_a_letter_are_the_answer_intent_when_configured(
        results: dict[str, Any]) -> None:
    on, off = results["figures"]["on"], results["figures"]["off"]
    assert [found[:3] for found in on[:3]] == [["inform", 1.0, 1]] * 3  # a code, an amount, a date
    assert on[3:] == off[3:]  # words, an emoji, a lone "?": the model decides, as without
    assert all(confidence < 1.0 or ranking > 1 for _, confidence, ranking in off[:3])
    assert results["figures"]["figures_only_batch"] == ["inform"] * 3  # and never encoded


def test_a_second_question_in_the_message_is_marked(results: dict[str, Any]) -> None:
    also = results["second"]["also_asked"][1:]
    assert results["second"]["corrected_intent"] == "check_balance"  # "pay? actually no, my balance"
    assert results["second"]["also_asked"][0] == []  # a correction, not a second question
    # a correcting clause is read without what it takes back
    assert results["second"]["taken_back"] == ["I just want the regular balance", "make it $250",
                                               "the debit card", "not the payoff", "and my balance"]
    assert also[:2] == [["faq/support_hours"], []]  # a common question after an account one; one question
    # two common questions: the one the message's answer is not
    assert {results["second"]["main_answer"], *also[2]} == {"faq/support_hours", "faq/phishing"}



def test_clauses_are_split_at_question_marks_and_conjunctions(results: dict[str, Any]) -> None:
    assert results["second"]["clauses"] == [
        "whats my balance", "when is my next payment due", "r u open sundays"]
    assert results["second"]["one_clause"] == [[0, 17]]
    # a dash between spaces breaks too ("acct ... -- what's my rate"); one inside a word does not
    assert results["second"]["dashed"] == [
        "acct 7301004821 ssn 4821", "what's my rate", "the payoff", "pay-off-ish 2-3 days"]


def test_a_message_too_mixed_to_be_clear_takes_its_first_clauses_intent(results: dict[str, Any]) -> None:
    second = results["second"]
    # unclear below 0.7 here: the whole message leans to paying, its first clause asks the balance
    assert second["mixed_before"]["name"] == "make_payment" and second["mixed_before"]["confidence"] < 0.7
    assert second["mixed_after"]["name"] == "check_balance" and second["mixed_after"]["confidence"] >= 0.3


def test_identity_details_in_front_of_a_request_leave_the_request_its_intent(results: dict[str, Any]) -> None:
    assert results["figures"]["details_then_request"] == "check_balance"


def test_a_greeting_before_the_request_leaves_the_request_its_intent(results: dict[str, Any]) -> None:
    assert results["second"]["greeted"] == {"before": "greet", "after": "check_balance"}


def test_a_weighty_intent_on_a_guess_gives_way_to_a_clear_clause(results: dict[str, Any]) -> None:
    # a fraud report opens a case: at 0.61 the clause "help me get back in" is the request
    assert results["second"]["cautious"] == {"unsure": "login_help", "sure": "report_fraud"}
