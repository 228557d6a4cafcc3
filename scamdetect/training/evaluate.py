"""Evaluation: scam-class metrics, error rates per category / platform / language / source, plots, and
the check of a model on any labelled file (``evaluate_labelled``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve, precision_recall_fscore_support

if TYPE_CHECKING:
    from ..detector import Detector


def choose_threshold(y: Sequence[int], p: Sequence[float], precision_target: float) -> float:
    """The lowest threshold whose flagged set reaches ``precision_target`` (highest recall at it)."""
    prec, rec, thr = precision_recall_curve(np.asarray(y), np.asarray(p))
    ok = np.where(prec[:-1] >= precision_target)[0]
    if len(ok) == 0:
        return float(np.max(p))
    best = ok[np.argmax(rec[:-1][ok])]
    return float(thr[best])


def binary_metrics(y: Sequence[int], p: Sequence[float], threshold: float) -> dict[str, Any]:
    """Precision, recall, F1 of the scam class at ``threshold``, PR-AUC and the confusion matrix."""
    y_arr, p_arr = np.asarray(y), np.asarray(p)
    pred = (p_arr >= threshold).astype(int)
    prec, rec, f1, _ = precision_recall_fscore_support(y_arr, pred, average="binary", zero_division=0)
    tn, fp, fn, tp = confusion_matrix(y_arr, pred, labels=[0, 1]).ravel()
    out = {"n": int(len(y_arr)), "positives": int(y_arr.sum()), "precision": float(prec), "recall": float(rec),
           "f1": float(f1), "fpr": float(fp / max(1, fp + tn)), "tp": int(tp), "fp": int(fp), "fn": int(fn),
           "tn": int(tn)}
    if 0 < y_arr.sum() < len(y_arr):
        out["pr_auc"] = float(average_precision_score(y_arr, p_arr))
    return out


def error_rates(rows: Sequence[Mapping], p: Sequence[float], threshold: float, key: str) -> dict[str, dict[str, Any]]:
    """Per value of ``key``: how many posts, and the share the model gets wrong at ``threshold``."""
    groups: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r, s in zip(rows, p):
        groups[str(r[key])].append((int(r["label"]), float(s)))
    out = {}
    for k, items in sorted(groups.items()):
        y = np.array([a for a, _ in items])
        pred = np.array([b >= threshold for _, b in items])
        wrong = int((pred != y.astype(bool)).sum())
        entry: dict[str, Any] = {"n": len(items), "errors": wrong, "error_rate": wrong / len(items)}
        if y.all():
            entry["recall"] = float(pred.mean())
        elif not y.any():
            entry["fpr"] = float(pred.mean())
        out[k] = entry
    return out


def read_labelled(path: str | Path, text_field: str = "text", label_field: str = "label") -> list[dict[str, Any]]:
    """The posts of a labelled JSON Lines file; a line without a text string or a 0 / 1 label is
    refused with its line number (ValueError)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ok = isinstance(rec[text_field], str) and rec[label_field] in (0, 1)
            except KeyError as exc:
                raise ValueError(f"{path}:{n}: no {exc.args[0]!r} field (use --text-field / --label-field)") from None
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a labelled post ({exc})") from None
            if not ok:
                raise ValueError(f"{path}:{n}: {text_field!r} must be a string and {label_field!r} 0 or 1")
            rows.append(rec)
    if not rows:
        raise ValueError(f"{path} holds no posts")
    return rows


def evaluate_labelled(det: Detector, rows: Sequence[Mapping], text_field: str = "text", label_field: str = "label",
                      by: str | None = None) -> dict[str, Any]:
    """Score labelled posts with the detector ``det`` at its own threshold: the scam-class metrics,
    error rates per value of ``by`` (a field such as ``category``) and every misclassified post
    (``row``: its position in ``rows``, from 1) with its score, red flags and mitigating signs, most
    confident mistakes first."""
    preds = det.predict([r[text_field] for r in rows])
    scores = [p.score for p in preds]
    y = [int(r[label_field]) for r in rows]
    out: dict[str, Any] = {"model_id": det.model_id, "threshold": det.threshold,
                           "metrics": binary_metrics(y, scores, det.threshold)}
    if by:
        keyed = [{"label": label, by: r.get(by)} for r, label in zip(rows, y)]
        out["by"] = {by: error_rates(keyed, scores, det.threshold, by)}
    errors = [{"row": i, "label": label, "score": p.score, "red_flags": [h["rule"] for h in p.reasons],
               "mitigating": [h["rule"] for h in p.mitigating], "text": r[text_field]}
              for i, (r, label, p) in enumerate(zip(rows, y, preds), 1) if int(p.is_scam) != label]
    out["errors"] = sorted(errors, key=lambda e: -abs(e["score"] - det.threshold))
    return out


def plot_report(path: str | Path, curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                threshold: float, title: str) -> None:
    """PR curves of each named set and the confusion matrix of the first, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (y, p) in curves.items():
        prec, rec, _ = precision_recall_curve(np.asarray(y), np.asarray(p))
        ax1.plot(rec, prec, label=f"{name} (AP {average_precision_score(y, p):.3f})")
    ax1.set_xlabel("recall (scam)")
    ax1.set_ylabel("precision (scam)")
    ax1.set_ylim(0.5, 1.01)
    ax1.grid(alpha=0.3)
    ax1.legend(loc="lower left")
    ax1.set_title("Precision-recall")
    name, (y, p) = next(iter(curves.items()))
    cm = confusion_matrix(np.asarray(y), (np.asarray(p) >= threshold).astype(int), labels=[0, 1])
    ax2.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax2.text(j, i, str(v), ha="center", va="center", color="black", fontsize=14)
    ax2.set_xticks([0, 1], ["not scam", "scam"])
    ax2.set_yticks([0, 1], ["not scam", "scam"])
    ax2.set_xlabel("predicted")
    ax2.set_ylabel("true")
    ax2.set_title(f"Confusion matrix, {name} (threshold {threshold:.3f})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
