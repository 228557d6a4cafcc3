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


def _read_items(path: Path, fmt: str, text_field: str) -> Iterator[tuple[int, Any]]:
    """(line number, raw JSON line bytes or CSV row dict)."""
    if fmt == "jsonl":
        with path.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield n, line
        return
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")  # Excel adds a BOM
        reader = csv.DictReader(text)
        if reader.fieldnames is None or text_field not in reader.fieldnames:
            raise InputError(f"{path} has no column {text_field!r} (columns: {', '.join(reader.fieldnames or [])}); "
                             "use --text-field")
        for row in reader:
            yield reader.line_num, row


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


def score_items(det: Detector, items: Sequence[tuple[int, Any]], text_field: str,
                fmt_out: str = "jsonl") -> list[tuple[int, bytes | dict | None, str | None, Any, bool]]:
    """Score one chunk: (line, output record, reject reason, raw item, flagged).

    For JSON Lines the record comes back already serialised, so worker processes send bytes,
    not nested objects, to the writer.
    """
    parsed = [(n, *_parse(it, text_field), it) for n, it in items]
    good = [(n, rec) for n, rec, reason, _ in parsed if reason is None]
    preds = det.predict([rec[text_field] for _, rec in good]) if good else []
    by_line: dict[int, tuple[bytes | dict, bool]] = {}
    for (n, rec), p in zip(good, preds):
        out = {**rec, **_flat(p.to_dict())}
        by_line[n] = (_dumps(out) if fmt_out == "jsonl" else out, p.is_scam)
    result = []
    for n, _, reason, raw in parsed:
        out, flagged = by_line.get(n, (None, False))
        result.append((n, out, reason, None if reason is None else raw, flagged))
    return result


def _dumps(rec: dict[str, Any]) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)


# -- worker processes: the model is loaded once per worker --------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(model: str | None, text_field: str, fmt_out: str) -> None:
    if "det" not in _WORKER:  # forked workers inherit the model the parent loaded
        _WORKER["det"] = load(model)
    _WORKER["args"] = (text_field, fmt_out)


def _worker_chunk(items: list[tuple[int, Any]]) -> list[tuple[int, bytes | dict | None, str | None, Any, bool]]:
    return score_items(_WORKER["det"], items, *_WORKER["args"])


def _chunks(it: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for x in it:
        chunk.append(x)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Writer:
    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.tmp = path.with_name(path.name + ".part")
        self.fh = self.tmp.open("wb")
        self.csv: csv.DictWriter | None = None
        self.text: io.TextIOWrapper | None = None

    def write(self, rec: bytes | dict[str, Any]) -> None:
        if isinstance(rec, bytes):
            self.fh.write(rec)
            return
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
    items = _read_items(src, fmt_in, text_field)
    first = next(items, None)  # surfaces a missing CSV column before any output is created
    if first is None:
        raise InputError(f"{src} holds no rows")
    items = _prepend(first, items)
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
                results = pool.imap(_worker_chunk, _chunks(items, chunk_size))
            else:
                results = (score_items(det, c, text_field, fmt_out) for c in _chunks(items, chunk_size))
            for chunk in results:
                for n, out, reason, raw, flagged in chunk:
                    summary.read += 1
                    if out is not None:
                        writer.write(out)
                        summary.scored += 1
                        summary.flagged += flagged
                    else:
                        summary.rejected += 1
                        missing_field += bool(reason and reason.startswith("missing text field"))
                        rej_fh.write(orjson.dumps({"line": n, "reason": reason, "raw": _raw_text(raw)},
                                                  option=orjson.OPT_APPEND_NEWLINE))
                if bar is not None:
                    bar.update(len(chunk))
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


def _prepend(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _raw_text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\n")
    # stdlib json: a CSV cell may hold undecodable bytes (lone surrogates), which orjson refuses
    return json.dumps({k: v for k, v in raw.items() if k is not None}, ensure_ascii=True, default=str)
