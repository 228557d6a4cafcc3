"""End-to-end scoring speed: `scamdetect score` (file in, file out, with reasons and entities) against
a plain scikit-learn word + char TF-IDF pipeline on the same posts, in one run.

    python bench/bench_score.py            # 100,000 posts
    python bench/bench_score.py -n 20000   # quicker

Prints posts/s for each, and the ratio. The plain pipeline is fitted on the corpus training split;
it reads the same JSONL, scores it and writes scores only (no reasons, no entities).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from posts import write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def plain_pipeline():  # type: ignore[no-untyped-def]
    """Word (1-2) + char_wb (2-5) TF-IDF and logistic regression, as a scikit-learn user would write it."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    from scamdetect.data.loaders import load_rows

    rows = [r for r in load_rows(["corpus"]) if r["split"] == "train"]
    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])
    pipe = make_pipeline(features, LogisticRegression(C=8, max_iter=2000, class_weight="balanced"))
    return pipe.fit([r["text"] for r in rows], [r["label"] for r in rows])


def run_plain(pipe, src: Path, dst: Path, batch: int = 1000) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with src.open("rb") as fin, dst.open("wb") as fout:
        lines = fin.readlines()
        for k in range(0, len(lines), batch):
            recs = [orjson.loads(x) for x in lines[k:k + batch]]
            p = pipe.predict_proba([r["text"] for r in recs])[:, 1]
            for r, s in zip(recs, p):
                r["score"] = float(s)
                fout.write(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE))
    return time.perf_counter() - start


def run_cli(src: Path, dst: Path, jobs: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scamdetect.cli", "score", str(src), "-o", str(dst), "-j", str(jobs), "-q"],
                   check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="posts to generate")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(Path(tmp) / "posts.jsonl", args.n)
        lengths = [len(json.loads(x)["text"]) for x in src.open()][:5000]
        print(f"{args.n:,} posts, mean {np.mean(lengths):.0f} characters, {os.cpu_count()} CPU cores")
        results = {}
        for jobs in args.jobs:
            results[f"scamdetect score --jobs {jobs}"] = args.n / run_cli(src, Path(tmp) / f"out{jobs}.jsonl", jobs)
        print("fitting the plain word+char TF-IDF pipeline on the training split ...", file=sys.stderr)
        pipe = plain_pipeline()
        results["plain sklearn word+char TF-IDF (1 process)"] = args.n / run_plain(pipe, src, Path(tmp) / "plain.jsonl")
    base = results["plain sklearn word+char TF-IDF (1 process)"]
    for name, rate in results.items():
        print(f"{name:<46} {rate:>9,.0f} posts/s   {rate / base:5.1f}x plain")


if __name__ == "__main__":
    main()
