"""Train, calibrate, threshold, evaluate and save the TF-IDF baseline."""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold

from ..classifier import save_tfidf
from ..classifier.estimator import TfidfScamClassifier
from ..data.loaders import with_splits
from ..data.obfuscate import Obfuscator
from ..data.sources import EXTERNAL, DataMissingError, Row, read_corpus, read_unlabeled
from ..signals import Analysis, RuleSet, analyze, default_rules_yaml, rules_from_yaml
from .config import BaselineConfig
from .evaluate import binary_metrics, choose_threshold, error_rates, plot_report

Log = Callable[[str], None]
# Seed of the obfuscated copy of the test split: fixed, so robustness figures compare across runs.
TEST_OBFUSCATION_SEED = 2024


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def assemble(cfg: BaselineConfig, log: Log = _log) -> list[Row]:
    """Corpus and external rows with split and weight; external sets that are absent are skipped."""
    rows: list[Row] = list(read_corpus())
    for name in cfg.sources:
        if name == "corpus":
            continue
        reader = (lambda: read_unlabeled(cfg.unlabeled_per_file, cfg.seed)) if name == "unlabeled" else EXTERNAL[name]
        try:
            rows.extend(reader())
        except DataMissingError as exc:
            log(f"warning: skipping {name}: {exc}")
    rows = with_splits(rows)
    for r in rows:
        r["weight"] = cfg.source_weights.get(str(r["source"]), 1.0) * cfg.category_weights.get(str(r["category"]), 1.0)
    return rows


def augment(rows: Sequence[Row], cfg: BaselineConfig) -> list[Row]:
    """Obfuscated copies of a share of the training posts, both labels, so disguise is not a label."""
    rng = random.Random(cfg.seed)
    obf = Obfuscator(seed=cfg.seed)
    extra = []
    for r in rows:
        if r["split"] != "train":
            continue
        share = cfg.augment_share if r["source"] == "corpus" else cfg.external_augment_share
        if rng.random() < share:
            extra.append({**r, "id": f"{r['id']}#obf", "text": obf(str(r["text"]), str(r["id"])), "obfuscated": True})
    return extra


def data_hash(rows: Sequence[Row]) -> str:
    """sha256 over the sorted (id, label, text) of the training rows."""
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: str(r["id"])):
        h.update(f"{r['id']}\t{r['label']}\t{r['text']}\n".encode("utf-8"))
    return h.hexdigest()


def _fit(cfg: BaselineConfig, C: float, A: Sequence[Analysis], y: np.ndarray, w: np.ndarray,
         rule_ids: Sequence[str]) -> TfidfScamClassifier:
    est = TfidfScamClassifier(C=C, vocab_size=cfg.vocab_size, bigram_bits=cfg.bigram_bits, rule_weight=cfg.rule_weight)
    return est.fit(A, y, sample_weight=w, rule_ids=rule_ids)


def train_baseline(cfg: BaselineConfig, out_dir: str | Path, report_dir: str | Path | None = None,
                   log: Log = _log) -> dict[str, Any]:
    """Train the baseline end to end and write the model (and reports); return the manifest."""
    rules_yaml = default_rules_yaml()
    rules = RuleSet(rules_from_yaml(rules_yaml))
    rule_ids = [r.id for r in rules.rules]
    rows = assemble(cfg, log)
    train = [r for r in rows if r["split"] == "train"]
    train += augment(train, cfg)
    val = [r for r in rows if r["split"] == "validation"]
    test = [r for r in rows if r["split"] == "test"]
    obf = Obfuscator(seed=TEST_OBFUSCATION_SEED)
    test_obf = [{**r, "text": obf(str(r["text"]), str(r["id"]))} for r in test if r["source"] == "corpus"]
    log(f"rows: train {len(train)} (with obfuscated copies), validation {len(val)}, test {len(test)}")

    def an(rs: Sequence[Row]) -> list[Analysis]:
        return [analyze(str(r["text"]), rules) for r in rs]

    A_tr, A_val, A_te, A_obf = an(train), an(val), an(test), an(test_obf)
    y_tr = np.array([int(r["label"]) for r in train])
    w_tr = np.array([float(r["weight"]) for r in train])
    y_val = np.array([int(r["label"]) for r in val])

    best_C, best_ap = cfg.C_grid[0], -1.0
    for C in cfg.C_grid:
        ap = average_precision_score(y_val, _fit(cfg, C, A_tr, y_tr, w_tr, rule_ids).decision_function(A_val))
        log(f"C={C:g}: validation PR-AUC {ap:.4f}")
        if ap > best_ap:
            best_C, best_ap = C, ap

    # Platt scaling on out-of-fold scores, folds by template group (no template on both sides).
    groups = [str(r["template_group"]) for r in train]
    oof = np.zeros(len(train))
    for a, b in GroupKFold(n_splits=cfg.cv_folds).split(A_tr, y_tr, groups):
        est = _fit(cfg, best_C, [A_tr[i] for i in a], y_tr[a], w_tr[a], rule_ids)
        oof[b] = est.decision_function([A_tr[i] for i in b])
    model = _fit(cfg, best_C, A_tr, y_tr, w_tr, rule_ids)
    model.calibrate(oof, y_tr)
    p_val = model.predict_proba(A_val)[:, 1]
    model.threshold_ = choose_threshold(y_val, p_val, cfg.precision_target)
    log(f"chosen C={best_C:g}, threshold {model.threshold_:.4f} for validation precision >= {cfg.precision_target}")

    t = model.threshold_
    p_te = model.predict_proba(A_te)[:, 1]
    p_obf = model.predict_proba(A_obf)[:, 1]
    corpus_te = [i for i, r in enumerate(test) if r["source"] == "corpus"]
    y_te = np.array([int(r["label"]) for r in test])
    metrics: dict[str, Any] = {
        "validation": binary_metrics(y_val, p_val, t),
        "test": binary_metrics(y_te[corpus_te], p_te[corpus_te], t),
        "test_obfuscated": binary_metrics([int(r["label"]) for r in test_obf], p_obf, t),
        "test_with_external": binary_metrics(y_te, p_te, t),
    }
    te_rows = [test[i] for i in corpus_te]
    details = {
        "per_category": error_rates(te_rows, p_te[corpus_te], t, "category"),
        "per_category_obfuscated": error_rates(test_obf, p_obf, t, "category"),
        # the test split proper: corpus posts plus the real hard negatives held out by article
        "per_category_corpus_and_real_hard_negatives": error_rates(
            [r for r in test if r["source"] in ("corpus", "hardneg")],
            [p for p, r in zip(p_te, test) if r["source"] in ("corpus", "hardneg")], t, "category"),
        "per_platform": error_rates(te_rows, p_te[corpus_te], t, "platform"),
        "per_lang": error_rates(te_rows, p_te[corpus_te], t, "lang"),
        "external_test": error_rates([{**r, "src_cat": f"{r['source']}:{r['category']}"} for r in test
                                      if r["source"] != "corpus"],
                                     [p for p, r in zip(p_te, test) if r["source"] != "corpus"], t, "src_cat"),
    }
    sources = sorted({str(r["source"]) for r in rows})
    info = {
        "model_id": cfg.model_id, "labels": ["not_scam", "scam"], "precision_target": cfg.precision_target,
        "metrics": metrics,
        "training": {"sources": sources, "rows": len(train), "data_sha256": data_hash(train),
                     "config": cfg.to_dict(), "chosen_C": best_C},
    }
    manifest = save_tfidf(model, out_dir, rules_yaml, info)
    if report_dir:
        rd = Path(report_dir)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "metrics.json").write_text(json.dumps({"metrics": metrics, **details}, indent=1) + "\n", encoding="utf-8")
        plot_report(rd / "pr_confusion.png",
                    {"test": (y_te[corpus_te], p_te[corpus_te]),
                     "test obfuscated": ([int(r["label"]) for r in test_obf], p_obf),
                     "test + external negatives": (y_te, p_te)},
                    t, f"{cfg.model_id}: template-grouped test split")
    log(json.dumps(metrics["test"]))
    log(json.dumps(metrics["test_obfuscated"]))
    return {**manifest, "details": details}
