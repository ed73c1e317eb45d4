"""RequestFeaturizer: length-normalised sentence features of the whole message and of its request.

Why: Rasa's CountVectorsFeaturizer gives the LogisticRegressionClassifier raw, unnormalised counts
summed over every token, and that classifier's C is fixed at 1.0. In a long, story-first message the
story's tokens (other services, complaints, places) outweigh the few tokens of the actual request at
the end. This featurizer adds, as *sentence* features only (nothing for sequence models):
  * the request segment (see `textfeatures.request_segment`) as its own word + char_wb n-gram
    vocabulary, sublinear tf-idf, L2-normalised, multiplied by `request_weight`;
  * optionally the whole normalised text the same way, multiplied by `text_weight`.
The weights act as per-block regularisation strengths for the fixed-C classifier; they are chosen
by cross-validation on nlu/data (see /tmp/nlu-candidates/REPORT.md), never on the evaluation sets.
Vocabularies and idf are persisted as JSON through Rasa's ModelStorage.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Text, Type

import scipy.sparse as sp

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components.textfeatures import TextVectorizer, normalize, request_segment

logger = logging.getLogger(__name__)
_FILE = "request_featurizer.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class RequestFeaturizer(SparseFeaturizer, GraphComponent):
    """Adds L2-normalised n-gram sentence features of the request clause (and of the whole text)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **SparseFeaturizer.get_default_config(),
            "request_weight": 1.0,
            "text_weight": 0.0,
            "word_ngrams": [1, 2],
            "char_ngrams": [3, 5],
            "max_clauses": 2,
            "min_df": 1,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext,
                 vectorizers: Optional[Dict[str, TextVectorizer]] = None) -> None:
        super().__init__(execution_context.node_name, config)
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._vectorizers: Dict[str, TextVectorizer] = vectorizers or {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "RequestFeaturizer":
        return cls(config, model_storage, resource, execution_context)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass

    def _views(self, text: str) -> Dict[str, str]:
        normalised = normalize(text)
        return {"request": request_segment(normalised, self._config["max_clauses"]), "text": normalised}

    def _weights(self) -> Dict[str, float]:
        weights = {"request": float(self._config["request_weight"]), "text": float(self._config["text_weight"])}
        return {k: w for k, w in weights.items() if w > 0.0}

    def train(self, training_data: TrainingData) -> Resource:
        texts = [m.get(TEXT) for m in training_data.training_examples if m.get(TEXT)]
        views = [self._views(t) for t in texts]
        for name in self._weights():
            self._vectorizers[name] = TextVectorizer(
                self._config["word_ngrams"], self._config["char_ngrams"], self._config["min_df"]
            ).fit([v[name] for v in views])
        self.persist()
        return self._resource

    def _featurize(self, message: Message) -> None:
        text = message.get(TEXT)
        if not text or not self._vectorizers:
            return
        views = self._views(text)
        blocks = [self._vectorizers[name].transform([views[name]]) * weight
                  for name, weight in self._weights().items() if name in self._vectorizers]
        if blocks:
            self.add_features_to_message(None, sp.coo_matrix(sp.hstack(blocks)), TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._featurize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            payload = {name: v.to_dict() for name, v in self._vectorizers.items()}
            (directory / _FILE).write_text(json.dumps(payload), encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "RequestFeaturizer":
        try:
            with model_storage.read_from(resource) as directory:
                payload = json.loads((directory / _FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.warning("RequestFeaturizer: no persisted vocabulary found, features disabled.")
            return cls(config, model_storage, resource, execution_context)
        vectorizers = {name: TextVectorizer.from_dict(d) for name, d in payload.items()}
        return cls(config, model_storage, resource, execution_context, vectorizers)
