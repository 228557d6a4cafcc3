"""End-to-end batch scoring: posts/s and peak memory of `scamdetect score` (file in, file out, with
reasons and entities) in one process, with --jobs 2 and on a local Dask cluster, next to a plain
pandas + scikit-learn word + char TF-IDF loop on the same posts, in one run.

    python bench/bench_score.py                       # 100,000 posts, every run
    python bench/bench_score.py -n 1000000            # the real run
    python bench/bench_score.py -n 20000 --runs j1 j2 # quicker

"halves" runs two separate `scamdetect score` processes at once, each on half of the posts: what two
cores give when the processes share nothing, the most --jobs 2 could reach on the machine (on a VM
two busy processes slow each other down through shared caches and the host).

Each run is a separate process tree, watched every 0.2 s: peak RSS is the largest sum of resident
memory over the tree (parent and workers); peak PSS (sampled every 2 s, as reading it costs CPU)
shares the pages that forked workers have in common fairly among them, and is the better figure
for "how much memory does this take".
The plain loop is fitted on the corpus training split; it reads the same JSONL in chunks with
pandas, scores it and writes scores only (no reasons, no entities).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from posts import write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "j1": ("scamdetect score (1 process)", ["-j", "1"]),
    "j2": ("scamdetect score --jobs 2", ["-j", "2"]),
    "dask": ("scamdetect score --engine dask (local, 2 workers)", ["--engine", "dask", "-j", "2"]),
}
HALVES = "2 x scamdetect score (1 process), half the posts each"
PLAIN = "plain pandas + sklearn word+char TF-IDF loop"

_PLAIN_CODE = r"""
import sys, pandas as pd
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
pipe.fit([r["text"] for r in rows], [r["label"] for r in rows])
print("ready", flush=True)
sys.stdin.readline()  # the clock starts here, after fitting
with open(sys.argv[2], "w") as out:
    for chunk in pd.read_json(sys.argv[1], lines=True, chunksize=10000, dtype=False):
        chunk["score"] = pipe.predict_proba(chunk["text"].tolist())[:, 1]
        chunk.to_json(out, orient="records", lines=True, force_ascii=False)
"""


def _tree_memory(proc: psutil.Process, pss: bool) -> tuple[int, int]:
    rss = shared = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            # PSS reads smaps, which costs CPU the run would otherwise have: only now and then
            info = p.memory_full_info() if pss else p.memory_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        shared += getattr(info, "pss", 0)
    return rss, shared


def watch(cmd: list[str], stdin_go: bool = False) -> tuple[float, int, int]:
    """Run ``cmd``; return (seconds, peak RSS, peak PSS) of its process tree."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin_go else None,
                            stdout=subprocess.PIPE if stdin_go else None, text=True)
    ps = psutil.Process(proc.pid)
    if stdin_go:  # wait for the model to be fitted, then start the clock
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    start = time.perf_counter()
    peak_rss = peak_pss = 0
    tick = 0
    while proc.poll() is None:
        rss, pss = _tree_memory(ps, pss=tick % 10 == 0)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        tick += 1
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{cmd} failed with exit code {proc.returncode}")
    return seconds, peak_rss, peak_pss


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished process this one started, and theirs."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _split(src: Path, tmp: Path) -> list[Path]:
    """The posts of ``src`` in two files of about half the lines each."""
    lines = src.read_bytes().splitlines(keepends=True)
    halves = [tmp / "half-1.jsonl", tmp / "half-2.jsonl"]
    halves[0].write_bytes(b"".join(lines[: len(lines) // 2]))
    halves[1].write_bytes(b"".join(lines[len(lines) // 2:]))
    return halves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100_000, help="posts to generate")
    ap.add_argument("--runs", nargs="+", choices=[*RUNS, "halves", "plain"], default=[*RUNS, "halves", "plain"])
    ap.add_argument("--dir", help="where the generated posts and outputs go (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        src = write_jsonl(Path(tmp) / "posts.jsonl", args.n)
        lengths = [len(json.loads(x)["text"]) for _, x in zip(range(5000), src.open())]
        print(f"{args.n:,} posts ({src.stat().st_size / 1e6:,.0f} MB), mean {np.mean(lengths):.0f} characters, "
              f"{os.cpu_count()} CPU cores")
        results = {}
        for run in args.runs:
            out = Path(tmp) / f"out-{run}.jsonl"
            cpu0 = _children_cpu()
            if run == "halves":
                name = HALVES
                score = f"{shlex.quote(sys.executable)} -m scamdetect.cli score -q -j 1"
                halves = _split(src, Path(tmp))
                a, b = (f"{score} {shlex.quote(str(h))} -o {shlex.quote(str(h.with_suffix('.out.jsonl')))}"
                        for h in halves)
                secs, rss, pss = watch(["bash", "-c", f"{a} & first=$!; {b} && wait $first"])
                for h in halves:
                    h.unlink()
                    h.with_suffix(".out.jsonl").unlink()
            elif run == "plain":
                name = PLAIN
                secs, rss, pss = watch([sys.executable, "-c", _PLAIN_CODE, str(src), str(out)], stdin_go=True)
            else:
                name, flags = RUNS[run]
                secs, rss, pss = watch([sys.executable, "-m", "scamdetect.cli", "score", str(src), "-o", str(out),
                                        "-q", *flags])
            # the plain loop's process also fits its model: its CPU time says nothing per post
            cpu = "    -" if run == "plain" else f"{(_children_cpu() - cpu0) / args.n * 1e6:5,.0f}"
            results[name] = (args.n / secs, rss, pss)
            print(f"{name:<52} {args.n / secs:>9,.0f} posts/s  CPU {cpu} µs/post  peak RSS {rss / 2**20:6,.0f} MiB  "
                  f"PSS {pss / 2**20:6,.0f} MiB", flush=True)
            out.unlink(missing_ok=True)
        if PLAIN in results:
            base = results[PLAIN][0]
            print("\nrelative to the plain loop:")
            for name, (rate, _, _) in results.items():
                print(f"  {name:<52} {rate / base:5.1f}x")


if __name__ == "__main__":
    main()
