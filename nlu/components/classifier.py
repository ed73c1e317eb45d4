"""TfidfIntentClassifier: logistic regression over its own length-normalised n-gram features.

Why: Rasa's LogisticRegressionClassifier has C fixed at 1.0 and is fed raw count sentence features,
so long, story-first messages are dominated by their story and the regularisation cannot be tuned.
This classifier builds its features directly from the message text (identifiers replaced by
placeholders, see `textfeatures.normalize`):
  * sublinear tf-idf, L2-normalised word 1-2-grams + char_wb n-grams of the whole text;
  * the same for the request segment (clause with the last request cue up to the end), in a separate
    vocabulary, multiplied by `request_weight`;
and fits a multinomial, class-balanced LogisticRegression whose C is configurable (chosen by
cross-validation on nlu/data). Multinomial LR probabilities give a full `intent_ranking` whose
confidences are comparable to the previous model, so the FallbackClassifier thresholds keep their
meaning. Persisted as JSON (vocabularies, idf) + NPZ (coefficients) in Rasa's ModelStorage: no
pickles, survives `rasa train` -> .tar.gz -> `rasa run`.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Optional, Sequence, Text, Type

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components.textfeatures import TextVectorizer, normalize, request_segment

logger = logging.getLogger(__name__)
_VOCAB = "tfidf_vectorizers.json"
_COEF = "tfidf_logreg.npz"


class TextIntentModel:
    """The trainable part, independent of Rasa (also used by the cross-validation script)."""

    def __init__(self, config: Dict[str, Any]) -> None:
        self.config = config
        self.vectorizers: Dict[str, TextVectorizer] = {}
        self.classes: List[str] = []
        self.coef: Optional[np.ndarray] = None
        self.intercept: Optional[np.ndarray] = None

    def _views(self, texts: Sequence[str]) -> Dict[str, List[str]]:
        normalised = [normalize(t) for t in texts]
        views = {"text": normalised}
        if self.config["request_weight"] > 0:
            views["request"] = [request_segment(t, self.config["max_clauses"]) for t in normalised]
        return views

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        views = self._views(texts)
        blocks = [self.vectorizers["text"].transform(views["text"])]
        if "request" in views:
            blocks.append(self.vectorizers["request"].transform(views["request"]) * self.config["request_weight"])
        return sp.hstack(blocks).tocsr()

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TextIntentModel":
        views = self._views(texts)
        for name, view in views.items():
            self.vectorizers[name] = TextVectorizer(
                self.config["word_ngrams"], self.config["char_ngrams"], self.config["min_df"]
            ).fit(view)
        clf = LogisticRegression(C=self.config["C"], class_weight="balanced", max_iter=self.config["max_iter"],
                                 solver="lbfgs", random_state=self.config["random_state"])
        clf.fit(self.features(texts), list(labels))
        self.classes = [str(c) for c in clf.classes_]
        self.coef, self.intercept = clf.coef_, clf.intercept_
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        scores = self.features(texts) @ self.coef.T + self.intercept
        scores = np.asarray(scores) / float(self.config.get("temperature", 1.0))
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(IntentClassifier, GraphComponent):
    """Intent classifier: tf-idf (whole text + request segment) -> multinomial logistic regression."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return []

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 10.0,
            "request_weight": 0.5,
            "word_ngrams": [1, 2],
            "char_ngrams": [2, 5],
            "max_clauses": 2,
            "min_df": 1,
            "temperature": 1.0,
            "max_iter": 3000,
            "random_state": 42,
            "ranking_length": 10,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[TextIntentModel] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("TfidfIntentClassifier: no intent examples, not trained.")
            return self._resource
        self.model = TextIntentModel(self.config).fit([e.get(TEXT) for e in examples],
                                                      [e.get(INTENT) for e in examples])
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        if self.model is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        probabilities = self.model.predict_proba(texts)
        for message, row in zip(messages, probabilities):
            order = np.argsort(-row)
            ranking = [{"name": self.model.classes[i], "confidence": float(row[i])} for i in order]
            message.set("intent", ranking[0], add_to_output=True)
            length = self.config["ranking_length"]
            message.set("intent_ranking", ranking[:length] if length > 0 else ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        if self.model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            payload = {"classes": self.model.classes,
                       "vectorizers": {k: v.to_dict() for k, v in self.model.vectorizers.items()}}
            (directory / _VOCAB).write_text(json.dumps(payload), encoding="utf-8")
            np.savez(directory / _COEF, coef=self.model.coef, intercept=self.model.intercept)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                payload = json.loads((directory / _VOCAB).read_text(encoding="utf-8"))
                arrays = np.load(directory / _COEF, allow_pickle=False)
                coef, intercept = arrays["coef"], arrays["intercept"]
        except (ValueError, FileNotFoundError):
            logger.warning("TfidfIntentClassifier: no trained model found in storage.")
            return cls(config, model_storage, resource)
        component = cls(config, model_storage, resource)
        model = TextIntentModel(component.config)
        model.classes = payload["classes"]
        model.vectorizers = {k: TextVectorizer.from_dict(v) for k, v in payload["vectorizers"].items()}
        model.coef, model.intercept = coef, intercept
        component.model = model
        return component

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
