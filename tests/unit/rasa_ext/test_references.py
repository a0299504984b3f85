"""A typed reference to a button of the assistant's latest reply ("2", "the second one",
"option 3") is read as a press of that button (`rasa_ext.references`).

The rules are pure and tested here; the last tests run a real Rasa Agent (a tiny model with no
TensorFlow, trained on the spot) in Rasa's environment, with `rasa_ext.serving.install()` as the
server has it, and check what the tracker store keeps.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Optional

import pytest

from rasa_ext import references
from rasa_ext.references import (Button, button_of_latest_user_message, is_numbered_channel,
                                 offered_buttons, parse_reference, referenced_button,
                                 referenced_payload)
from tests.unit.rasa_ext.rasa_checks import run_in_rasa

PAYMENT = [{"title": "Monthly payment $412.50", "payload": '/inform{"amount_choice":"monthly_payment"}'},
           {"title": "Past due $80.00", "payload": '/inform{"amount_choice":"past_due"}'},
           {"title": "Payoff $9,120.00", "payload": '/inform{"amount_choice":"payoff"}'}]
MONTHS = [{"title": t, "payload": t} for t in ("1 month", "2 months", "3 months", "6 months")]
DAYS = [{"title": "The 15th (your due date)", "payload": '/inform{"date":"the 15th"}'},
        {"title": "The 3rd (as now)", "payload": '/inform{"date":"the 3rd"}'}]
SOURCES = [{"title": "Checking ••••1234", "payload": '/inform{"funding_source":"Checking ••••1234"}'},
           {"title": "Savings ••••9876 ($1.50 fee)",
            "payload": '/inform{"funding_source":"Savings ••••9876"}'}]
OTP = [{"title": "Email j•••@example.com", "payload": '/inform{"otp_channel":"email"}'},
       {"title": "Text •••-•••-0142", "payload": '/inform{"otp_channel":"sms"}'}]
NEXT_STEPS = [{"title": "Make a payment", "payload": "/make_payment"},
              {"title": "Payoff quote", "payload": "/payoff_quote"}]
ONE = [{"title": "Talk to a person", "payload": "/human_handoff"}]
SMS, WHATSAPP, WEB, REST = "twilio", "twilio_whatsapp", "socketio", "rest"


def bot(text: str = "", buttons: Optional[list[Any]] = None) -> dict[str, Any]:
    return {"event": "bot", "text": text, "metadata": {},
            "data": {"elements": None, "quick_replies": None, "buttons": buttons,
                     "attachment": None, "image": None, "custom": None}}


def user(text: str, channel: str = SMS) -> dict[str, Any]:
    return {"event": "user", "text": text, "input_channel": channel,
            "parse_data": {"text": text, "intent": {"name": "greet"}, "entities": []}}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def loop(name: Optional[str]) -> dict[str, Any]:
    return {"event": "active_loop", "name": name}


def offered(buttons: list[Any]) -> list[dict[str, Any]]:
    """A conversation whose latest reply offers `buttons`, waiting for the customer."""
    return [{"event": "session_started"}, action("action_listen"), user("hi"),
            action("action_ask"), bot("Pick one", buttons), action("action_listen")]


def pick(text: str, buttons: list[Any], channel: Optional[str] = SMS) -> Optional[int]:
    """The position of the button `text` is read as pressing; None if none."""
    button = referenced_button(text, channel, offered(buttons))
    return None if button is None else button.position


# --- phrasings ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, position", [
    ("1", 1), ("2", 2), ("3", 3), (" 2 ", 2), ("2.", 2), ("(3)", 3), ("2)", 2), ("2!", 2),
    ("2\ufe0f\u20e3", 2), ("\uff12", 2), ("two", 2), ("One", 1), ("THREE", 3),
    ("first", 1), ("second", 2), ("Third", 3), ("the first", 1), ("the second one", 2),
    ("the 2nd one", 2), ("2nd", 2), ("3rd one", 3), ("1st option", 1), ("the third option", 3),
    ("second choice", 2), ("option 3", 3), ("Option 2", 2), ("option #2", 2), ("option2", 2),
    ("option two", 2), ("option number 3", 3), ("number 2", 2), ("num 1", 1), ("no. 2", 2),
    ("No.3", 3), ("#2", 2), ("# 3", 3), ("#two", 2), ("choice 1", 1), ("button 2", 2),
    ("the last one", 3), ("last one", 3), ("the last", 3), ("last", 3), ("Last option", 3),
    ("the top one", 1), ("the bottom one", 3),
    # a polite tail
    ("2 please", 2), ("2, please", 2), ("2 pls", 2), ("2 plz", 2), ("option 2 please", 2),
    ("the second one please", 2), ("2 thanks", 2), ("2 thank you", 2), ("1 pls thx", 1),
    ("#3 thanks!", 3), ("The Last One, Please.", 3),
    # light typos
    ("secnd", 2), ("seccond one", 2), ("secound", 2), ("thrid", 3), ("frist one", 1),
    ("fist one", 1), ("opton 2", 2), ("optoin 3", 3), ("numbr 2", 2), ("2 plase", 2),
    ("2st", 2), ("3th one", 3),
])
def test_a_reference_to_a_button_picks_it(text: str, position: int) -> None:
    assert pick(text, PAYMENT) == position


@pytest.mark.parametrize("text", [
    "4", "5", "0", "02", "12", "250", "fourth", "the 4th one", "option 4", "#0", "#5",
    "2 months", "pay 2", "2 dollars", "$2", "2.50", "2,000", "1 and 2", "1 or 2", "2 2",
    "the 2", "no 2", "2 no", "yes 2", "ok 2", "I want 2", "the second payment", "second time",
    "2nd of december", "fifty", "sixty", "seconds", "that one", "this one", "the one",
    "one more", "please", "thanks", "last month", "past due", "payoff",
    '/inform{"amount_choice":"payoff"}', "", "   ", "2" * 100, "option", "#", "number",
    "the first one and the second one",
])
def test_anything_else_is_left_alone(text: str) -> None:
    assert pick(text, PAYMENT) is None


def test_that_one_is_the_only_button_when_only_one_was_offered() -> None:
    assert pick("that one", ONE) == pick("This one!", ONE) == pick("that option", ONE) == 1
    assert pick("1", ONE) == pick("the last one", ONE) == 1
    assert pick("that one", PAYMENT) is None and pick("2", ONE) is None


def test_the_payload_used_is_the_buttons_own() -> None:
    assert referenced_payload("2", SMS, offered(PAYMENT)) == '/inform{"amount_choice":"past_due"}'
    assert referenced_payload("the first one", WHATSAPP, offered(SOURCES)) == \
        '/inform{"funding_source":"Checking ••••1234"}'
    assert referenced_button("1", SMS, offered(MONTHS)) == Button(1, "1 month", "1 month")


def test_what_the_parser_reads() -> None:
    assert parse_reference("the 2nd one please").kind == "position"  # type: ignore[union-attr]
    assert parse_reference("2nd").kind == "ordinal"  # type: ignore[union-attr]
    assert parse_reference("2").kind == "number"  # type: ignore[union-attr]
    assert parse_reference("that one").kind == "that"  # type: ignore[union-attr]
    assert parse_reference("2 months") is None and parse_reference(None) is None


# --- channels ------------------------------------------------------------------------------


@pytest.mark.parametrize("channel, numbered", [
    ("twilio", True), ("twilio_whatsapp", True), ("whatsapp", True), ("sms", True),
    ("rest", False), ("socketio", False), ("telegram", False), ("slack", False),
    ("facebook", False), ("cmdline", False), (None, False), ("", False),
])
def test_only_sms_and_whatsapp_show_numbers(channel: Optional[str], numbered: bool) -> None:
    assert is_numbered_channel(channel) is numbered


@pytest.mark.parametrize("text, on_sms, on_web", [
    ("1", 1, 1), ("2", 2, 2), ("3", 3, 3),
    ("4", 4, None),   # SMS: the 4th line ("6 months"); web: no button says 4
    ("6", None, 4),   # SMS: there is no 6th line; web: the "6 months" button
    ("six", None, 4), ("5", None, None), ("12", None, None),
    ("option 4", 4, 4), ("#4", 4, 4), ("the 4th one", 4, 4), ("fourth", 4, 4),
    ("the last one", 4, 4), ("2 months", None, None), ("6 months", None, None),
])
def test_a_bare_number_on_the_web_is_the_quantity_a_title_starts_with(
        text: str, on_sms: Optional[int], on_web: Optional[int]) -> None:
    for channel in (SMS, WHATSAPP):
        assert pick(text, MONTHS, channel) == on_sms, (text, channel)
    for channel in (WEB, REST, "telegram", None):
        assert pick(text, MONTHS, channel) == on_web, (text, channel)


def test_a_bare_number_on_the_web_is_a_position_when_no_title_is_a_quantity() -> None:
    for channel in (WEB, REST, SMS):
        assert pick("1", PAYMENT, channel) == 1 and pick("3", PAYMENT, channel) == 3
        assert pick("4", PAYMENT, channel) is None


def test_the_messages_own_channel_decides() -> None:
    web_turn = [user("extend", WEB), bot("By how many months?", MONTHS)]
    assert referenced_payload("4", WEB, web_turn) is None
    assert referenced_payload("4", SMS, web_turn) == "6 months"


def test_a_bare_ordinal_among_days_is_the_day_a_title_holds() -> None:
    assert pick("the 3rd", DAYS) == 2 and pick("3rd", DAYS, WEB) == 2  # "The 3rd (as now)"
    assert pick("the 15th", DAYS) == 1
    assert pick("the 1st", DAYS) is None and pick("first", DAYS) is None  # a day, not a line
    assert pick("2nd", DAYS) is None and pick("last", DAYS) is None
    assert pick("the first one", DAYS) == 1 and pick("option 2", DAYS) == 2
    assert pick("2", DAYS) == 2 and pick("1", DAYS, WEB) == 1


# --- which buttons count -------------------------------------------------------------------


def test_no_buttons_offered_changes_nothing() -> None:
    assert pick("1", []) is None
    assert referenced_payload("1", SMS, [user("hi"), bot("Hello! How can I help?")]) is None
    assert referenced_payload("1", SMS, []) is None


def test_only_buttons_offered_since_the_latest_user_message_count() -> None:
    answered = offered(PAYMENT) + [user("2"), action("action_thanks"), bot("Thanks!"),
                                   action("action_listen")]
    assert referenced_payload("1", SMS, answered) is None
    typed_over = offered(PAYMENT) + [user("hold on")]
    assert referenced_payload("1", SMS, typed_over) is None


def test_the_last_message_with_buttons_in_the_turn_counts() -> None:
    turn = [user("hi"), bot("Your balance is $1,204.11.", NEXT_STEPS),
            bot("Or choose an amount", PAYMENT), bot("Anything else?"), action("action_listen")]
    assert referenced_payload("3", SMS, turn) == '/inform{"amount_choice":"payoff"}'
    assert referenced_payload("1", SMS, turn[:2]) == "/make_payment"


def asked(text: str, intent: str, channel: str = SMS) -> dict[str, Any]:
    """A user message the NLU read as `intent`."""
    return {**user(text, channel), "parse_data": {"text": text, "intent": {"name": intent},
                                                   "entities": []}}


@pytest.mark.parametrize("text, position", [
    ("ok. the first option then", 1), ("ok the second one", 2), ("I'll take the second one", 2),
    ("let's go with option 3", 3), ("yes, the last one please", 3), ("hmm the first one", 1),
    ("the second one then", 2), ("i'd like the 3rd option", 3), ("okay, option 2 then", 2),
])
def test_a_lead_in_or_a_then_goes_with_a_position(text: str, position: int) -> None:
    assert pick(text, PAYMENT) == position


@pytest.mark.parametrize("text", ["ok 2", "yes 2", "I want 2", "2 then", "ok two", "sure 1",
                                  "ok the 2", "ok", "yes", "then"])
def test_a_lead_in_never_makes_a_bare_number_a_choice(text: str) -> None:
    assert pick(text, PAYMENT) is None


def test_an_offer_stands_after_a_question_on_the_side() -> None:
    """ "what are your hours?" between the options and "the first option": still the options."""
    hours = offered(PAYMENT) + [asked("what time do you close", "faq/support_hours"),
                                action("utter_faq"), bot("We're open 8am-8pm."),
                                action("action_listen")]
    assert referenced_payload("the first option", SMS, hours) == PAYMENT[0]["payload"]
    two = hours + [asked("and what's my balance", "check_balance"), bot("$1,204.11"),
                   action("action_listen")]
    assert referenced_payload("the last one", WEB, two) == PAYMENT[-1]["payload"]
    three = two + [asked("blorf", "nlu_fallback"), bot("Sorry?"), action("action_listen")]
    assert referenced_payload("the last one", WEB, three) is None  # at most two side questions
    newer = hours + [asked("huh", "out_of_scope"), bot("Talk to a person?", ONE)]
    assert referenced_payload("that one", WEB, newer) == ONE[0]["payload"]  # the newest offer


def test_an_answer_or_a_new_task_ends_the_offer() -> None:
    for intent in ("deny", "affirm", "inform", "make_payment", "cancel", "greet"):
        events = offered(PAYMENT) + [asked("something", intent), bot("Okay."),
                                     action("action_listen")]
        assert referenced_payload("the first option", SMS, events) is None, intent
    form = offered(PAYMENT) + [loop("payment_form"), asked("what's my balance", "check_balance"),
                               bot("$1,204.11"), action("action_listen")]
    assert referenced_payload("the first option", SMS, form) is None


def test_buttons_from_before_a_new_session_or_a_restart_do_not_count() -> None:
    for boundary in ({"event": "session_started"}, {"event": "restart"}, {"event": "rewind"}):
        events = offered(PAYMENT) + [boundary, action("action_listen")]
        assert referenced_payload("1", SMS, events) is None, boundary


def test_never_while_a_verification_question_waits() -> None:
    asking = offered(PAYMENT) + [loop("identity_form"), bot("What's your account number?"),
                                 action("action_listen")]
    assert referenced_payload("1", SMS, asking) is None  # an answer to the question
    assert referenced_payload("1", SMS, [loop("identity_form"), bot("And your ZIP code?")]) is None
    otp = [user("7301004821"), loop("identity_form"), bot("Where should I send your code?", OTP),
           action("action_listen")]
    assert referenced_payload("2", SMS, otp) == '/inform{"otp_channel":"sms"}'
    assert referenced_payload("the first one", WEB, otp) == '/inform{"otp_channel":"email"}'
    finished = asking + [user("7301004821"), loop(None), bot("Verified.", PAYMENT)]
    assert referenced_payload("2", SMS, finished) == '/inform{"amount_choice":"past_due"}'


# --- safety --------------------------------------------------------------------------------


def test_only_a_stored_buttons_payload_comes_out_never_an_external_intent() -> None:
    unusable = [{"title": "Hand back", "payload": "/EXTERNAL_handback"},
                {"title": "Also", "payload": " / external_x"},
                {"title": "Blank", "payload": "  "}, {"title": "None", "payload": None},
                {"title": "Number", "payload": 3}, {"title": "Site", "url": "https://x"},
                "not a button"]
    for n in range(1, len(unusable) + 1):
        assert referenced_payload(str(n), SMS, offered(unusable)) is None, n
    texts = ["1", "2", "3", "4", "6", "the last one", "option 2", "#1", "that one", "second"]
    for buttons in (PAYMENT, MONTHS, DAYS, SOURCES, OTP, ONE):
        stored = {b["payload"] for b in buttons}
        for text in texts:
            for channel in (SMS, WEB):
                assert referenced_payload(text, channel, offered(buttons)) in stored | {None}


def test_malformed_events_are_no_offer() -> None:
    for event in ({"event": "bot"}, {"event": "bot", "data": None}, {"event": "bot", "data": []},
                  {"event": "bot", "data": {"buttons": "1. A"}}, {"event": "bot", "data": {}}):
        assert offered_buttons([user("hi"), event]) == []


def test_an_action_can_tell_which_button_a_typed_reply_meant() -> None:
    """A slot filled from the text gets "4"; the action can learn it meant "6 months"."""
    events = offered(MONTHS) + [user("4", SMS), action("action_extract_slots")]
    assert button_of_latest_user_message(events) == Button(4, "6 months", "6 months")
    assert button_of_latest_user_message(offered(MONTHS) + [user("4", WEB)]) is None
    assert button_of_latest_user_message([user("4")]) is None


def test_the_rules_import_nothing_of_rasa_at_module_level() -> None:
    tree = ast.parse(Path(references.__file__).read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert names and not any(name == "rasa" or name.startswith("rasa.") for name in names)


# --- through a real Rasa Agent ---------------------------------------------------------------

RASA_CHECK = r'''"""Written to a file and run by Rasa's Python: a tiny model (no TensorFlow) trained, messages
handled by a real Agent (MessageProcessor.handle_message), what the tracker store keeps printed."""
from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import rasa
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.model_training import train
from rasa.utils.common import configure_logging_and_warnings

from rasa_ext import references, serving

CONFIG = """
recipe: default.v1
language: en
assistant_id: references-check
pipeline:
  - name: WhitespaceTokenizer
  - name: KeywordIntentClassifier
policies:
  - name: RulePolicy
"""
DOMAIN = """
version: "3.1"
intents: [greet, inform, extend_lease, give_months, choose_day]
entities: [amount_choice, date]
slots:
  amount_choice:
    type: text
    influence_conversation: false
    mappings:
      - type: from_entity
        entity: amount_choice
responses:
  utter_ask_amount:
    - text: "How much would you like to pay?"
      buttons:
        - {title: "Monthly payment $412.50", payload: '/inform{"amount_choice":"monthly_payment"}'}
        - {title: "Past due $80.00", payload: '/inform{"amount_choice":"past_due"}'}
        - {title: "Payoff $9,120.00", payload: '/inform{"amount_choice":"payoff"}'}
  utter_chose:
    - text: "You chose {amount_choice}."
  utter_ask_months:
    - text: "By how many months?"
      buttons:
        - {title: "1 month", payload: "1 month"}
        - {title: "2 months", payload: "2 months"}
        - {title: "3 months", payload: "3 months"}
        - {title: "6 months", payload: "6 months"}
  utter_months:
    - text: "Months noted."
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
"""
NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi
- intent: inform
  examples: |
    - pay
- intent: extend_lease
  examples: |
    - extend
- intent: give_months
  examples: |
    - months
    - month
"""
RULES = """
version: "3.1"
rules:
- rule: ask amount
  steps:
  - intent: greet
  - action: utter_ask_amount
- rule: chose
  steps:
  - intent: inform
  - action: utter_chose
- rule: ask months
  steps:
  - intent: extend_lease
  - action: utter_ask_months
- rule: months
  steps:
  - intent: give_months
  - action: utter_months
"""


def tiny_model(folder: Path) -> str:
    (folder / "data").mkdir()
    (folder / "config.yml").write_text(CONFIG)
    (folder / "domain.yml").write_text(DOMAIN)
    (folder / "data" / "nlu.yml").write_text(NLU)
    (folder / "data" / "rules.yml").write_text(RULES)
    result = train(str(folder / "domain.yml"), str(folder / "config.yml"),
                   [str(folder / "data")], str(folder / "models"), fixed_model_name="tiny")
    assert result.code == 0, result
    return result.model


async def conversation(agent: Agent, sender: str, channel: str, texts: List[str]) -> Dict[str, Any]:
    """Each text handled as a channel hands it to Rasa; what the store then holds."""
    replies = []
    for text in texts:
        output = CollectingOutputChannel()
        await agent.handle_message(UserMessage(text, output, sender, input_channel=channel,
                                               metadata={"page": "check"}))
        replies.append([m.get("text") for m in output.messages])
    tracker = await agent.tracker_store.retrieve(sender)
    users = [e.as_dict() for e in tracker.events if e.type_name == "user"]
    return {"users": [{"text": u["text"], "intent": u["parse_data"]["intent"].get("name"),
                       "parse_text": u["parse_data"]["text"],
                       "entities": [{"entity": x["entity"], "value": x["value"]}
                                    for x in u["parse_data"]["entities"]],
                       "metadata": u["metadata"], "input_channel": u["input_channel"]}
                      for u in users],
            "replies": replies}


async def checks(model: str) -> Dict[str, Any]:
    agent = Agent.load(model)
    results: Dict[str, Any] = {}
    stock_parse = MessageProcessor.parse_message
    results["installed"] = serving.install()
    results["patched"] = MessageProcessor.parse_message is not stock_parse
    results["sms_amount"] = await conversation(agent, "c-sms", "twilio", ["hi", "2"])
    stored = (await agent.tracker_store.retrieve("c-sms")).latest_message.parse_data
    pressed = await agent.parse_message('/inform{"amount_choice":"past_due"}')
    results["parsed_as_pressed"] = all(
        json.dumps(stored.get(key), sort_keys=True) == json.dumps(pressed.get(key), sort_keys=True)
        for key in set(stored) | set(pressed) if key not in ("text", "metadata", "message_id"))
    results["whatsapp_last"] = await conversation(agent, "c-wa", "twilio_whatsapp",
                                                  ["hi", "the last one please"])
    results["web_months"] = await conversation(agent, "c-web", "socketio", ["extend", "6"])
    results["web_four"] = await conversation(agent, "c-web4", "rest", ["extend", "4"])
    results["sms_four"] = await conversation(agent, "c-sms4", "twilio", ["extend", "4"])
    results["out_of_range"] = await conversation(agent, "c-oor", "twilio", ["hi", "5"])
    results["no_buttons"] = await conversation(agent, "c-none", "twilio", ["2"])
    results["twice"] = await conversation(agent, "c-twice", "twilio", ["hi", "1", "2"])
    results["no_tracker"] = (await agent.parse_message("2"))["intent"].get("name")
    serving.uninstall()
    results["restored"] = MessageProcessor.parse_message is stock_parse
    results["stock"] = await conversation(agent, "c-stock", "twilio", ["hi", "2"])
    real_version = rasa.__version__
    rasa.__version__ = "3.6.20"
    try:
        results["other_version_installed"] = references.install()
        results["other_version_untouched"] = MessageProcessor.parse_message is stock_parse
    finally:
        rasa.__version__ = real_version
    return results


def main() -> None:
    configure_logging_and_warnings(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        model = tiny_model(Path(folder))
        results = asyncio.run(checks(model))
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
'''


@pytest.fixture(scope="module")
def agent_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    script = tmp_path_factory.mktemp("references") / "references_check.py"
    script.write_text(RASA_CHECK)
    return run_in_rasa(script)


def _latest(results: dict[str, Any], conversation: str) -> dict[str, Any]:
    return results[conversation]["users"][-1]


def test_the_server_installs_it_and_uninstall_restores_rasas(agent_results: dict[str, Any]) -> None:
    assert agent_results["installed"] and agent_results["patched"]  # rasa_ext.serving.install()
    assert agent_results["restored"]
    assert agent_results["other_version_installed"] is False  # another Rasa: nothing patched
    assert agent_results["other_version_untouched"]


def test_on_sms_a_typed_2_is_the_second_buttons_intent_and_entities(
        agent_results: dict[str, Any]) -> None:
    typed = _latest(agent_results, "sms_amount")
    assert typed["text"] == typed["parse_text"] == "2"  # the text stays as typed
    assert typed["intent"] == "inform"
    assert typed["entities"] == [{"entity": "amount_choice", "value": "past_due"}]
    assert typed["input_channel"] == "twilio" and typed["metadata"]["page"] == "check"
    assert agent_results["sms_amount"]["replies"][-1] == ["You chose past_due."]
    assert agent_results["parsed_as_pressed"]  # all but text: Rasa's parse of the payload


def test_a_phrase_on_whatsapp_picks_the_last_button(agent_results: dict[str, Any]) -> None:
    typed = _latest(agent_results, "whatsapp_last")
    assert typed["text"] == "the last one please" and typed["intent"] == "inform"
    assert typed["entities"] == [{"entity": "amount_choice", "value": "payoff"}]


def test_a_plain_text_payload_goes_through_the_nlu_pipeline(agent_results: dict[str, Any]) -> None:
    # "6 months" is the payload: the keyword classifier reads it; "6" alone it cannot read
    assert _latest(agent_results, "web_months")["intent"] == "give_months"
    assert _latest(agent_results, "web_months")["text"] == "6"
    assert _latest(agent_results, "sms_four")["intent"] == "give_months"  # 4th line on SMS
    assert _latest(agent_results, "web_four")["intent"] is None  # no "4 ..." button on the web


def test_everything_else_is_parsed_as_rasa_parses_it(agent_results: dict[str, Any]) -> None:
    assert _latest(agent_results, "out_of_range")["intent"] is None
    assert _latest(agent_results, "no_buttons")["intent"] is None
    assert [u["intent"] for u in agent_results["twice"]["users"]] == ["greet", "inform", None]
    assert agent_results["no_tracker"] is None  # /model/parse has no conversation
    stock = _latest(agent_results, "stock")  # Rasa's own parse step
    assert stock["intent"] is None and stock["entities"] == []


LEASE_END = [{"title": "Yes, connect me", "payload": "/affirm"},
             {"title": "Extend my lease", "payload": "/extend_lease"},
             {"title": "Not now", "payload": "/deny"}]


@pytest.mark.parametrize("text, buttons, payload", [
    ("the extension one, how does that work?", LEASE_END, "/extend_lease"),
    ("the checking one", SOURCES, SOURCES[0]["payload"]),
    ("that monthly option please", PAYMENT, PAYMENT[0]["payload"]),
])
def test_a_button_named_by_a_word_of_its_title_is_that_button(text: str, buttons: list[Any], payload: str) -> None:
    assert referenced_payload(text, "rest", offered(buttons)) == payload


@pytest.mark.parametrize("text", ["the other one", "the extension", "the amount one", "the card one"])
def test_a_word_no_title_or_several_titles_have_is_no_reference(text: str) -> None:
    assert referenced_payload(text, "rest", offered(PAYMENT)) is None
