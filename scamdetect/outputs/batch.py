"""Batch scoring of files of scraped posts: JSON Lines, CSV or Parquet in and out, nothing lost,
resumable after a crash.

Every input field is kept and the prediction is added. A row that cannot be scored goes to a
rejects file with its line number and reason, so that read = scored + rejected always holds. Each
scored block is saved as it finishes (see ``journal``); the output file appears, complete, only
when every block is done.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from ..detector import Detector, load
from .engines import (
    BlockResult,
    batch_gc,
    cached_detector,
    dask_client,
    run_dask,
    run_local,
    run_processes,
    score_unit,
)
from .files import (
    PREDICTION_FIELDS,
    InputError,
    TableWriter,
    Unit,
    copy_into,
    detect_format,
    input_size,
    parquet_types,
    read_units,
)
from .journal import Journal, fingerprint

__all__ = ["InputError", "Summary", "score_file", "BLOCK_BYTES", "BLOCK_ROWS", "ENGINES"]

BLOCK_BYTES = 1 << 19  # JSON Lines handed to a worker at a time: about 1,500 posts
BLOCK_ROWS = 2000  # CSV and Parquet rows per block
ENGINES = ("local", "dask")


@dataclass
class Summary:
    """What a batch run did (counts include blocks done by an earlier, interrupted run)."""

    read: int = 0
    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    resumed_blocks: int = 0
    seconds: float = 0.0
    output: str = ""
    rejects: str = ""

    def line(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        resumed = f", {self.resumed_blocks} blocks from the earlier run" if self.resumed_blocks else ""
        return (f"read {self.read}, scored {self.scored}, rejected {self.rejected}, flagged {self.flagged} "
                f"in {self.seconds:.1f} s ({rate:,.0f} posts/s{resumed}); output {self.output}"
                + (f"; rejects {self.rejects}" if self.rejected else ""))


def score_file(input_path: str | Path, output_path: str | Path, model: str | Path | None = None,
               text_field: str = "text", in_format: str | None = None, out_format: str | None = None,
               rejects_path: str | Path | None = None, jobs: int = 1, progress: bool = False,
               detector: Detector | None = None, resume: bool = False, restart: bool = False,
               engine: str = "local", scheduler: str | None = None, block_bytes: int = BLOCK_BYTES,
               block_rows: int = BLOCK_ROWS) -> Summary:
    """Score every row of ``input_path`` into ``output_path``; malformed rows go to the rejects file.

    ``jobs`` worker processes (0: one per CPU core), or with ``engine="dask"`` a Dask cluster at
    ``scheduler`` (a local one of ``jobs`` workers if None). Work is saved block by block in
    ``OUTPUT.partial/``: after a crash, ``resume=True`` continues where the run stopped;
    ``restart=True`` throws the earlier work away.
    """
    start = time.perf_counter()
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise InputError(f"input file {src} not found")
    if dst.resolve() == src.resolve():
        raise InputError(f"the output {dst} would overwrite the input: choose another output file")
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} ({' or '.join(ENGINES)})")
    fmt_in, fmt_out = detect_format(src, in_format), detect_format(dst, out_format)
    jobs = jobs or os.cpu_count() or 1
    rej = Path(rejects_path) if rejects_path else dst.with_name(dst.name + ".rejects.jsonl")
    units = read_units(src, fmt_in, text_field, block_bytes, block_rows)  # a missing column fails here
    model_str = str(model) if model is not None else None
    det = cached_detector(model_str, detector or load(model))
    settings = {"in_format": fmt_in, "out_format": fmt_out, "text_field": text_field, "block_bytes": block_bytes,
                "block_rows": block_rows}
    journal = Journal(dst.with_name(dst.name + ".partial"), fingerprint(src, settings, det.manifest),
                      resume=resume, restart=restart)
    summary = Summary(output=str(dst), rejects=str(rej), resumed_blocks=len(journal.done))
    keys = fmt_out != "jsonl"
    todo = _Todo(units, journal, _progress(src, fmt_in, progress))
    if engine == "dask":
        with dask_client(scheduler, jobs) as client:
            _save_all(run_dask(todo, model_str, text_field, keys, client), journal, todo)
    else:
        task = partial(score_unit, model_str, text_field, keys)
        with batch_gc():
            _save_all(run_processes(todo, task, jobs) if jobs > 1 else run_local(todo, task), journal, todo)
    metas = [meta for meta, _, _ in journal.blocks()]
    for k in ("read", "scored", "rejected", "flagged"):
        setattr(summary, k, sum(m[k] for m in metas))
    if summary.read == 0:
        journal.remove()
        raise InputError(f"{src} holds no rows")
    if summary.scored == 0 and sum(m["missing_field"] for m in metas) == summary.read:
        journal.remove()
        raise InputError(f"no row of {src} has a {text_field!r} field; use --text-field")
    _assemble(journal, dst, fmt_out, rej, parquet_types(src) if fmt_in == "parquet" else {})
    journal.remove()
    summary.seconds = time.perf_counter() - start
    return summary


class _Todo:
    """The blocks still to score, with progress shown as blocks are read and saved."""

    def __init__(self, units: Iterator[Unit], journal: Journal, bar: Any):
        self.units, self.journal, self.bar = units, journal, bar
        self.size: dict[int, int] = {}
        self.posts = 0
        self.t0 = time.perf_counter()

    def __iter__(self) -> Iterator[Unit]:
        for u in self.units:
            if u.index in self.journal.done:
                if self.bar is not None:
                    self.bar.update(u.size)
                continue
            self.size[u.index] = u.size
            yield u

    def saved(self, res: BlockResult) -> None:
        self.posts += res.read
        if self.bar is not None:
            rate = self.posts / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{self.posts:,} posts, {rate:,.0f} posts/s", refresh=False)
            self.bar.update(self.size.pop(res.index, 0))


def _progress(src: Path, fmt: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    rows = fmt == "parquet"
    return tqdm(total=input_size(src, fmt), unit=" posts" if rows else "B", unit_scale=True,
                unit_divisor=1000 if rows else 1024, file=sys.stderr, smoothing=0.1, dynamic_ncols=True)


def _save_all(results: Iterator[BlockResult], journal: Journal, todo: _Todo) -> None:
    try:
        for res in results:
            journal.save(res.index, res.out, res.rejects, res.meta())
            todo.saved(res)
    finally:
        if todo.bar is not None:
            todo.bar.close()


def _assemble(journal: Journal, dst: Path, fmt: str, rej: Path, types: dict[str, str]) -> None:
    """Write the output and rejects files from the saved blocks, in input order, each atomically."""
    tmp, rej_tmp = dst.with_name(dst.name + ".part"), rej.with_name(rej.name + ".part")
    rejected = 0
    with tmp.open("wb") as out, rej_tmp.open("wb") as rout:
        table = None
        if fmt != "jsonl":
            names = dict.fromkeys(k for meta, _, _ in journal.blocks() for k in meta["keys"])
            fields = [k for k in names if k not in PREDICTION_FIELDS] + list(PREDICTION_FIELDS)
            table = TableWriter(out, fmt, fields, types)
        for meta, data, rejects in journal.blocks():
            if table is None:
                copy_into(out, data)
            else:
                table.write_jsonl(data.read_bytes())
            copy_into(rout, rejects)
            rejected += meta["rejected"]
        if table is not None:
            table.close()
        for fh in (out, rout):
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, dst)
    if rejected:
        os.replace(rej_tmp, rej)
    else:
        rej_tmp.unlink()
        rej.unlink(missing_ok=True)
