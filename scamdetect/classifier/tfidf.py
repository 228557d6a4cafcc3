"""The TF-IDF model at inference time: sub-word TF-IDF + rule hits -> a linear score -> Platt
calibration. Arrays and a tokenizer only: loading it needs neither scikit-learn nor pickle."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from tokenizers import Tokenizer

from ..signals import Analysis
from .features import Featurizer


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def _l2_rows(m: sp.csr_matrix) -> None:
    """Scale each row of ``m`` to unit length, in place (empty rows stay empty)."""
    lengths = np.diff(m.indptr)
    sq = np.bincount(np.repeat(np.arange(m.shape[0]), lengths), weights=m.data.astype(np.float64) ** 2,
                     minlength=m.shape[0])
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, lengths).astype(m.data.dtype)


@dataclass
class TfidfModel:
    """A fitted TF-IDF scorer: what a model directory holds, ready to score analysed posts."""

    featurizer: Featurizer
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    rule_weight: float
    calibration: tuple[float, float] = (1.0, 0.0)
    threshold: float = 0.5

    def matrix(self, A: Sequence[Analysis], counts: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """TF-IDF rows (sublinear tf, l2-normalised) followed by weighted rule columns."""
        if counts is None:
            counts = self.featurizer.text_counts([a.model_text for a in A])
        tf = counts.copy()
        tf.data = (1.0 + np.log(tf.data)) * self.idf[tf.indices]
        _l2_rows(tf)
        rules = self.featurizer.rule_matrix([[h.rule_id for h in a.hits] for a in A]) * self.rule_weight
        return sp.hstack([tf, rules], format="csr", dtype=np.float32)

    def margin(self, Xt: sp.csr_matrix) -> np.ndarray:
        """Uncalibrated linear score of each row."""
        return Xt @ self.coef + self.intercept

    def proba_of_matrix(self, Xt: sp.csr_matrix) -> np.ndarray:
        """Calibrated scam probability of each row."""
        a, b = self.calibration
        return _sigmoid(a * self.margin(Xt) + b)

    def predict_proba(self, A: Sequence[Analysis]) -> np.ndarray:
        """Calibrated scam probability of each analysed post."""
        return self.proba_of_matrix(self.matrix(A))

    def top_terms(self, Xt: sp.csr_matrix, k: int = 5) -> list[list[tuple[str, float]]]:
        """The ``k`` sub-word terms that pushed each row most towards 'scam'."""
        # one sort over the whole batch (by row, then by contribution) instead of one per row
        rows = np.repeat(np.arange(Xt.shape[0]), np.diff(Xt.indptr))
        contrib = Xt.data * self.coef[Xt.indices]
        keep = (Xt.indices < self.featurizer.vocab_size) & (contrib > 0)
        rows, cols, contrib = rows[keep], Xt.indices[keep], contrib[keep]
        order = np.lexsort((-contrib, rows))
        rows, cols, contrib = rows[order], cols[order], contrib[order]
        first = np.searchsorted(rows, rows)  # where each row's run starts
        top = np.arange(len(rows)) - first < k
        out: list[list[tuple[str, float]]] = [[] for _ in range(Xt.shape[0])]
        term = self.featurizer.term
        for r, c, w in zip(rows[top].tolist(), cols[top].tolist(), contrib[top].tolist()):
            out[r].append((term(c), round(w, 4)))
        return out

    def to_files(self) -> dict[str, bytes]:
        """Weights (npz, no pickle) and the tokenizer (JSON)."""
        buf = io.BytesIO()
        np.savez_compressed(buf, idf=self.idf, coef=self.coef,
                            scalars=np.array([self.intercept, *self.calibration, self.threshold]))
        return {"weights.npz": buf.getvalue(), "tokenizer.json": self.featurizer.tokenizer.to_str().encode("utf-8")}

    @classmethod
    def from_files(cls, files: dict[str, bytes], params: dict[str, Any]) -> "TfidfModel":
        """Rebuild a model from ``to_files`` output and the manifest's parameters."""
        with np.load(io.BytesIO(files["weights.npz"]), allow_pickle=False) as z:
            idf, coef = z["idf"], z["coef"]
            intercept, a, b, threshold = (float(v) for v in z["scalars"])
        tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode("utf-8"))
        featurizer = Featurizer(tokenizer, params["rule_ids"], int(params["bigram_bits"]))
        if coef.shape != (featurizer.n_features,) or idf.shape != (featurizer.n_text,):
            raise ValueError("weights do not fit the tokenizer and rules of this model")
        return cls(featurizer, idf, coef, intercept, float(params["rule_weight"]), (a, b), threshold)
