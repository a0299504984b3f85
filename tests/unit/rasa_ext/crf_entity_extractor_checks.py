"""Checks of `rasa_ext.crf_entity_extractor` that need Rasa: run by Rasa's Python.

`tests/unit/rasa_ext/test_crf_entity_extractor.py` runs this file with `.venv/rasa/bin/python` and
asserts on the JSON it prints on its last line.
"""
from __future__ import annotations

import gc
import json
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor
from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import (
    LexicalSyntacticFeaturizer)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from rasa_ext.crf_entity_extractor import StoredCRFEntityExtractor

EXAMPLES = ["pay [$200](amount) on [friday](date)", "i want to pay [$75.50](amount) [today](date)",
            "send [$1,250](amount) [next week](date)", "pay [300 bucks](amount) on [the 15th](date)",
            "can i pay [$40](amount) [tomorrow](date)", "put [$90](amount) toward it on [monday](date)",
            "pay [$18](amount)", "schedule it for [the 1st](date)", "what's my balance",
            "[$60](amount) on [12/3](date) please"]
TEXTS = ["pay $200 on monday", "i want to pay $40 tomorrow", "what's my balance", "send $18 next week"]
CONTEXT = ExecutionContext(GraphSchema({}), "test")
CONFIG = {**CRFEntityExtractor.get_default_config(), "L1_c": 0.001, "L2_c": 0.001}


def _message(annotated: str) -> Message:
    entities, text, offset = [], "", 0
    for match in re.finditer(r"\[([^\]]+)\]\((\w+)\)", annotated):
        text += annotated[offset:match.start()]
        entities.append({"start": len(text), "end": len(text) + len(match[1]),
                         "value": match[1], "entity": match[2]})
        text += match[1]
        offset = match.end()
    text += annotated[offset:]
    return Message.build(text=text, intent="inform", entities=entities)


def _entities(prepare: Any, extractor: CRFEntityExtractor) -> List[Any]:
    """The entities found in TEXTS, prepared as the pipeline does (tokens, then features:
    the CRF looks only at messages that have features)."""
    messages = prepare([Message.build(text=text) for text in TEXTS])
    return [[(e["entity"], e["value"]) for e in m.get("entities", [])]
            for m in extractor.process(messages)]


def main() -> None:
    trainings: List[int] = []
    stock_train_model = CRFEntityExtractor.train_model.__func__

    def counted(cls: Any, *args: Any) -> Any:
        trainings.append(1)
        return stock_train_model(cls, *args)

    CRFEntityExtractor.train_model = classmethod(counted)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalModelStorage(Path(tmp))
        words = WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(),
                                               storage, Resource("tokens"), CONTEXT)
        featurizer = LexicalSyntacticFeaturizer.create(
            LexicalSyntacticFeaturizer.get_default_config(), storage, Resource("lexical"),
            CONTEXT)
        data = TrainingData([_message(example) for example in EXAMPLES])
        words.process_training_data(data)
        featurizer.train(data)
        featurizer.process_training_data(data)

        def prepare(messages: List[Message]) -> List[Message]:
            return featurizer.process(words.process(messages))

        ours = StoredCRFEntityExtractor.create(CONFIG, storage, Resource("ours"), CONTEXT)
        ours.train(data)
        trained = _entities(prepare, ours)
        before_load = len(trainings)
        reloaded = StoredCRFEntityExtractor.load(CONFIG, storage, Resource("ours"), CONTEXT)
        gc.collect()  # the model's bytes must outlive the load: reuse freed memory hard
        clutter = [bytes([n % 251]) * 4096 for n in range(20_000)]
        loaded = _entities(prepare, reloaded)
        del clutter
        trainings_at_load = len(trainings) - before_load
        rasas_load_of_ours = _entities(prepare, CRFEntityExtractor.load(
            CONFIG, storage, Resource("ours"), CONTEXT))
        with storage.read_from(Resource("ours")) as directory:
            stored = sorted(p.name for p in directory.iterdir())
            magic = {p.name: p.read_bytes()[:4].decode("latin-1")
                     for p in directory.glob("*.crfsuite")}

        rasas = CRFEntityExtractor.create(CONFIG, storage, Resource("rasas"), CONTEXT)
        rasas.train(data)
        before_fallback = len(trainings)
        fallback = _entities(prepare, StoredCRFEntityExtractor.load(
            CONFIG, storage, Resource("rasas"), CONTEXT))
        trainings_at_fallback = len(trainings) - before_fallback
        missing = StoredCRFEntityExtractor.load(CONFIG, LocalModelStorage(Path(tmp) / "empty"),
                                                Resource("nothing"), CONTEXT)

    result: Dict[str, Any] = {
        "trained": trained, "loaded_same": loaded == trained,
        "rasas_load_same": rasas_load_of_ours == trained,
        "trainings_at_load": trainings_at_load, "stored": stored, "magic": magic,
        "fallback_same": fallback == trained, "trainings_at_fallback": trainings_at_fallback,
        "missing_untrained": missing.entity_taggers is None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
