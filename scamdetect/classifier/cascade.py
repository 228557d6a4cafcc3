"""Cascade: the TF-IDF baseline scores every post; only posts in its uncertain band (chosen on
validation) go to the transformer. Same interface as ``TfidfModel``; reasons and terms come from
the baseline, the routed posts' scores from the transformer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..signals import Analysis
from .artifact import MANIFEST, sha256


class _CascadeRows:
    """Baseline feature rows and model texts, indexable by a list of rows."""

    def __init__(self, Xt: Any, texts: list[str]):
        self.Xt, self.texts = Xt, texts

    def __getitem__(self, rows: Sequence[int]) -> "_CascadeRows":
        return _CascadeRows(self.Xt[rows], [self.texts[i] for i in rows])

    def __len__(self) -> int:
        return len(self.texts)


def rescale(p_t: np.ndarray, t_t: float, t_b: float) -> np.ndarray:
    """Map transformer probabilities so that its threshold lands on the baseline's (monotone,
    piecewise linear): one threshold then decides every post."""
    p_t = np.asarray(p_t, dtype=np.float64)
    lo = p_t / max(t_t, 1e-9) * t_b
    hi = t_b + (p_t - t_t) / max(1 - t_t, 1e-9) * (1 - t_b)
    return np.where(p_t < t_t, lo, hi)


def route_mask(p_b: np.ndarray, low: float, high: float) -> np.ndarray:
    """Posts the baseline is unsure about: low <= score < high."""
    return (p_b >= low) & (p_b < high)


@dataclass
class CascadeModel:
    """Baseline first, transformer on the uncertain band."""

    baseline: Any
    transformer: Any
    low: float
    high: float
    threshold: float
    routed: int = 0  # posts sent to the transformer so far
    scored: int = 0

    def matrix(self, A: Sequence[Analysis]) -> _CascadeRows:
        return _CascadeRows(self.baseline.matrix(A), [a.model_text for a in A])

    def combine(self, p_b: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        p = np.array(p_b, dtype=np.float64)
        route = np.flatnonzero(route_mask(p, self.low, self.high))
        self.scored += len(p)
        self.routed += len(route)
        if len(route):
            p_t = self.transformer.proba_texts([texts[i] for i in route])
            p[route] = rescale(p_t, self.transformer.threshold, self.threshold)
        return p

    def proba_of_matrix(self, X: _CascadeRows) -> np.ndarray:
        return self.combine(self.baseline.proba_of_matrix(X.Xt), X.texts)

    def predict_proba(self, A: Sequence[Analysis]) -> np.ndarray:
        return self.proba_of_matrix(self.matrix(A))

    def top_terms(self, X: _CascadeRows, k: int = 5) -> list[list[tuple[str, float]]]:
        return self.baseline.top_terms(X.Xt, k)

    @property
    def routed_share(self) -> float:
        return self.routed / max(1, self.scored)


def choose_band(y: np.ndarray, p_b: np.ndarray, p_t_of: Any, t_b: float, t_t: float,
                max_share: float = 0.10, grid: int = 15,
                share_of: np.ndarray | None = None) -> tuple[float, float, dict[str, float]]:
    """The band [low, high) around the baseline threshold with the best validation F1 among those
    routing at most ``max_share`` of posts (of the posts in the boolean mask ``share_of``, default
    all). ``p_t_of(indices)`` gives transformer scores."""
    share_of = np.ones(len(p_b), dtype=bool) if share_of is None else np.asarray(share_of, dtype=bool)
    from ..training.evaluate import binary_metrics  # scikit-learn: only when building a cascade

    # candidate edges among the posts nearest the threshold (twice the allowed share), so the
    # transformer only scores those
    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p))

    k = max(1, int(np.ceil(2 * max_share * share_of.sum())))
    sp = p_b[share_of]
    near = sp[np.argsort(np.abs(logit(sp) - logit(np.array(t_b))), kind="stable")[:k]]
    q = np.linspace(0.0, 1.0, grid)
    lows = np.unique(np.r_[np.quantile(near[near < t_b], q) if (near < t_b).any() else [], t_b])
    highs = np.unique(np.r_[np.quantile(near[near >= t_b], q) if (near >= t_b).any() else [], t_b])
    widest = route_mask(p_b, float(min(lows)), float(max(highs)) + 1e-12)
    idx = np.flatnonzero(widest)
    p_t = np.full(len(p_b), np.nan)
    if len(idx):
        p_t[idx] = rescale(p_t_of(idx), t_t, t_b)
    best = (t_b, t_b, {"f1": binary_metrics(y, p_b, t_b)["f1"], "share": 0.0})
    for lo in lows:
        for hi in highs:
            hi_x = float(hi) + 1e-12
            r = route_mask(p_b, float(lo), hi_x)
            share = float(r[share_of].mean())
            if share > max_share:
                continue
            p = np.where(r, p_t, p_b)
            f1 = binary_metrics(y, p, t_b)["f1"]
            if f1 > best[2]["f1"] + 1e-9 or (abs(f1 - best[2]["f1"]) <= 1e-9 and share < best[2]["share"]):
                best = (float(lo), hi_x, {"f1": f1, "share": share})
    return best


def save_cascade(path: str | Path, baseline_dir: str | Path, transformer_dir: str | Path, low: float, high: float,
                 threshold: float, info: dict[str, Any]) -> dict[str, Any]:
    """A cascade directory: its manifest refers to both models (relative paths, manifest hashes)."""
    from .artifact import write_artifact

    out = Path(path)
    parts = {}
    for role, d in (("baseline", Path(baseline_dir)), ("transformer", Path(transformer_dir))):
        parts[role] = {"path": str(Path("..") / d.name) if d.parent.resolve() == out.parent.resolve() else str(d),
                       "manifest_sha256": sha256((d / MANIFEST).read_bytes())}
    rules = (Path(baseline_dir) / "rules.yaml").read_bytes()
    return write_artifact(out, "cascade", {"rules.yaml": rules},
                          {**info, "threshold": threshold, "params": {**parts, "low": low, "high": high}})


def load_cascade(path: str | Path, manifest: dict[str, Any]) -> CascadeModel:
    """Load both models the cascade names, checking that they are the ones it was built with."""
    from . import load_classifier

    models = {}
    for role in ("baseline", "transformer"):
        ref = manifest["params"][role]
        d = (Path(path) / ref["path"]) if not Path(ref["path"]).is_absolute() else Path(ref["path"])
        if sha256((d / MANIFEST).read_bytes()) != ref["manifest_sha256"]:
            raise ValueError(f"the {role} model at {d} is not the one this cascade was built with")
        models[role] = load_classifier(d)[0]
    p = manifest["params"]
    return CascadeModel(models["baseline"], models["transformer"], float(p["low"]), float(p["high"]),
                        float(manifest["threshold"]))


def describe(m: CascadeModel) -> str:
    return json.dumps({"low": m.low, "high": m.high, "threshold": m.threshold, "routed_share": m.routed_share})
