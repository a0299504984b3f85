"""An intent classifier for Rasa 3.6: TF-IDF word and character n-grams, beside a pretrained
sentence embedding (rasa_ext/sentence_encoder.py), into a logistic regression. It also picks
the answer of a retrieval intent (which FAQ), from the same features, in place of Rasa's
ResponseSelector.

Why not DIET: on our data and on independently written messages it was no more accurate
(held-out macro-F1 0.82 against 0.90, external accuracy 0.88 against 0.90), took most of the
training time and about 10 ms per message. Rasa's own LogisticRegressionClassifier reads raw
counts with a fixed regularisation, which leaves long messages dominating and the
probabilities badly spread for the fallback threshold; TF-IDF with sublinear counts and a
tuned C fixes both. The ResponseSelector is a second TensorFlow model that cost a third of
the parse time; a logistic regression over the features already computed costs a matrix product.
The n-grams catch the words of our own data, typos included; the embedding carries what they
cannot, that differently worded messages mean the same (held-out macro-F1 0.89 -> 0.94,
external accuracy 0.90 -> 0.93, for about 1.5 ms per message).
The model is stored as plain arrays, JSON and the encoder's ONNX graph (no pickle), so loading
a model file runs no code from it.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (RESPONSE_SELECTOR_PREDICTION_KEY, RESPONSE_SELECTOR_PROPERTY_NAME,
                                RESPONSE_SELECTOR_RANKING_KEY, RESPONSE_SELECTOR_RESPONSES_KEY,
                                RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
                                RESPONSE_SELECTOR_UTTER_ACTION_KEY)
from rasa.shared.nlu.constants import (INTENT, INTENT_RANKING_KEY, INTENT_RESPONSE_KEY,
                                       PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.util import intent_response_key_to_template_key
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from rasa_ext.sentence_encoder import SentenceEncoder

logger = logging.getLogger(__name__)

ARRAYS_FILE = "arrays.npz"
META_FILE = "meta.json"
ENCODER_FILE = "encoder.onnx"
VOCABULARY_FILE = "vocab.txt"


Features = List[Any]  # blocks side by side: sparse n-gram matrices, then the dense embedding


_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script
_DIGIT = re.compile(r"\d")


def is_figures_only(text: str) -> bool:
    """Digits without a single letter: '114695', '$25', '12/3', '555-0100'. (An emoji or a
    '?' alone is left to the model: a thumbs-up is a yes.)"""
    return bool(_DIGIT.search(text)) and not _LETTER.search(text)


def feature_matrix(blocks: Features) -> csr_matrix:
    """The blocks as one matrix, for fitting (scikit-learn needs it whole)."""
    return hstack([csr_matrix(block) for block in blocks]).tocsr()


class LinearModel:
    """A fitted multinomial logistic regression reduced to what prediction needs."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, labels: List[str]) -> None:
        # one column per label, laid out for `block @ columns`: multiplying by `weights.T`
        # made scipy copy the whole transposed matrix for every message (0.6 ms each time)
        self._columns = np.ascontiguousarray(weights.T)
        self.bias, self.labels = bias, labels

    @property
    def weights(self) -> np.ndarray:
        """One row per label (as scikit-learn fits and the model file stores them): a view."""
        return self._columns.T

    @classmethod
    def fit(cls, features: csr_matrix, labels: List[str], c: float, max_iter: int) -> "LinearModel":
        model = LogisticRegression(C=c, max_iter=max_iter, class_weight="balanced", random_state=7)
        model.fit(features, labels)
        weights, bias = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # sklearn keeps one row for two classes: make it two
            weights, bias = np.vstack([-weights, weights]) / 2, np.hstack([-bias, bias]) / 2
        return cls(weights, bias, [str(label) for label in model.classes_])

    def probabilities(self, blocks: Features) -> np.ndarray:
        """Softmax over the labels, one row per text (the multinomial model's own output).

        Each block meets its own rows of the weights, so the blocks are never joined into
        one matrix (which cost more than the product itself).
        """
        width = sum(block.shape[1] for block in blocks)
        if width != self._columns.shape[0]:  # e.g. a model trained with the embedding, run without
            raise ValueError(f"features have {width} columns, the model {self._columns.shape[0]}")
        scores = np.tile(self.bias, (blocks[0].shape[0], 1))
        start = 0
        for block in blocks:
            end = start + block.shape[1]
            scores += block @ self._columns[start:end]
            start = end
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def ranking(self, row: np.ndarray, length: int) -> List[tuple[str, float]]:
        return [(self.labels[i], float(row[i])) for i in np.argsort(-row)[:length]]


# "?", ";", "and"/"also"/"plus", ". " and a dash between spaces ("acct 7301004821 -- what's my rate")
_CLAUSE_BREAK = re.compile(r"\?+|;|\s+[-\u2013\u2014]{1,2}\s+(?:and\s+)?|,?\s+(?:and\s+also|and|also|plus)\s+|\.\s+",
                           re.IGNORECASE)


_CORRECTION = re.compile(r"(?:actually|no|nope|sorry|wait|scratch that|i mean|instead)\b", re.IGNORECASE)


_TAKEN_BACK = re.compile(r"(?:not|no|nope|sorry|actually|wait|scratch that|i mean|never ?mind)\b",
                         re.IGNORECASE)


def _corrected_clause(clause: str) -> str:
    """A correcting clause without what it takes back: "actually no sorry, not the payoff, I just
    want the regular balance" -> "I just want the regular balance" (unchanged if nothing is left
    or it corrects nothing)."""
    if not _CORRECTION.match(clause):
        return clause
    kept = [piece for piece in clause.split(",") if piece.strip() and not _TAKEN_BACK.match(piece.strip())]
    return ",".join(kept).strip() or clause


def _set_intent(message: Message, ranking: List[tuple[str, float]]) -> None:
    """The message's intent and ranking, from one clause's ranking."""
    ranked = [{"name": name, PREDICTED_CONFIDENCE_KEY: float(confidence)} for name, confidence in ranking]
    message.set(INTENT, ranked[0], add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranked, add_to_output=True)


OUT_OF_SCOPE = "out_of_scope"  # a clause of a request ("I am 57 years old") that asks nothing


def clause_spans(text: str) -> List[tuple[int, int]]:
    """Where the clauses of a message are ("balance? and when is it due" -> two spans); only
    clauses of two words or more count."""
    spans, start = [], 0
    for match in [*_CLAUSE_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        if len(piece.split()) >= 2:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        start = match.end() if match else len(text)
    return spans


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Predicts the intent, its ranking and, for a retrieval intent such as `faq`, the answer
    (`faq/phishing`) from the message text alone: no featurizer or response selector needed."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 50.0,  # inverse regularisation; 20-100 scored alike on the held-out split
            "word_ngrams": [1, 2],
            "char_ngrams": [2, 5],  # within word boundaries: typos and unseen word forms
            "char_min_df": 2,  # a character n-gram seen once is noise, not a feature
            "max_iter": 1000,
            "ranking_length": 10,
            # all-MiniLM-L6-v2's model.safetensors and vocab.txt (make fetches them); None: n-grams only
            "sentence_model": None,
            "sentence_weight": 2.0,  # the embedding's scale beside the unit-length n-gram vectors
            # digits without a letter ("114695", "$25", "12/3") answer a question: this intent,
            # for certain. Digits carry no meaning the n-grams or the embedding can learn (a
            # code was read as out of scope, so the form never got it). None: the model decides.
            "figures_intent": None,
            # A second question in the same message ("what's my balance and when is it due"):
            # each clause is classified too, and a clause asking one of these intents (or,
            # for a retrieval intent, another answer) is added as an `also_asked` entity.
            "second_question_intents": [],
            "second_question_confidence": 0.6,
            # a whole message less sure than this (or read as an answer) takes the intent of its
            # first clause that is clear
            "unclear_below": 0.5,
            # what a message may open with before its request ("Good afternoon. ... I'm locked out")
            "preamble_intents": [],
            # intents whose action is weighty (a fraud report opens a case and locks online
            # access): a whole message less sure than its bar, one of whose clauses clearly asks
            # something else ("...the password was wrong... can you help me get back in?"), is
            # taken as that request
            "cautious_intents": {},
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizers: List[TfidfVectorizer] = []
        self.encoder: Optional[SentenceEncoder] = None
        self.intents: Optional[LinearModel] = None
        self.answers: Dict[str, LinearModel] = {}  # retrieval intent -> which answer
        self.responses: Dict[str, List[Dict[str, Any]]] = {}  # utter_faq/x -> its responses

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ training

    def _new_vectorizers(self) -> List[TfidfVectorizer]:
        return [
            TfidfVectorizer(ngram_range=tuple(self.config["word_ngrams"]), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.config["char_ngrams"]),
                            sublinear_tf=True, min_df=self.config["char_min_df"]),
        ]

    def _fit(self, features: csr_matrix, labels: List[str]) -> LinearModel:
        return LinearModel.fit(features, labels, self.config["C"], self.config["max_iter"])

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        if len({m.get(INTENT) for m in examples}) < 2:
            logger.warning("TfidfIntentClassifier needs at least two intents; not trained.")
            return self._resource
        self.vectorizers = self._new_vectorizers()
        if self.config["sentence_model"]:
            self.encoder = SentenceEncoder.build(Path(self.config["sentence_model"]))
        texts = [m.get(TEXT) for m in examples]
        features = feature_matrix(self._features(texts, fit=True))
        self.intents = self._fit(features, [m.get(INTENT) for m in examples])
        for retrieval_intent in sorted(training_data.retrieval_intents):
            rows = [i for i, m in enumerate(examples) if m.get(INTENT) == retrieval_intent]
            keys = [examples[i].get_full_intent() for i in rows]
            if len(set(keys)) >= 2:
                self.answers[retrieval_intent] = self._fit(features[rows], keys)
            else:  # one answer: nothing to choose, it is always that one
                self.answers[retrieval_intent] = LinearModel(
                    np.zeros((1, features.shape[1])), np.zeros(1), keys[:1])
        utter_actions = {intent_response_key_to_template_key(label)
                         for model in self.answers.values() for label in model.labels}
        self.responses = {key: list(value) for key, value in training_data.responses.items()
                          if key in utter_actions}
        self.persist()
        self._check_figures_intent()
        return self._resource

    def _check_figures_intent(self) -> None:
        answer = self.config["figures_intent"]
        if answer and self.intents is not None and answer not in self.intents.labels:
            logger.warning("figures_intent '%s' is not an intent of the model: digits are left "
                           "to the model", answer)

    # ------------------------------------------------------------------ prediction

    def process(self, messages: List[Message]) -> List[Message]:
        if self.intents is None:
            return messages  # untrained (fewer than two intents): leave the messages alone
        length = self.config["ranking_length"]
        answer = self.config["figures_intent"]
        answer = answer if answer in self.intents.labels else None
        # figures alone ("114695", "$25") are an answer whatever the model says: not encoded
        # (a third of the conversation's messages: account number, ZIP, code, amount)
        worded = [m for m in messages if not (answer and is_figures_only(m.get(TEXT) or ""))]
        encoded = {id(m) for m in worded}
        for message in messages:
            if id(message) not in encoded:
                ranking = [{"name": answer, PREDICTED_CONFIDENCE_KEY: 1.0}]
                message.set(INTENT, ranking[0], add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        if worded:
            features = self._features([m.get(TEXT) or "" for m in worded])
            intent_rows = self.intents.probabilities(features)
            answer_rows = {name: model.probabilities(features) for name, model in self.answers.items()}
            for index, message in enumerate(worded):
                ranking = [{"name": name, PREDICTED_CONFIDENCE_KEY: confidence}
                           for name, confidence in self.intents.ranking(intent_rows[index], length)]
                message.set(INTENT, ranking[0], add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
                if self.answers:  # the common answers: only a worded question can be one
                    message.set(RESPONSE_SELECTOR_PROPERTY_NAME,
                                self._selection({n: rows[index] for n, rows in answer_rows.items()}),
                                add_to_output=True)
        self._add_second_questions(messages)
        return messages

    def _add_second_questions(self, messages: List[Message]) -> None:
        """Reads a message of several clauses clause by clause: a clause that asks something else
        than the whole message is marked (`also_asked`); a later clause that corrects the first
        ("actually no, just the balance") becomes the intent; and a message too mixed to have a
        clear intent of its own takes its first clause's, when that one is clear."""
        wanted = set(self.config["second_question_intents"])
        if not wanted or self.intents is None:
            return
        clear = self.config["second_question_confidence"]
        length = self.config["ranking_length"]
        for message in messages:
            text = message.get(TEXT) or ""
            spans = clause_spans(text)
            if len(spans) < 2:
                continue
            features = self._features([_corrected_clause(text[start:end]) if index else text[start:end]
                                       for index, (start, end) in enumerate(spans)])
            rows = self.intents.probabilities(features)
            answer_rows = {name: model.probabilities(features) for name, model in self.answers.items()}
            rankings = [self.intents.ranking(row, length) for row in rows]
            whole = message.get(INTENT) or {}
            answer_intent = self.config["figures_intent"]
            answer = whole.get("name") in {answer_intent, *self.config["preamble_intents"]}
            if answer or float(whole.get(PREDICTED_CONFIDENCE_KEY) or 0) < self.config["unclear_below"]:
                # "jchen here, ssn ends in 1177. whats my buyout": details, then the request; or a
                # message too mixed to be clear: its first clear clause (a request, after details)
                not_requests = {answer_intent, *self.config["preamble_intents"], OUT_OF_SCOPE}
                first = next((ranking for ranking in rankings  # a request, not details or chat
                              if ranking[0][1] >= clear and ranking[0][0] not in not_requests), None)
                if first is not None:
                    _set_intent(message, first)
            self._reconsider_cautious(message, rankings, wanted, clear)
            main = self._label(message.get(INTENT) or {}, message)
            for index, (start, end) in enumerate(spans):
                name, confidence = rankings[index][0]
                if name not in wanted or confidence < clear:
                    continue
                if index > 0 and _CORRECTION.match(text[start:end]) and name != main:
                    _set_intent(message, rankings[index])  # the later clause is the request
                    break
                if name in self.answers:
                    key, _ = self.answers[name].ranking(answer_rows[name][index], 1)[0]
                    name = key
                if name != main:
                    entity = {"entity": "also_asked", "value": name, "start": start, "end": end,
                              "confidence_entity": float(confidence), "extractor": self.__class__.__name__}
                    message.set("entities", [*(message.get("entities") or []), entity], add_to_output=True)
                    break

    def _reconsider_cautious(self, message: Message, rankings: List[List[tuple[str, float]]],
                             wanted: set, clear: float) -> None:
        """A weighty intent read without enough certainty gives way to a clause that clearly asks
        for something else."""
        whole = message.get(INTENT) or {}
        bar = (self.config["cautious_intents"] or {}).get(whole.get("name"))
        if bar is None or float(whole.get(PREDICTED_CONFIDENCE_KEY) or 0) >= bar:
            return
        other = next((ranking for ranking in rankings if ranking[0][0] in wanted
                      and ranking[0][0] != whole.get("name") and ranking[0][1] >= clear), None)
        if other is not None:
            _set_intent(message, other)

    def _label(self, intent: Dict[str, Any], message: Message) -> Optional[str]:
        """The message's intent, with its answer for a retrieval intent ("faq/support_hours")."""
        name = intent.get("name")
        selection = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
        if name in self.answers and name in selection:
            return selection[name][RESPONSE_SELECTOR_PREDICTION_KEY][INTENT_RESPONSE_KEY]
        return name

    def _features(self, texts: List[str], fit: bool = False) -> Features:
        """The n-gram vectors (fitted on `texts` when `fit`), then the sentence embedding."""
        blocks: Features = [v.fit_transform(texts) if fit else v.transform(texts)
                            for v in self.vectorizers]
        if self.encoder is not None:
            blocks.append(self.encoder.encode(texts) * self.config["sentence_weight"])
        return blocks

    def _selection(self, rows: Dict[str, np.ndarray]) -> Dict[str, Any]:
        """What Rasa's ResponseSelector puts on a message, which `utter_faq` reads."""
        selection: Dict[str, Any] = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS: sorted(self.answers)}
        for name, model in self.answers.items():
            ranking = model.ranking(rows[name], self.config["ranking_length"])
            key, confidence = ranking[0]
            utter_action = intent_response_key_to_template_key(key)
            selection[name] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(utter_action, []),
                    PREDICTED_CONFIDENCE_KEY: confidence,
                    INTENT_RESPONSE_KEY: key,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter_action,
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {PREDICTED_CONFIDENCE_KEY: c, INTENT_RESPONSE_KEY: k} for k, c in ranking],
            }
        return selection

    # ------------------------------------------------------------------ storage

    def persist(self) -> None:
        models = {"intents": self.intents, **{f"answers:{n}": m for n, m in self.answers.items()}}
        with self._model_storage.write_to(self._resource) as directory:
            arrays: Dict[str, np.ndarray] = {}
            for name, model in models.items():
                arrays[f"{name}:weights"], arrays[f"{name}:bias"] = model.weights, model.bias
            vocabularies = []
            for index, vectorizer in enumerate(self.vectorizers):
                arrays[f"idf:{index}"] = vectorizer.idf_
                vocabularies.append({term: int(col) for term, col in vectorizer.vocabulary_.items()})
            np.savez_compressed(directory / ARRAYS_FILE, **arrays)
            meta = {"labels": {name: model.labels for name, model in models.items()},
                    "vocabularies": vocabularies, "responses": self.responses}
            (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
            if self.encoder is not None:
                (directory / ENCODER_FILE).write_bytes(self.encoder.model)
                (directory / VOCABULARY_FILE).write_text("\n".join(self.encoder.vocabulary),
                                                         encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
                with np.load(directory / ARRAYS_FILE, allow_pickle=False) as stored:
                    arrays = {name: stored[name] for name in stored.files}
                if (directory / ENCODER_FILE).is_file():
                    component.encoder = SentenceEncoder(
                        (directory / ENCODER_FILE).read_bytes(),
                        (directory / VOCABULARY_FILE).read_text(encoding="utf-8").split("\n"))
        except (ValueError, FileNotFoundError):
            logger.debug("No trained TfidfIntentClassifier in resource '%s'.", resource.name)
            return component
        models = {name: LinearModel(arrays[f"{name}:weights"], arrays[f"{name}:bias"], labels)
                  for name, labels in meta["labels"].items()}
        component.intents = models.pop("intents")
        component.answers = {name.split(":", 1)[1]: model for name, model in models.items()}
        component.responses = meta["responses"]
        component._check_figures_intent()
        component.vectorizers = component._new_vectorizers()
        for index, (vectorizer, vocabulary) in enumerate(zip(component.vectorizers,
                                                             meta["vocabularies"])):
            vectorizer.vocabulary = vocabulary
            vectorizer._validate_vocabulary()  # what fit() would have set: vocabulary_
            vectorizer.idf_ = arrays[f"idf:{index}"]
        return component
