"""File formats of batch scoring: JSON Lines, CSV and Parquet read in blocks, checked row by row,
and the scored rows written back in the format asked for.

Input is cut into blocks ("units") that are scored independently: JSON Lines by bytes at line
ends, CSV and Parquet by rows. The cut depends only on the file and the block size, so a resumed
run finds the same blocks again.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

import orjson

from ..detector import MAX_CHARS

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}
# Columns the scorer adds; nested values are JSON text in CSV and Parquet.
PREDICTION_FIELDS = ("score", "label", "threshold", "model_id", "red_flags", "reasons", "mitigating", "terms",
                     "entities")
NESTED = ("reasons", "mitigating", "terms", "entities")


class InputError(ValueError):
    """The input cannot be scored at all (missing file, unknown format, no text field)."""


def detect_format(path: str | Path, given: str | None = None) -> str:
    """The file format, from ``given`` or the extension."""
    if given:
        if given not in ("jsonl", "csv", "parquet"):
            raise InputError(f"unknown format {given!r} (jsonl, csv or parquet)")
        return given
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of {path} from its extension: use --format jsonl|csv|parquet")
    return fmt


@dataclass(frozen=True, slots=True)
class Unit:
    """One block of input: its index, the line (or row) number of its first row, the raw rows."""

    index: int
    first: int
    payload: Any  # bytes of whole JSON lines | [(line, row dict)] | pyarrow.RecordBatch
    size: int  # input bytes (JSON Lines, CSV) or rows (Parquet) it covers, for progress


def input_size(path: Path, fmt: str) -> int:
    """What progress counts to: bytes, or rows for Parquet."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return path.stat().st_size


def read_units(path: Path, fmt: str, text_field: str, block_bytes: int, block_rows: int) -> Iterator[Unit]:
    """The input cut into blocks. Raises InputError up front for a CSV or Parquet file without the
    text column."""
    if fmt == "jsonl":
        return _jsonl_units(path, block_bytes)
    if fmt == "csv":
        return _csv_units(path, text_field, block_rows)
    return _parquet_units(path, text_field, block_rows)


def _jsonl_units(path: Path, block_bytes: int) -> Iterator[Unit]:
    line, index, rest = 1, 0, b""
    with path.open("rb") as fh:
        while block := fh.read(block_bytes):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: read on
                rest = block
                continue
            yield Unit(index, line, block[:cut], cut)
            index += 1
            line += block.count(b"\n", 0, cut)
            rest = block[cut:]
    if rest:
        yield Unit(index, line, rest, len(rest))


def _csv_units(path: Path, text_field: str, block_rows: int) -> Iterator[Unit]:
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")  # Excel adds a BOM
    reader = csv.DictReader(text)
    if reader.fieldnames is None or text_field not in reader.fieldnames:
        raw.close()
        raise InputError(f"{path} has no column {text_field!r} (columns: {', '.join(reader.fieldnames or [])}); "
                         "use --text-field")
    return _csv_blocks(raw, reader, block_rows)


def _csv_blocks(raw: BinaryIO, reader: csv.DictReader, block_rows: int) -> Iterator[Unit]:
    with raw:
        index, rows, first, pos = 0, [], 0, 0
        for row in reader:
            if not rows:
                first = reader.line_num
            rows.append((reader.line_num, row))
            if len(rows) >= block_rows:
                yield Unit(index, first, rows, raw.tell() - pos)
                index, rows, pos = index + 1, [], raw.tell()
        if rows:
            yield Unit(index, first, rows, raw.tell() - pos)


def _parquet_units(path: Path, text_field: str, block_rows: int) -> Iterator[Unit]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path} is not a readable Parquet file: {exc}") from None
    if text_field not in pf.schema_arrow.names:
        raise InputError(f"{path} has no column {text_field!r} (columns: {', '.join(pf.schema_arrow.names)}); "
                         "use --text-field")
    return _parquet_blocks(pf, block_rows)


def _parquet_blocks(pf: Any, block_rows: int) -> Iterator[Unit]:
    first = 1
    for index, batch in enumerate(pf.iter_batches(batch_size=block_rows)):
        yield Unit(index, first, batch, batch.num_rows)
        first += batch.num_rows


def unit_rows(unit: Unit) -> list[tuple[int, Any]]:
    """(line or row number, raw row) pairs of a unit: bytes for JSON Lines, dicts otherwise."""
    p = unit.payload
    if isinstance(p, bytes):
        return [(unit.first + i, ln) for i, ln in enumerate(p.split(b"\n")) if ln.strip()]
    if isinstance(p, list):
        return p
    return list(enumerate(p.to_pylist(), unit.first))


def parse_row(item: Any, text_field: str) -> tuple[dict | None, str | None]:
    """The record and its text check: (record, None), or (record or None, why it cannot be scored)."""
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
    return rec, text_problem(rec[text_field], text_field)


def text_problem(text: Any, text_field: str = "text") -> str | None:
    """Why ``text`` cannot be scored, or None."""
    if text is None or (isinstance(text, float) and text != text):  # null, or a missing value in pandas
        return f"text field {text_field!r} is null"
    if not isinstance(text, str):
        return f"text field {text_field!r} is {type(text).__name__}, not a string"
    if not text.strip():
        return "empty text"
    if len(text) > MAX_CHARS:
        return f"text longer than {MAX_CHARS} characters ({len(text)})"
    return None


def _default(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)  # Decimal, date and anything else Parquet may hold


def dumps_row(rec: dict[str, Any]) -> bytes:
    """One JSON line."""
    return orjson.dumps(rec, default=_default, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)


def reject_line(line: int, reason: str, raw: Any) -> bytes:
    """One line of the rejects file: where, why, and the row as it was."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "replace").rstrip("\n")
    else:  # stdlib json: a CSV cell may hold undecodable bytes (lone surrogates), which orjson refuses
        text = json.dumps({k: v for k, v in raw.items() if k is not None}, ensure_ascii=True, default=str)
    return orjson.dumps({"line": line, "reason": reason, "raw": text}, option=orjson.OPT_APPEND_NEWLINE)


# -- output ------------------------------------------------------------------------------------

def copy_into(dst: BinaryIO, src: Path) -> None:
    """Append a file's bytes to ``dst`` (in the kernel where the platform can)."""
    with src.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        copied = 0
        if hasattr(os, "copy_file_range"):
            dst.flush()
            try:
                while copied < size:
                    n = os.copy_file_range(fh.fileno(), dst.fileno(), size - copied)
                    if n == 0:
                        break
                    copied += n
                dst.seek(0, os.SEEK_END)
            except OSError:  # a file system without it: fall back to copying through Python
                fh.seek(copied)
        while chunk := fh.read(1 << 20):
            dst.write(chunk)


class TableWriter:
    """Writes scored rows (JSON Lines segments) as CSV or Parquet, with one fixed set of columns."""

    def __init__(self, fh: BinaryIO, fmt: str, fields: Sequence[str], types: dict[str, str] | None = None):
        self.fmt = fmt
        self.fields = list(fields)
        self._types = types or {}
        if fmt == "csv":
            self._text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
            self._csv = csv.DictWriter(self._text, fieldnames=self.fields, extrasaction="ignore")
            self._csv.writeheader()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._schema = pa.schema([(f, _arrow_type(f, self._types.get(f))) for f in self.fields])
            self._pq = pq.ParquetWriter(fh, self._schema, compression="zstd")

    def write_jsonl(self, data: bytes) -> None:
        """Append the rows of a block of JSON lines."""
        rows = [self._flatten(orjson.loads(ln)) for ln in data.splitlines() if ln]
        if self.fmt == "csv":
            self._csv.writerows(rows)
        elif rows:
            import pyarrow as pa

            self._pq.write_table(pa.Table.from_pylist(rows, schema=self._schema))

    def _flatten(self, rec: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k in self.fields:
            v = rec.get(k)
            if k == "red_flags":
                v = ";".join(v or ()) if self.fmt == "csv" else v
            elif v is None or isinstance(v, str) or (k in PREDICTION_FIELDS and k not in NESTED):
                pass
            elif k in self._types or (self.fmt == "csv" and not isinstance(v, (dict, list))):
                pass  # typed Parquet columns, and CSV cells, take numbers as they are
            else:
                v = orjson.dumps(v, default=_default).decode()
            out[k] = v
        return out

    def close(self) -> None:
        if self.fmt == "csv":
            self._text.flush()
            self._text.detach()
        else:
            self._pq.close()


def _arrow_type(field: str, declared: str | None) -> Any:
    import pyarrow as pa

    fixed = {"score": pa.float64(), "threshold": pa.float64(), "red_flags": pa.list_(pa.string())}
    if field in fixed:
        return fixed[field]
    if declared in ("int64", "double", "bool"):
        return {"int64": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}[declared]
    return pa.string()


def parquet_types(path: Path) -> dict[str, str]:
    """Input columns whose type a Parquet output keeps (integers, floats, booleans); others are text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for f in pq.ParquetFile(path).schema_arrow:
        if pa.types.is_integer(f.type):
            out[f.name] = "int64"
        elif pa.types.is_floating(f.type):
            out[f.name] = "double"
        elif pa.types.is_boolean(f.type):
            out[f.name] = "bool"
    return out
