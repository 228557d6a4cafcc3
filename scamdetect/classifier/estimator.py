"""The TF-IDF baseline as a scikit-learn estimator (fit / predict_proba / get_params), for training.
Fitting produces a :class:`~scamdetect.classifier.tfidf.TfidfModel`, which is what ships."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from ..signals import Analysis, RuleSet, analyze, load_rules
from .features import BIGRAM_BITS, Featurizer, train_tokenizer
from .tfidf import TfidfModel


class TfidfScamClassifier(ClassifierMixin, BaseEstimator):
    """Recruitment-scam classifier over normalised text and red-flag hits.

    ``X`` is a sequence of raw posts or of :class:`~scamdetect.signals.Analysis` objects (what the
    detector already computed, so nothing is normalised twice).
    """

    def __init__(self, C: float = 8.0, vocab_size: int = 16000, bigram_bits: int = BIGRAM_BITS,
                 rule_weight: float = 0.4, class_weight: str | None = "balanced", max_iter: int = 3000):
        self.C = C
        self.vocab_size = vocab_size
        self.bigram_bits = bigram_bits
        self.rule_weight = rule_weight
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _rules(self) -> RuleSet:
        if getattr(self, "rules_", None) is None:
            self.rules_ = RuleSet(load_rules())
        return self.rules_

    def analyses(self, X: Sequence[str | Analysis]) -> list[Analysis]:
        """Analyses of ``X`` (raw posts are analysed with the estimator's rules)."""
        rules = self._rules()
        return [x if isinstance(x, Analysis) else analyze(x, rules) for x in X]

    def fit(self, X: Sequence[str | Analysis], y: Sequence[int], sample_weight: Sequence[float] | None = None,
            rule_ids: Sequence[str] | None = None) -> "TfidfScamClassifier":
        """Train the tokenizer, IDF and linear model on ``X``; calibration starts as identity."""
        A = self.analyses(X)
        y_arr = np.asarray(y, dtype=np.int64)
        if set(np.unique(y_arr)) - {0, 1} or len(np.unique(y_arr)) < 2:
            raise ValueError("y must contain both labels 0 and 1 and nothing else")
        texts = [a.model_text for a in A]
        featurizer = Featurizer(train_tokenizer(texts, self.vocab_size), rule_ids or [r.id for r in self._rules().rules],
                                self.bigram_bits)
        counts = featurizer.text_counts(texts)
        df = np.bincount(counts.indices, minlength=featurizer.n_text)
        idf = (np.log((1 + len(A)) / (1 + df)) + 1.0).astype(np.float32)
        model = TfidfModel(featurizer, idf, np.zeros(featurizer.n_features, np.float32), 0.0, self.rule_weight)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                max_iter=self.max_iter, random_state=0)
        lr.fit(model.matrix(A, counts), y_arr, sample_weight=None if sample_weight is None else np.asarray(sample_weight))
        model.coef, model.intercept = lr.coef_.ravel().astype(np.float32), float(lr.intercept_[0])
        self.model_ = model
        self.classes_ = np.array([0, 1])
        return self

    def calibrate(self, scores: np.ndarray, y: Sequence[int]) -> "TfidfScamClassifier":
        """Platt scaling on held-out decision scores (out-of-fold or validation)."""
        check_is_fitted(self, "model_")
        lr = LogisticRegression(C=1e4)
        lr.fit(np.asarray(scores).reshape(-1, 1), np.asarray(y))
        self.model_.calibration = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        return self

    @property
    def threshold_(self) -> float:
        return self.model_.threshold

    @threshold_.setter
    def threshold_(self, value: float) -> None:
        self.model_.threshold = float(value)

    def transform(self, X: Sequence[str | Analysis]) -> sp.csr_matrix:
        """TF-IDF rows followed by weighted rule columns."""
        check_is_fitted(self, "model_")
        return self.model_.matrix(self.analyses(X))

    def decision_function(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """Uncalibrated margin of each post."""
        return self.model_.margin(self.transform(X))

    def predict_proba(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """Calibrated probabilities, columns [not scam, scam]."""
        p = self.model_.proba_of_matrix(self.transform(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """1 where the scam probability reaches the stored threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(np.int64)

    def params_for_manifest(self) -> dict[str, Any]:
        return {**self.get_params(), "rule_ids": self.model_.featurizer.rule_ids}
