"""The TF-IDF baseline as a scikit-learn estimator: sub-word TF-IDF + rule hits -> logistic regression,
with Platt calibration and a decision threshold stored alongside the weights."""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils.validation import check_is_fitted
from tokenizers import Tokenizer

from ..signals import Analysis, RuleSet, analyze, load_rules
from .features import BIGRAM_BITS, Featurizer, train_tokenizer


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


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

    # -- analysis -------------------------------------------------------------------------------
    def _rules(self) -> RuleSet:
        if getattr(self, "rules_", None) is None:
            self.rules_ = RuleSet(load_rules())
        return self.rules_

    def analyses(self, X: Sequence[str | Analysis]) -> list[Analysis]:
        """Analyses of ``X`` (raw posts are analysed with the estimator's rules)."""
        rules = self._rules()
        return [x if isinstance(x, Analysis) else analyze(x, rules) for x in X]

    # -- features -------------------------------------------------------------------------------
    def transform(self, X: Sequence[str | Analysis]) -> sp.csr_matrix:
        """TF-IDF rows (sublinear tf, l2-normalised) followed by weighted rule columns."""
        check_is_fitted(self, "coef_")
        A = self.analyses(X)
        return self._matrix(A, self.featurizer_.text_counts(self.featurizer_.token_ids([a.model_text for a in A])))

    def _matrix(self, A: Sequence[Analysis], counts: sp.csr_matrix) -> sp.csr_matrix:
        tf = counts.copy()
        tf.data = (1.0 + np.log(tf.data)) * self.idf_[tf.indices]
        tf = l2_normalize(tf, copy=False)
        rules = self.featurizer_.rule_matrix([[h.rule_id for h in a.hits] for a in A]) * self.rule_weight
        return sp.hstack([tf, rules], format="csr", dtype=np.float32)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[str | Analysis], y: Sequence[int], sample_weight: Sequence[float] | None = None,
            rule_ids: Sequence[str] | None = None) -> "TfidfScamClassifier":
        """Train the tokenizer, IDF and linear model on ``X``; calibration starts as identity."""
        A = self.analyses(X)
        y_arr = np.asarray(y, dtype=np.int64)
        if set(np.unique(y_arr)) - {0, 1} or len(np.unique(y_arr)) < 2:
            raise ValueError("y must contain both labels 0 and 1 and nothing else")
        texts = [a.model_text for a in A]
        self.tokenizer_ = train_tokenizer(texts, self.vocab_size)
        ids = rule_ids or [r.id for r in self._rules().rules]
        self.featurizer_ = Featurizer(self.tokenizer_, ids, self.bigram_bits)
        counts = self.featurizer_.text_counts(self.featurizer_.token_ids(texts))
        df = np.bincount(counts.indices, minlength=self.featurizer_.n_text)
        self.idf_ = (np.log((1 + len(A)) / (1 + df)) + 1.0).astype(np.float32)
        Xt = self._matrix(A, counts)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                max_iter=self.max_iter, random_state=0)
        lr.fit(Xt, y_arr, sample_weight=None if sample_weight is None else np.asarray(sample_weight))
        self.coef_ = lr.coef_.ravel().astype(np.float32)
        self.intercept_ = float(lr.intercept_[0])
        self.classes_ = np.array([0, 1])
        self.calibration_ = (1.0, 0.0)
        self.threshold_ = 0.5
        return self

    def calibrate(self, scores: np.ndarray, y: Sequence[int]) -> "TfidfScamClassifier":
        """Platt scaling on held-out decision scores (out-of-fold or validation)."""
        lr = LogisticRegression(C=1e4)
        lr.fit(np.asarray(scores).reshape(-1, 1), np.asarray(y))
        self.calibration_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        return self

    # -- prediction -----------------------------------------------------------------------------
    def decision_function(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """Uncalibrated margin of each post."""
        return self.transform(X) @ self.coef_ + self.intercept_

    def proba_of_matrix(self, Xt: sp.csr_matrix) -> np.ndarray:
        """Calibrated scam probability of rows already built by ``transform``."""
        a, b = self.calibration_
        return _sigmoid(a * (Xt @ self.coef_ + self.intercept_) + b)

    def predict_proba(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """Calibrated probabilities, columns [not scam, scam]."""
        p = self.proba_of_matrix(self.transform(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Sequence[str | Analysis]) -> np.ndarray:
        """1 where the scam probability reaches the stored threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(np.int64)

    def top_terms(self, Xt: sp.csr_matrix, k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` sub-word terms that pushed each row most towards 'scam'."""
        out = []
        for i in range(Xt.shape[0]):
            lo, hi = Xt.indptr[i], Xt.indptr[i + 1]
            cols = Xt.indices[lo:hi]
            keep = cols < self.featurizer_.vocab_size
            cols = cols[keep]
            contrib = Xt.data[lo:hi][keep] * self.coef_[cols]
            order = np.argsort(-contrib)[:k]
            out.append([(self.featurizer_.term(int(cols[j])), round(float(contrib[j]), 4))
                        for j in order if contrib[j] > 0])
        return out

    # -- persistence (arrays only: loading runs no code) ------------------------------------------
    def to_files(self) -> dict[str, bytes]:
        """The fitted state as files: weights (npz, no pickle) and the tokenizer (JSON)."""
        check_is_fitted(self, "coef_")
        buf = io.BytesIO()
        np.savez_compressed(buf, idf=self.idf_, coef=self.coef_,
                            scalars=np.array([self.intercept_, *self.calibration_, self.threshold_]))
        return {"weights.npz": buf.getvalue(), "tokenizer.json": self.tokenizer_.to_str().encode("utf-8")}

    def params_for_manifest(self) -> dict[str, Any]:
        return {**self.get_params(), "rule_ids": self.featurizer_.rule_ids}

    @classmethod
    def from_files(cls, files: dict[str, bytes], params: dict[str, Any], rules: RuleSet) -> "TfidfScamClassifier":
        """Rebuild a fitted estimator from ``to_files`` output and manifest parameters."""
        params = dict(params)
        rule_ids = params.pop("rule_ids")
        est = cls(**params)
        with np.load(io.BytesIO(files["weights.npz"]), allow_pickle=False) as z:
            est.idf_, est.coef_ = z["idf"], z["coef"]
            intercept, a, b, threshold = (float(v) for v in z["scalars"])
        est.tokenizer_ = Tokenizer.from_str(files["tokenizer.json"].decode("utf-8"))
        est.featurizer_ = Featurizer(est.tokenizer_, rule_ids, est.bigram_bits)
        if est.coef_.shape != (est.featurizer_.n_features,) or est.idf_.shape != (est.featurizer_.n_text,):
            raise ValueError("weights do not fit the tokenizer and rules of this model")
        est.intercept_, est.calibration_, est.threshold_ = intercept, (a, b), threshold
        est.classes_ = np.array([0, 1])
        est.rules_ = rules
        return est
