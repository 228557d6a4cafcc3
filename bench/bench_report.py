"""Time `scamdetect report`: 100,000 scored posts to a takedown report in each format.

Posts come from bench/posts.py (corpus posts with fresh numbers, 6 platforms, ~33,000 accounts) and
are scored once with `scamdetect score` (not timed); then the report is built (read, select, check,
group into campaigns; workers read and hash, the parent groups) and written as XLSX, CSV, HTML and JSON, each timed on its own.

    python bench/bench_report.py                 # 100,000 posts, --jobs 2
    python bench/bench_report.py -n 20000 --scored /tmp/scored.jsonl   # reuse a scored file
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from posts import write_jsonl  # noqa: E402

from scamdetect.outputs import score_file  # noqa: E402
from scamdetect.outputs.report import build_report_file, write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="posts (default 100,000)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="processes for scoring and shingling (default 2)")
    ap.add_argument("--scored", help="a scored JSONL file to reuse (written here if it does not exist)")
    ap.add_argument("--out", help="folder for the report files (default: a temporary folder)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    out = Path(a.out) if a.out else tmp
    out.mkdir(parents=True, exist_ok=True)
    scored = Path(a.scored) if a.scored else tmp / "scored.jsonl"
    if not scored.exists():
        posts = write_jsonl(tmp / "posts.jsonl", a.n)
        s = score_file(posts, scored, jobs=a.jobs)
        print(f"scored (setup, not part of the report time): {s.line()}")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t0, c0 = time.perf_counter(), time.process_time()
    report = build_report_file(scored, jobs=a.jobs)
    t_build = time.perf_counter() - t0
    cpu_main = time.process_time() - c0
    cpu_build = cpu_main + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    n = report.meta["counts"]["read"]
    c = report.meta["counts"]
    print(f"read {n:,} scored posts and built the report in {t_build:.1f} s "
          f"(CPU {cpu_build:.1f} s with the workers, {cpu_main:.1f} s in the parent): "
          f"{c['rows']:,} flagged posts in {c['campaigns']:,} campaigns "
          f"({c['multi_post_campaigns']:,} with more than one post; largest {report.campaigns[0]['posts']:,} posts), "
          f"{c['accounts']:,} accounts")
    for fmt in ("json", "csv", "xlsx", "html"):
        path = out / f"report.{fmt}"
        t0, c0 = time.perf_counter(), time.process_time()
        write_report(report, path)
        t_write = time.perf_counter() - t0
        cpu_write = time.process_time() - c0
        total = t_build + t_write
        print(f"{fmt:>4}: written in {t_write:5.1f} s (CPU {cpu_write:5.1f} s), {path.stat().st_size / 1e6:6.1f} MB; "
              f"scored file -> report {total:5.1f} s ({n / total:,.0f} posts/s)"
              + ("" if total < 60 else "  ** over 60 s **"))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
