"""Batch scoring of files of scraped posts: JSON Lines or CSV in and out, nothing lost.

Every input field is kept and the prediction is added. A row that cannot be scored goes to a
rejects file with its line number and reason, so that read = scored + rejected always holds.
Output is written to a temporary file and renamed at the end, so a crash leaves no half file.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import orjson

from ..detector import MAX_CHARS, Detector, load

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


class InputError(ValueError):
    """The input cannot be scored at all (missing file, unknown format, no text field)."""


@dataclass
class Summary:
    """What a batch run did."""

    read: int = 0
    scored: int = 0
    rejected: int = 0
    flagged: int = 0
    seconds: float = 0.0
    output: str = ""
    rejects: str = ""

    def line(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        return (f"read {self.read}, scored {self.scored}, rejected {self.rejected}, flagged {self.flagged} "
                f"in {self.seconds:.1f} s ({rate:,.0f} posts/s); output {self.output}"
                + (f"; rejects {self.rejects}" if self.rejected else ""))


def detect_format(path: str | Path, given: str | None = None) -> str:
    """The file format, from ``given`` or the extension."""
    if given:
        if given not in ("jsonl", "csv"):
            raise InputError(f"unknown format {given!r} (jsonl or csv)")
        return given
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of {path} from its extension: use --format jsonl|csv")
    return fmt


_BLOCK = 1 << 19  # bytes of JSON Lines handed to a worker at a time


def _read_chunks(path: Path, fmt: str, text_field: str, chunk_size: int) -> Iterator[Any]:
    """Work units: for JSON Lines (first line number, block of whole lines as bytes), so workers
    split and parse; for CSV lists of (line number, row dict) parsed here."""
    if fmt == "jsonl":
        line = 1
        with path.open("rb") as fh:
            rest = b""
            while block := fh.read(_BLOCK):
                block = rest + block
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    rest = block
                    continue
                yield line, block[:cut]
                line += block.count(b"\n", 0, cut)
                rest = block[cut:]
            if rest:
                yield line, rest
        return
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")  # Excel adds a BOM
        reader = csv.DictReader(text)
        if reader.fieldnames is None or text_field not in reader.fieldnames:
            raise InputError(f"{path} has no column {text_field!r} (columns: {', '.join(reader.fieldnames or [])}); "
                             "use --text-field")
        chunk: list[tuple[int, Any]] = []
        for row in reader:
            chunk.append((reader.line_num, row))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _items(unit: Any) -> list[tuple[int, Any]]:
    if isinstance(unit, tuple):  # a block of JSON Lines
        first, block = unit
        return [(first + i, ln) for i, ln in enumerate(block.split(b"\n")) if ln.strip()]
    return unit


def _parse(item: Any, text_field: str) -> tuple[dict | None, str | None]:
    """The record and its text check: (record, None) or (record-or-None, reason)."""
    if isinstance(item, bytes):
        try:
            rec = orjson.loads(item)
        except orjson.JSONDecodeError as exc:
            try:
                item.decode("utf-8")
            except UnicodeDecodeError:
                return None, "invalid UTF-8"
            return None, f"bad JSON: {exc}"
        if not isinstance(rec, dict):
            return None, "row is not a JSON object"
    else:
        rec = item
        if None in rec:
            return rec, "row has more cells than the header"
        if any("\udc80" <= c <= "\udcff" for v in rec.values() if isinstance(v, str) for c in v):
            return None, "invalid UTF-8"
    if text_field not in rec:
        return rec, f"missing text field {text_field!r}"
    text = rec[text_field]
    if not isinstance(text, str):
        return rec, f"text field {text_field!r} is {type(text).__name__}, not a string"
    if not text.strip():
        return rec, "empty text"
    if len(text) > MAX_CHARS:
        return rec, f"text longer than {MAX_CHARS} characters ({len(text)})"
    return rec, None


def _flat(pred: dict[str, Any]) -> dict[str, Any]:
    return {**pred, "red_flags": [r["rule"] for r in pred["reasons"]]}


@dataclass
class ChunkResult:
    """One work unit scored: output (JSON Lines bytes, or row dicts for CSV), rejects and counts."""

    out: bytes | list[dict[str, Any]]
    rejects: list[bytes]
    read: int
    scored: int
    flagged: int
    missing_field: int


def score_items(det: Detector, items: Sequence[tuple[int, Any]], text_field: str,
                fmt_out: str = "jsonl") -> ChunkResult:
    """Score one chunk of (line number, raw JSON line or CSV row). Output comes back serialised for
    JSON Lines, so worker processes hand the writer one block of bytes, not thousands of objects."""
    parsed = [(n, *_parse(it, text_field), it) for n, it in items]
    good = [rec for _, rec, reason, _ in parsed if reason is None]
    preds = det.predict([rec[text_field] for rec in good]) if good else []
    rows = [{**rec, **_flat(p.to_dict())} for rec, p in zip(good, preds)]
    rejects = [orjson.dumps({"line": n, "reason": reason, "raw": _raw_text(raw)}, option=orjson.OPT_APPEND_NEWLINE)
               for n, _, reason, raw in parsed if reason is not None]
    missing = sum(1 for _, _, reason, _ in parsed if reason and reason.startswith("missing text field"))
    out: bytes | list[dict[str, Any]] = b"".join(map(_dumps, rows)) if fmt_out == "jsonl" else rows
    return ChunkResult(out, rejects, len(parsed), len(rows), sum(p.is_scam for p in preds), missing)


def _dumps(rec: dict[str, Any]) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)


# -- worker processes: the model is loaded once per worker --------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(model: str | None, text_field: str, fmt_out: str) -> None:
    if "det" not in _WORKER:  # forked workers inherit the model the parent loaded
        _WORKER["det"] = load(model)
    _WORKER["args"] = (text_field, fmt_out)


def _worker_chunk(unit: Any) -> ChunkResult:
    return score_items(_WORKER["det"], _items(unit), *_WORKER["args"])


class _Writer:
    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.tmp = path.with_name(path.name + ".part")
        self.fh = self.tmp.open("wb")
        self.csv: csv.DictWriter | None = None
        self.text: io.TextIOWrapper | None = None

    def write(self, out: bytes | list[dict[str, Any]]) -> None:
        if isinstance(out, bytes):
            self.fh.write(out)
            return
        for rec in out:
            self._csv_row(rec)

    def _csv_row(self, rec: dict[str, Any]) -> None:
        row = {k: (orjson.dumps(v).decode() if isinstance(v, (list, dict)) else v) for k, v in rec.items()}
        row["red_flags"] = ";".join(rec["red_flags"])
        if self.csv is None:
            self.text = io.TextIOWrapper(self.fh, encoding="utf-8", errors="surrogateescape", newline="")
            self.csv = csv.DictWriter(self.text, fieldnames=list(row), extrasaction="ignore")
            self.csv.writeheader()
        self.csv.writerow(row)

    def close(self) -> None:
        if self.text:
            self.text.flush()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def score_file(input_path: str | Path, output_path: str | Path, model: str | Path | None = None,
               text_field: str = "text", in_format: str | None = None, out_format: str | None = None,
               rejects_path: str | Path | None = None, jobs: int = 1, chunk_size: int = 1000,
               progress: bool = False, detector: Detector | None = None) -> Summary:
    """Score every row of ``input_path`` into ``output_path``; malformed rows go to the rejects file."""
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise InputError(f"input file {src} not found")
    fmt_in, fmt_out = detect_format(src, in_format), detect_format(dst, out_format)
    rej = Path(rejects_path) if rejects_path else dst.with_name(dst.name + ".rejects.jsonl")
    summary = Summary(output=str(dst), rejects=str(rej))
    start = time.perf_counter()
    units = _read_chunks(src, fmt_in, text_field, chunk_size)
    first = next(units, None)  # surfaces a missing CSV column before any output is created
    if first is None:
        raise InputError(f"{src} holds no rows")
    units = _prepend(first, units)
    writer = _Writer(dst, fmt_out)
    missing_field = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit=" posts", file=sys.stderr, smoothing=0.1)
    pool = None
    try:
        with rej.open("wb") as rej_fh:
            det = detector or load(model)
            if jobs > 1:
                fork = "fork" in mp.get_all_start_methods() and sys.platform != "darwin"
                if fork:  # load once here; the workers inherit it instead of each loading its own
                    _WORKER["det"] = det
                pool = mp.get_context("fork" if fork else "spawn").Pool(
                    jobs, initializer=_init_worker, initargs=(str(model) if model else None, text_field, fmt_out))
                results: Iterator[ChunkResult] = pool.imap(_worker_chunk, units)
            else:
                results = (score_items(det, _items(u), text_field, fmt_out) for u in units)
            for res in results:
                writer.write(res.out)
                rej_fh.writelines(res.rejects)
                summary.read += res.read
                summary.scored += res.scored
                summary.rejected += len(res.rejects)
                summary.flagged += res.flagged
                missing_field += res.missing_field
                if bar is not None:
                    bar.update(res.read)
        if summary.scored == 0 and missing_field == summary.read:
            raise InputError(f"no row of {src} has a {text_field!r} field; use --text-field")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if pool is not None:
            pool.terminate()
        _WORKER.clear()
        if bar is not None:
            bar.close()
    if not summary.rejected:
        rej.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - start
    return summary


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _raw_text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\n")
    # stdlib json: a CSV cell may hold undecodable bytes (lone surrogates), which orjson refuses
    return json.dumps({k: v for k, v in raw.items() if k is not None}, ensure_ascii=True, default=str)
