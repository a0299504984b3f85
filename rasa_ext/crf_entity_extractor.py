"""Rasa's CRF entity extractor, stored trained instead of retrained at every load.

Rasa 3.6's CRFEntityExtractor stores its training data, not the trained CRFs, and trains them
again each time a model is loaded: about 30 s of one core here before a Rasa process can answer,
repeated by every Sanic worker and every replica. Worse, a second worker still training competes
for the CPU with the first one, which already takes traffic. This subclass trains exactly as
Rasa does (same features, same crfsuite settings) and also stores each trained CRF's model file,
crfsuite's own binary format (no pickle); loading opens those files in memory. A model stored
without them (trained by Rasa's own class) is loaded Rasa's way.
"""
from __future__ import annotations

import logging
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Text

import pycrfsuite
import sklearn_crfsuite
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor, CRFToken
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.io import read_json_file

logger = logging.getLogger(__name__)

ORDER_FILE = "crf_order.json"  # Rasa's own: which CRFs, in which order


def model_file(tag_name: Text) -> Text:
    return f"crf_{tag_name}.crfsuite"


def crf_from_bytes(data: bytes) -> sklearn_crfsuite.CRF:
    """A CRF ready to tag, from the bytes of a trained crfsuite model file."""
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(data)  # reads the model where it lies, without copying it:
    crf = sklearn_crfsuite.CRF()
    crf.model_bytes = data  # the bytes must live as long as the CRF and its tagger
    crf._tagger = tagger  # what fit() leaves behind; `tagger_` and predictions use it
    return crf


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class StoredCRFEntityExtractor(CRFEntityExtractor):
    """`rasa_ext.crf_entity_extractor.StoredCRFEntityExtractor` in config.yml, configured as
    Rasa's CRFEntityExtractor."""

    def persist(self, dataset: List[List[CRFToken]]) -> None:
        super().persist(dataset)  # Rasa's files too: a plain CRFEntityExtractor can load it
        with self._model_storage.write_to(self._resource) as directory:
            for tag_name, crf in (self.entity_taggers or {}).items():
                # fit() trains into this file and keeps it while the CRF lives
                shutil.copyfile(crf.modelfile.name, directory / model_file(tag_name))

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> CRFEntityExtractor:
        try:
            with model_storage.read_from(resource) as directory:
                crf_order = read_json_file(directory / ORDER_FILE)
                files = [Path(directory) / model_file(tag_name) for tag_name in crf_order]
                taggers = OrderedDict((tag_name, crf_from_bytes(path.read_bytes()))
                                      for tag_name, path in zip(crf_order, files))
        except (ValueError, OSError, RasaException):
            logger.debug("No stored CRF models in '%s': loading Rasa's way.", resource.name)
            return super().load(config, model_storage, resource, execution_context, **kwargs)
        extractor = cls(config, model_storage, resource, taggers)
        extractor.crf_order = crf_order
        return extractor
