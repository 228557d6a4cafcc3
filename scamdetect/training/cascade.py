"""Build the cascade (band chosen on validation) and compare baseline, transformer and cascade side by
side on the test split, its obfuscated copy, per category and per platform."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..classifier import load_classifier
from ..classifier.cascade import CascadeModel, choose_band, route_mask, save_cascade
from ..data.obfuscate import Obfuscator
from ..data.sources import Row
from ..signals import analyze
from .baseline import TEST_OBFUSCATION_SEED, _log, assemble
from .config import TransformerConfig
from .evaluate import binary_metrics, error_rates, plot_report


def compare(baseline_dir: str | Path, transformer_dir: str | Path, cascade_dir: str | Path,
            report_dir: str | Path, max_share: float = 0.10, log: Any = _log) -> dict[str, Any]:
    """Choose the cascade band on the full validation split, save the cascade, and write
    ``comparison.json`` and plots to ``report_dir``; return the comparison."""
    base, rules, bm = load_classifier(baseline_dir)
    trans, _, tm = load_classifier(transformer_dir)
    cfg = TransformerConfig.from_dict(tm["training"]["config"])
    rows = assemble(cfg, log)  # type: ignore[arg-type]  # every external row, as the baseline is evaluated
    val = [r for r in rows if r["split"] == "validation"]
    test = [r for r in rows if r["split"] == "test"]
    obf = Obfuscator(seed=TEST_OBFUSCATION_SEED)
    test_obf = [{**r, "text": obf(str(r["text"]), str(r["id"]))} for r in test if r["source"] == "corpus"]

    def an(rs: Sequence[Row]) -> list:
        return [analyze(str(r["text"]), rules) for r in rs]

    A_val, A_te, A_obf = an(val), an(test), an(test_obf)
    y_val = np.array([int(r["label"]) for r in val])
    p_val = base.predict_proba(A_val)
    t_b = float(bm["threshold"])
    # the share routed is counted on the corpus posts: the external rows are mostly easy, and would
    # let a wide band look cheap
    low, high, sel = choose_band(y_val, p_val, lambda idx: trans.predict_proba([A_val[i] for i in idx]),
                                 t_b, trans.threshold, max_share,
                                 share_of=np.array([r["source"] == "corpus" for r in val]))
    log(f"cascade band [{low:.4f}, {high:.4f}): validation F1 {sel['f1']:.4f}, routed {sel['share']:.1%}")
    casc = CascadeModel(base, trans, low, high, t_b)

    corpus = [i for i, r in enumerate(test) if r["source"] == "corpus"]
    te_c = [test[i] for i in corpus]
    A_te_c = [A_te[i] for i in corpus]
    y_te = np.array([int(r["label"]) for r in test])
    y_obf = np.array([int(r["label"]) for r in test_obf])
    out: dict[str, Any] = {"band": {"low": low, "high": high, "threshold": t_b, "validation": sel}, "models": {}}
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name, model, t in (("baseline", base, t_b), ("transformer", trans, trans.threshold), ("cascade", casc, t_b)):
        t0 = time.time()
        p_c = model.predict_proba(A_te_c)
        rate = len(A_te_c) / (time.time() - t0)
        p_o = model.predict_proba(A_obf)
        entry: dict[str, Any] = {
            "threshold": t, "classifier_posts_per_second_test": round(rate, 1),
            "test": binary_metrics(y_te[corpus], p_c, t), "test_obfuscated": binary_metrics(y_obf, p_o, t),
            "per_category": error_rates(te_c, p_c, t, "category"),
            "per_category_obfuscated": error_rates(test_obf, p_o, t, "category"),
            "per_platform": error_rates(te_c, p_c, t, "platform"),
        }
        if name != "transformer":  # thousands of external rows: only where the transformer sees few of them
            if name == "cascade":
                casc.routed = casc.scored = 0
            p_all = model.predict_proba(A_te)
            entry["test_with_external"] = binary_metrics(y_te, p_all, t)
            if name == "cascade":
                entry["routed_share_test_with_external"] = casc.routed_share
                entry["routed_share_test"] = float(route_mask(base.predict_proba(A_te_c), low, high).mean())
        scores[name] = {"test": p_c, "obf": p_o}
        out["models"][name] = entry
        log(f"{name}: test F1 {entry['test']['f1']:.4f}, obfuscated F1 {entry['test_obfuscated']['f1']:.4f}")
    best_single = {k: max(out["models"][m][k]["f1"] for m in ("baseline", "transformer"))
                   for k in ("test", "test_obfuscated")}
    out["cascade_is_default"] = all(out["models"]["cascade"][k]["f1"] >= best_single[k] for k in best_single)
    save_cascade(cascade_dir, baseline_dir, transformer_dir, low, high, t_b,
                 {"model_id": Path(cascade_dir).name, "labels": ["not_scam", "scam"],
                  "precision_target": bm.get("precision_target", 0.95),
                  "metrics": {k: out["models"]["cascade"][k] for k in ("test", "test_obfuscated", "test_with_external")},
                  "training": {"sources": bm.get("training", {}).get("sources", []),
                               "band_chosen_on": "validation split (all rows; share routed counted on corpus posts)", "max_routed_share": max_share,
                               "validation": sel}})
    rd = Path(report_dir)
    rd.mkdir(parents=True, exist_ok=True)
    (rd / "comparison.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    try:
        for name, s in scores.items():
            t = out["models"][name]["threshold"]
            plot_report(rd / f"pr_confusion_{name}.png", {"test": (y_te[corpus], s["test"]),
                                                          "test obfuscated": (y_obf, s["obf"])},
                        t, f"{name}: template-grouped test split")
    except ImportError:
        pass
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scamdetect.training.cascade``: build the cascade and the side-by-side report."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m scamdetect.training.cascade", description=compare.__doc__)
    ap.add_argument("--baseline", default="models/scamdetect-tfidf")
    ap.add_argument("--transformer", default="models/scamdetect-e5")
    ap.add_argument("--out", default="models/scamdetect-cascade")
    ap.add_argument("--report-dir", default="training/reports/comparison")
    ap.add_argument("--max-share", type=float, default=0.10, help="most validation posts routed (default 0.10)")
    a = ap.parse_args(argv)
    out = compare(a.baseline, a.transformer, a.out, a.report_dir, a.max_share)
    print(json.dumps({k: {s: v[s]["f1"] for s in ("test", "test_obfuscated")} for k, v in out["models"].items()}))
    print(f"cascade becomes the default: {out['cascade_is_default']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
