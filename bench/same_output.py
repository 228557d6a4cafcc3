"""Speed work must not change what the scorer says. Scores the same posts with the package as it is
and as it was at a git revision: every output row must be byte-identical, and the CPU time per
post of both is compared in one process (blocks alternate, in alternating order, so the machine's
noise falls on both alike).

    python bench/same_output.py 97725d3          # this tree against that revision
    python bench/same_output.py HEAD -n 5000     # quicker

Posts: benchmark posts (``posts.py``), two disguised copies of the corpus and, where ../shared is
present, real hard negatives, loker.id ads and SMS.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from posts import generate

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 1500


def posts(n: int) -> list[dict]:
    from scamdetect.data import Obfuscator
    from scamdetect.data.sources import (
        read_corpus,
        read_hard_negatives,
        read_lokerid,
        read_sms,
    )

    recs = list(generate(n, seed=1))
    texts = [r["text"] for r in read_corpus()]
    for seed, rate in ((7, 0.35), (8, 0.8)):
        disguise = Obfuscator(seed=seed, rate=rate)
        recs += [{"id": f"o{seed}-{i}", "text": disguise(t, str(i))} for i, t in enumerate(texts)]
    for name, read in (("hard", read_hard_negatives), ("lokerid", read_lokerid), ("sms", read_sms)):
        try:
            recs += [{"id": f"{name}{i}", "text": r["text"]} for i, r in enumerate(itertools.islice(read(), 3000))]
        except (OSError, ValueError) as exc:  # ../shared missing: score what there is
            print(f"({name} skipped: {exc})")
    return recs


def load_revision(rev: str, into: Path):  # type: ignore[no-untyped-def]
    """The package as it was at ``rev``, importable as ``scamdetect_ref`` (its imports are relative)."""
    subprocess.run(f"git -C {ROOT} archive {rev} scamdetect | tar -x -C {into}", shell=True, check=True)
    (into / "scamdetect").rename(into / "scamdetect_ref")
    sys.path.insert(0, str(into))
    return importlib.import_module("scamdetect_ref")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revision", help="git revision to compare with")
    ap.add_argument("-n", type=int, default=20_000, help="benchmark posts (besides the disguised and real ones)")
    args = ap.parse_args()

    import scamdetect
    from scamdetect.outputs.engines import batch_gc, score_rows

    with tempfile.TemporaryDirectory() as tmp:
        ref = load_revision(args.revision, Path(tmp))
        score_ref = importlib.import_module("scamdetect_ref.outputs.engines").score_rows
        new, old = scamdetect.load(), ref.load()
        recs = posts(args.n)
        raw = [(i, orjson.dumps(r)) for i, r in enumerate(recs)]
        blocks = [raw[k:k + BLOCK] for k in range(0, len(raw), BLOCK)]
        score_rows(new, blocks[0], "text")  # warm the caches of both
        score_ref(old, blocks[0], "text")
        out = {"new": [], "ref": []}
        cpu = {"new": 0.0, "ref": 0.0}
        with batch_gc():
            for j, blk in enumerate(blocks):
                runs = [("new", score_rows, new), ("ref", score_ref, old)]
                for name, score, det in runs if j % 2 else runs[::-1]:
                    t0 = time.process_time()
                    out[name].append(score(det, blk, "text").out)
                    cpu[name] += time.process_time() - t0
    a, b = (b"".join(out[k]).splitlines() for k in ("ref", "new"))
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y] + list(range(min(len(a), len(b)), max(len(a), len(b))))
    n = len(raw)
    print(f"{n:,} posts: {args.revision} {cpu['ref'] / n * 1e6:.0f} µs/post, this tree {cpu['new'] / n * 1e6:.0f} µs/post "
          f"({cpu['new'] / cpu['ref']:.2f}x the CPU)")
    print(f"rows that differ: {len(differ)}")
    for i in differ[:3]:
        x, y = orjson.loads(a[i]), orjson.loads(b[i])
        for key in x:
            if x[key] != y.get(key):
                print(f"  row {i} {key}:\n    {args.revision}: {str(x[key])[:300]}\n    now: {str(y.get(key))[:300]}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
