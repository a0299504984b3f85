"""Checks of `rasa_ext.intent_classifier` that need Rasa: run by Rasa's Python.

`tests/unit/rasa_ext/test_intent_classifier.py` runs this file with `.venv/rasa/bin/python` (the app
environment has no Rasa) and asserts on the JSON it prints on its last line.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from scipy.sparse import random as sparse_random

from rasa_ext.intent_classifier import (_corrected_clause, ARRAYS_FILE, LinearModel, TfidfIntentClassifier,
                                        clause_spans, feature_matrix)

EXAMPLES = {
    "check_balance": ["what's my balance", "how much do i owe", "balance please",
                      "what is left on my loan", "how much is still owed on the car"],
    "make_payment": ["i want to pay", "make a payment", "pay my bill now",
                     "send a payment today", "i'd like to pay $200"],
    "greet": ["hi", "hello there", "good morning", "hey", "hiya"],
    "faq/phishing": ["is this email from you real", "i got a scam text saying it's meridian",
                     "how do i know a message is really from you", "suspicious email from you"],
    "faq/support_hours": ["when are you open", "what are your hours", "are agents there on sunday",
                          "what time do you close"],
    "chitchat/weather": ["what's the weather like", "is it going to rain today",
                         "how hot is it outside", "weather forecast please"],
}
RESPONSES = {"utter_faq/phishing": [{"text": "We never ask for your password."}],
             "utter_chitchat/weather": [{"text": "I can't see outside, sorry."}],
             "utter_faq/support_hours": [{"text": "Mon-Fri 8-8."}]}


def _data(examples: Dict[str, List[str]]) -> TrainingData:
    return TrainingData([Message.build(text=text, intent=intent)
                         for intent, texts in examples.items() for text in texts],
                        responses=RESPONSES)


def _component(storage: LocalModelStorage, config: Dict[str, Any]) -> TfidfIntentClassifier:
    context = ExecutionContext(GraphSchema({}), "test")
    return TfidfIntentClassifier.create({**TfidfIntentClassifier.get_default_config(), **config},
                                        storage, Resource("intents"), context)


def _parse(component: TfidfIntentClassifier, texts: List[str]) -> List[Dict[str, Any]]:
    messages = component.process([Message.build(text=text) for text in texts])
    return [{"intent": m.get("intent"), "ranking": m.get("intent_ranking"),
             "selector": m.get("response_selector")} for m in messages]


def blocks_meet_their_own_weights() -> Dict[str, Any]:
    """Block by block (two sparse n-gram blocks, a float32 embedding), as the joined matrix."""
    rng = np.random.default_rng(3)
    blocks = [sparse_random(4, 30, density=0.2, format="csr", random_state=1),
              sparse_random(4, 20, density=0.3, format="csr", random_state=2),
              rng.normal(size=(4, 8)).astype(np.float32)]
    model = LinearModel(rng.normal(size=(5, 58)), rng.normal(size=5), list("abcde"))
    scores = np.asarray(feature_matrix(blocks) @ model.weights.T) + model.bias
    joined = np.exp(scores - scores.max(axis=1, keepdims=True))
    joined /= joined.sum(axis=1, keepdims=True)
    try:
        model.probabilities(blocks[:2])  # the embedding missing
        refused = False
    except ValueError:
        refused = True
    return {"same": bool(np.allclose(model.probabilities(blocks), joined, atol=1e-12)),
            "missing_block_refused": refused}


def figures_are_answers(tmp: Path) -> Dict[str, Any]:
    """With `figures_intent`, digits without a letter are that intent; the rest as before."""
    examples = {**EXAMPLES, "inform": ["my code is 123456", "it's 30309", "$25 please",
                                       "the 15th", "account 7301004821"]}
    texts = ["114695", "$1,250.50", "12/3", "pay 300 dollars", "👍", "?"]
    found = {}
    for name, config in (("on", {"figures_intent": "inform"}), ("off", {})):
        (tmp / f"figures-{name}").mkdir()
        component = _component(LocalModelStorage(tmp / f"figures-{name}"), config)
        component.train(_data(examples))
        found[name] = [(p["intent"]["name"], p["intent"]["confidence"], len(p["ranking"]))
                       for p in _parse(component, texts)]
        if name == "on":  # a batch of figures alone needs no features at all
            features = component._features
            component._features = lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded"))
            found["figures_only_batch"] = [p["intent"]["name"] for p in _parse(component, texts[:3])]
            component._features = features
    (tmp / "figures-details").mkdir()
    details = _component(LocalModelStorage(tmp / "figures-details"),
                         {"figures_intent": "inform", "second_question_intents": ["check_balance"],
                          "second_question_confidence": 0.3})
    details.train(_data(examples))
    text = "account 7301004821, it's 30309. how much do i still owe on my car"
    found["details_then_request"] = _parse(details, [text])[0]["intent"]["name"]
    return found


def second_questions(tmp: Path) -> Dict[str, Any]:
    """With `second_question_intents`, a clause asking something else is an `also_asked` entity."""
    (tmp / "second").mkdir()
    component = _component(LocalModelStorage(tmp / "second"),
                           {"second_question_intents": ["check_balance", "faq"],
                            "second_question_confidence": 0.3, "unclear_below": 0.7})
    component.train(_data(EXAMPLES))
    texts = ["i want to pay? actually no, what's my balance", "what's my balance and what are your hours",
             "what's my balance", "when are you open? and is this email from you real"]
    messages = component.process([Message.build(text=text) for text in texts])
    text = "whats my balance and when is my next payment due? also r u open sundays"
    dashed = "acct 7301004821 ssn 4821 -- what's my rate \u2014 and the payoff? pay-off-ish 2-3 days"
    mixed = "what's my balance and i want to pay my bill now"
    plain = _component(LocalModelStorage(tmp / "second"), {"second_question_intents": []})
    plain.intents, plain.answers, plain.vectorizers, plain.encoder = (
        component.intents, component.answers, component.vectorizers, component.encoder)
    before = plain.process([Message.build(text=mixed)])[0].get("intent")
    after = component.process([Message.build(text=mixed)])[0].get("intent")
    greeting = "hiya hello there good morning. balance please"
    component.config["preamble_intents"] = ["greet"]
    greeted = {"before": plain.process([Message.build(text=greeting)])[0].get("intent")["name"],
               "after": component.process([Message.build(text=greeting)])[0].get("intent")["name"]}
    component.config["preamble_intents"] = []
    return {"mixed_before": before, "mixed_after": after, "greeted": greeted,"also_asked": [[e["value"] for e in m.get("entities") or []
                            if e["entity"] == "also_asked"] for m in messages],
            "main_answer": component._label(messages[-1].get("intent"), messages[-1]),
            "corrected_intent": messages[0].get("intent")["name"],
            "taken_back": [_corrected_clause(clause) for clause in (
                "actually no sorry, not the payoff, I just want the regular balance",
                "actually, make it $250", "no, the debit card", "not the payoff", "and my balance")],
            "clauses": [text[a:b] for a, b in clause_spans(text)],
            "one_clause": clause_spans("pay 300 on friday"),
            "dashed": [dashed[a:b] for a, b in clause_spans(dashed)],
            "cautious": cautious(component)}


def cautious(component: TfidfIntentClassifier) -> Dict[str, Any]:
    """A weighty intent below its bar gives way to a clause that clearly asks something else."""
    component.config["cautious_intents"] = {"report_fraud": 0.8}
    found = {}
    for label, confidence in (("unsure", 0.61), ("sure", 0.9)):
        message = Message.build(text="my password was wrong. help me get back in")
        message.set("intent", {"name": "report_fraud", "confidence": confidence})
        rankings = [[("report_fraud", 0.7), ("login_help", 0.2)], [("login_help", 0.95), ("faq", 0.02)]]
        component._reconsider_cautious(message, rankings, {"login_help", "faq"}, 0.6)
        found[label] = message.get("intent")["name"]
    component.config["cautious_intents"] = {}
    return found


def main() -> None:
    texts = ["how much do i still owe on my car", "pay 300 dollars", "helo", "",
             "got a weird email that says its from you", "are you open on saturday",
             "will it rain tomorrow"]
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalModelStorage(Path(tmp))
        trained = _component(storage, {"ranking_length": 2})
        trained.train(_data(EXAMPLES))
        parsed = _parse(trained, texts)
        loaded = TfidfIntentClassifier.load({**TfidfIntentClassifier.get_default_config(),
                                             "ranking_length": 2}, storage,
                                            Resource("intents"),
                                            ExecutionContext(GraphSchema({}), "test"))
        reloaded = _parse(loaded, texts)
        with storage.read_from(Resource("intents")) as directory:
            stored = sorted(p.name for p in directory.iterdir())
            with zipfile.ZipFile(directory / ARRAYS_FILE) as archive:
                arrays = [np.lib.format.read_array(archive.open(name), allow_pickle=False).dtype.str
                          for name in archive.namelist()]

        lone = _component(LocalModelStorage(Path(tmp) / "lone"), {})
        lone.train(_data({"greet": EXAMPLES["greet"]}))
        untouched = lone.process([Message.build(text="hi")])[0].get("intent")

        missing = TfidfIntentClassifier.load(TfidfIntentClassifier.get_default_config(),
                                             LocalModelStorage(Path(tmp) / "empty"),
                                             Resource("nothing"),
                                             ExecutionContext(GraphSchema({}), "test"))
        missing_answer = missing.process([Message.build(text="hi")])[0].get("intent")
        figures = figures_are_answers(Path(tmp))
        second = second_questions(Path(tmp))

    print(json.dumps({
        "intents": [p["intent"]["name"] for p in parsed],
        "confidences": [p["intent"]["confidence"] for p in parsed],
        "ranking_lengths": [len(p["ranking"]) for p in parsed],
        "answers": [p["selector"]["faq"]["response"]["intent_response_key"] for p in parsed[4:6]],
        "single_answer": parsed[6]["selector"]["chitchat"]["response"],
        "selection": parsed[4]["selector"],
        "rankings_sorted": all(
            [r["confidence"] for r in p["ranking"]]
            == sorted((r["confidence"] for r in p["ranking"]), reverse=True) for p in parsed),
        "top_is_first_of_ranking": all(p["intent"] == p["ranking"][0] for p in parsed),
        "reloaded_same": reloaded == parsed,
        "stored_files": stored,
        "array_dtypes": arrays,
        "single_intent_untouched": untouched,
        "missing_model_untouched": missing_answer,
        "blocks": blocks_meet_their_own_weights(),
        "figures": figures,
        "second": second,
    }))


if __name__ == "__main__":
    main()
