"""The detector: a post in, a score, a label and the reasons out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, overload

from .classifier import ModelError, TfidfModel, load_classifier
from .config import models_dir
from .signals import Analysis, RuleSet, analyze_many

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "scamdetect-tfidf"
LABELS = ("not_scam", "scam")
# Posts are cut here before analysis: nothing real is longer, and it bounds the work per post.
MAX_CHARS = 20_000


@dataclass(slots=True)
class Prediction:
    """What the detector says about one post, with the evidence a reviewer needs."""

    score: float
    label: str
    threshold: float
    model_id: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    mitigating: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_scam(self) -> bool:
        return self.label == "scam"

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "label": self.label, "threshold": self.threshold, "model_id": self.model_id,
                "reasons": self.reasons, "mitigating": self.mitigating, "terms": self.terms,
                "entities": self.entities}

    def to_row(self) -> dict[str, Any]:
        """The fields scoring adds to a post's row (files, DataFrames, HTTP): ``to_dict()`` and
        ``red_flags``, the ids of the rules in ``reasons``."""
        d = self.to_dict()
        d["red_flags"] = [r["rule"] for r in self.reasons]
        return d


class Detector:
    """A loaded model with its rules. Thread-safe for prediction: nothing is mutated."""

    def __init__(self, classifier: TfidfModel, rules: RuleSet, manifest: dict[str, Any]):
        self.classifier = classifier
        self.rules = rules
        self.manifest = manifest
        self.threshold = float(manifest.get("threshold", classifier.threshold))
        self.model_id = str(manifest.get("model_id", "unknown"))

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        """Normalise, extract entities and run the rules on each post."""
        return analyze_many([_check_text(t)[:MAX_CHARS] for t in texts], self.rules)

    def predict_proba(self, texts: str | Sequence[str]) -> "np.ndarray | float":
        """Calibrated scam probability of each post (a float for a single string)."""
        if isinstance(texts, str):
            return float(self.predict_proba([texts])[0])
        return self.classifier.predict_proba(self.analyze(texts))

    @overload
    def predict(self, texts: str, top_terms: int = 5) -> Prediction: ...
    @overload
    def predict(self, texts: Sequence[str], top_terms: int = 5) -> list[Prediction]: ...

    def predict(self, texts: str | Sequence[str], top_terms: int = 5) -> Prediction | list[Prediction]:
        """Score, label, reasons (rule hits with spans), entities, and for flagged posts the words
        that weighed most, for each post."""
        if isinstance(texts, str):
            return self.predict([texts], top_terms)[0]
        return self.predict_analyses(self.analyze(texts), top_terms)

    def predict_analyses(self, analyses: Sequence[Analysis], top_terms: int = 5,
                         terms_for_all: bool = False) -> list[Prediction]:
        """Predictions for posts that were already analysed.

        ``terms`` (the words that pushed a post towards 'scam') are computed for flagged posts, or
        for every post with ``terms_for_all``.
        """
        if not analyses:
            return []
        clf = self.classifier
        Xt = clf.matrix(analyses)
        scores = clf.proba_of_matrix(Xt)
        terms: list[list[tuple[str, float]]] = [[] for _ in analyses]
        rows = [i for i, s in enumerate(scores) if terms_for_all or s >= self.threshold] if top_terms else []
        if rows:
            for i, tt in zip(rows, clf.top_terms(Xt[rows], top_terms)):
                terms[i] = tt
        out = []
        for an, s, tt in zip(analyses, scores, terms):
            hits = sorted(an.hits, key=lambda h: -abs(h.weight))
            out.append(Prediction(
                score=round(float(s), 6), label=LABELS[int(s >= self.threshold)], threshold=self.threshold,
                model_id=self.model_id,
                reasons=[h.to_dict() for h in hits if h.weight > 0],
                mitigating=[h.to_dict() for h in hits if h.weight < 0],
                terms=[{"term": t, "weight": w} for t, w in tt],
                entities=[e.to_dict() for e in an.entities],
            ))
        return out

    def explain(self, text: str, top_terms: int = 8) -> str:
        """A human-readable explanation of one post's score."""
        p = self.predict_analyses(self.analyze([text]), top_terms, terms_for_all=True)[0]
        verdict = "FLAGGED as a likely recruitment scam" if p.is_scam else "not flagged"
        lines = [f"{verdict}: score {p.score:.3f} (threshold {p.threshold:.3f}, model {p.model_id})"]
        if p.reasons:
            lines.append("Red flags / tanda bahaya:")
            for r in p.reasons:
                spans = ", ".join(repr(s["text"]) for s in r["spans"][:3])
                lines.append(f"  + {r['id']}\n    {r['en']}\n    matched: {spans}")
        if p.mitigating:
            lines.append("Signs of a lawful post or a warning / tanda unggahan resmi atau peringatan:")
            for r in p.mitigating:
                spans = ", ".join(repr(s["text"]) for s in r["spans"][:3])
                lines.append(f"  - {r['id']}\n    {r['en']}\n    matched: {spans}")
        if p.terms:
            lines.append("Words that weighed most / kata yang paling berpengaruh: "
                         + ", ".join(f"{t['term']} ({t['weight']:+.3f})" for t in p.terms))
        if p.entities:
            lines.append("Extracted / diekstrak:")
            for e in p.entities:
                lines.append(f"  {e['kind']}: {e['value']}  <- {e['text']!r}")
        return "\n".join(lines)


def _check_text(t: Any) -> str:
    if not isinstance(t, str):
        raise TypeError(f"each post must be a string, got {type(t).__name__}")
    return t


def default_model_path() -> Path:
    """The model shipped in models/."""
    return models_dir() / DEFAULT_MODEL


def load(path: str | Path | None = None) -> Detector:
    """Load a model directory (None = the default model shipped in models/), verifying its files."""
    p = Path(path) if path is not None else default_model_path()
    if path is None and not p.exists():
        raise ModelError(f"default model not found at {p}; pass a model path or set SCAMDETECT_MODELS")
    clf, rules, manifest = load_classifier(p)
    return Detector(clf, rules, manifest)
