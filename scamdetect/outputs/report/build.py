"""build_report: scored posts in, a takedown report (rows, campaigns, metadata) out."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import sys
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import orjson

from ...config import models_dir
from . import campaigns as camp
from .rows import WIB, Decision, ReportInputError, build_row, check_record, default_legal, parse_decision, read_scored


@dataclass
class Report:
    """A takedown report: one row per flagged post, campaign summaries and what made the report."""

    rows: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    accounts: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"report": metadata, "campaigns": [...], "accounts": [...], "rows": [...]}."""
        return {"report": self.meta, "campaigns": self.campaigns, "accounts": self.accounts, "rows": self.rows}

    def summary_line(self) -> str:
        c = self.meta["counts"]
        return (f"read {c['read']}, flagged {c['flagged']}, rejected by review {c['rejected_by_review']}; "
                f"report: {c['rows']} posts ({c['incomplete']} incomplete) from {c['accounts']} accounts in {c['campaigns']} campaigns "
                f"({c['multi_post_campaigns']} with more than one post)")


def known_models(extra: Iterable[str | Path] = ()) -> list[dict[str, Any]]:
    """Manifests of the models a scored file may come from: every model under models/ and ``extra``.

    Only the manifest is read (not the weights), so this is cheap and works for any model kind. A
    broken manifest under models/ is skipped (a model being written must not stop every report);
    one in ``extra`` was asked for, so it raises ``ReportInputError``.
    """
    root = models_dir()
    found = sorted(p for p in root.glob("*") if (p / "manifest.json").is_file()) if root.is_dir() else []
    out = []
    for d, asked in [*((d, False) for d in found), *((Path(d), True) for d in extra)]:
        try:
            out.append(_manifest(d))
        except ReportInputError:
            if asked:
                raise
    return out


def _manifest(d: Path) -> dict[str, Any]:
    mpath = d / "manifest.json"
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"cannot read the model manifest {mpath} ({exc})") from None
    if not isinstance(m, dict) or "model_id" not in m or not isinstance(m.get("threshold"), (int, float)):
        raise ReportInputError(f"{mpath} is not a scamdetect model manifest (no model_id and threshold)")
    return m


def _version(m: Mapping[str, Any]) -> str:
    return f"{m['model_id']}@{m.get('created', '?')}"


class _ModelCheck:
    """Which (model id, threshold) pairs came from a known model version."""

    def __init__(self, manifests: Iterable[Mapping[str, Any]]):
        self.by_id: dict[str, list[Mapping[str, Any]]] = {}
        for m in manifests:
            self.by_id.setdefault(str(m["model_id"]), []).append(m)
        self.cache: dict[tuple[str, float], str] = {}

    def version(self, model_id: str, threshold: float, where: str) -> str:
        key = (model_id, threshold)
        if key in self.cache:
            return self.cache[key]
        if model_id not in self.by_id:
            known = ", ".join(sorted(self.by_id)) or "none"
            raise ReportInputError(f"{where}: scored by model {model_id!r}, which is not a known model (known: "
                                   f"{known}); pass its model directory (--model DIR)")
        for m in self.by_id[model_id]:
            if math.isclose(float(m["threshold"]), threshold, rel_tol=1e-9, abs_tol=1e-12):
                self.cache[key] = _version(m)
                return self.cache[key]
        have = ", ".join(f"{float(m['threshold']):.6f} ({_version(m)})" for m in self.by_id[model_id])
        raise ReportInputError(f"{where}: scored by an unknown version of {model_id!r} (threshold {threshold:.6f}; "
                               f"known: {have}); rescore the posts or pass that model's directory (--model DIR)")


def _decisions(decisions: Mapping[str, str | Decision] | None) -> dict[str, Decision]:
    out = {}
    for k, v in (decisions or {}).items():
        out[str(k)] = v if isinstance(v, Decision) else Decision(parse_decision(v, f"decision for id {k!r}"))
    return out


@dataclass
class _Selection:
    """What one pass over scored records found: every id with its row number, the report rows
    (with their text signatures when computed in the pass) and the counts."""

    ids: list[tuple[str, int]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[Any] = field(default_factory=list)
    below: int = 0
    rejected: int = 0
    versions: dict[str, tuple[str, float]] = field(default_factory=dict)

    def extend(self, other: _Selection) -> None:
        self.ids += other.ids
        self.rows += other.rows
        self.signatures += other.signatures
        self.below += other.below
        self.rejected += other.rejected
        self.versions.update(other.versions)


@dataclass
class _Selector:
    """Checks each scored record and keeps the flagged, not rejected ones as report rows."""

    min_score: float | None
    decided: dict[str, Decision]
    check: _ModelCheck
    text_field: str
    legal: Mapping[str, Any]
    shots: Path | None
    source: str
    unit: str = "row"
    sign: bool = False  # compute text signatures here (in worker processes)

    def select(self, numbered: Iterable[tuple[int, Any]]) -> _Selection:
        out = _Selection()
        for n, rec in numbered:
            where = f"{self.unit} {n}" + (f" of {self.source}" if self.source else "")
            if not isinstance(rec, Mapping):
                raise ReportInputError(f"{where}: a row must be an object, got {type(rec).__name__}")
            if "id" in rec:
                where += f" (id {str(rec['id'])!r})"
            score, threshold = check_record(rec, where, self.text_field)
            version = self.check.version(str(rec["model_id"]), threshold, where)
            out.versions[version] = (str(rec["model_id"]), threshold)
            pid = str(rec["id"])
            out.ids.append((pid, n))
            if score < (threshold if self.min_score is None else self.min_score):
                out.below += 1
                continue
            dec = self.decided.get(pid)
            if dec is not None and dec.decision == "rejected":
                out.rejected += 1
                continue
            row = build_row(rec, where, text_field=self.text_field, model_version=version, legal=self.legal,
                            decision=dec, screenshot_dir=self.shots)
            out.rows.append(row)
            if self.sign:
                out.signatures.append(camp.signature(row["text"]))
        return out


def _selector(min_score: float | None, decisions: Mapping[str, str | Decision] | None,
              models: Iterable[Mapping[str, Any]] | None, text_field: str, near_duplicate: float | None,
              legal: Mapping[str, Any] | None, screenshot_dir: str | Path | None, source: str) -> _Selector:
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ReportInputError(f"min_score must be between 0 and 1, got {min_score}")
    if near_duplicate is not None and not 0.0 < near_duplicate <= 1.0:
        raise ReportInputError(f"near_duplicate must be a Jaccard similarity in (0, 1], got {near_duplicate}")
    return _Selector(min_score, _decisions(decisions), _ModelCheck(known_models() if models is None else models),
                     text_field, legal or default_legal(), Path(screenshot_dir) if screenshot_dir else None, source)


def build_report(records: Iterable[Mapping[str, Any]], *, min_score: float | None = None,
                 decisions: Mapping[str, str | Decision] | None = None,
                 models: Iterable[Mapping[str, Any]] | None = None, text_field: str = "text",
                 near_duplicate: float | None = camp.NEAR_DUP_JACCARD, legal: Mapping[str, Any] | None = None,
                 screenshot_dir: str | Path | None = None, source: str = "", jobs: int = 1) -> Report:
    """Keep the posts flagged at their model's threshold (or ``min_score``), drop those a reviewer
    rejected, and group the rest into campaigns and by account.

    ``records`` are rows as ``scamdetect score`` writes them. ``models`` are the manifests of the
    models a row may be scored by (default: every model under models/); a row scored by another
    model or another version of one raises ``ReportInputError``, as does a missing required field.
    ``decisions`` maps post id to confirmed / rejected / pending; ``near_duplicate`` is the shingle
    Jaccard at which two texts join one campaign (None: by shared contacts only). Rows without a
    URL, account or capture time are kept and marked incomplete.
    """
    sel = _selector(min_score, decisions, models, text_field, near_duplicate, legal, screenshot_dir, source)
    return _assemble(sel, sel.select(enumerate(records, 1)), near_duplicate, jobs)


def build_report_file(path: str | Path, *, jobs: int = 1, **options: Any) -> Report:
    """``build_report`` over a scored file (JSON Lines or CSV). With ``jobs`` > 1, worker processes
    parse, check and select blocks of a JSON Lines file and hash the texts, so the parent process
    only groups and summarises."""
    p = Path(path)
    fork = "fork" in mp.get_all_start_methods() and sys.platform != "darwin"
    if jobs <= 1 or not fork or p.suffix.lower() not in (".jsonl", ".ndjson") or not p.is_file():
        return build_report(read_scored(p), jobs=jobs, **{"source": p.name, **options})
    near = options.get("near_duplicate", camp.NEAR_DUP_JACCARD)
    sel = _selector(options.get("min_score"), options.get("decisions"), options.get("models"),
                    options.get("text_field", "text"), near, options.get("legal"), options.get("screenshot_dir"),
                    options.get("source", p.name))
    sel.unit, sel.sign = "line", near is not None
    _WORKER["selector"] = sel  # forked workers inherit it
    found = _Selection()
    try:
        with mp.get_context("fork").Pool(jobs) as pool:
            for part in pool.imap(_select_block, _blocks(p)):
                found.extend(part)
    finally:
        _WORKER.clear()
    return _assemble(sel, found, near, jobs)


_WORKER: dict[str, _Selector] = {}
_BLOCK = 1 << 20  # bytes of JSON Lines per work unit


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
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


def _select_block(unit: tuple[int, bytes]) -> _Selection:
    sel = _WORKER["selector"]
    first, block = unit

    def records() -> Iterator[tuple[int, Any]]:
        for k, line in enumerate(block.split(b"\n")):
            if line.strip():
                try:
                    yield first + k, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ReportInputError(f"{sel.source}:{first + k}: not valid JSON ({exc})") from None

    return sel.select(records())


def _assemble(sel: _Selector, found: _Selection, near_duplicate: float | None, jobs: int) -> Report:
    seen: dict[str, int] = {}
    for pid, n in found.ids:
        if pid in seen:
            where = f"{sel.unit} {n}" + (f" of {sel.source}" if sel.source else "")
            raise ReportInputError(f"{where} (id {pid!r}): id {pid!r} already used by {sel.unit} {seen[pid]}; "
                                   "ids must be unique")
        seen[pid] = n
    rows = found.rows
    groups = camp.group(rows, near_duplicate, jobs=jobs, signatures=found.signatures or None)
    campaigns = camp.summarise(rows, groups)
    order = {c["campaign_id"]: k for k, c in enumerate(campaigns)}
    # within a campaign, each account's posts together
    rows.sort(key=lambda r: (order[r["campaign_id"]], r["platform"], r["account"].lower(), -r["score"], r["id"]))
    accounts = camp.summarise_accounts(rows)
    legal = sel.legal
    used = sorted({k for c in legal["categories"].values() for k in c["legal_basis"]})
    status = {s: sum(r["review_status"] == s for r in rows) for s in ("confirmed", "pending")}
    read = len(found.ids)
    meta = {
        "title": "Daftar laporan takedown: perekrutan kerja palsu / online scam",
        "generated_at_wib": datetime.now(WIB).isoformat(timespec="seconds"),
        "source": sel.source,
        "selection": "score >= model threshold" if sel.min_score is None else f"score >= {sel.min_score}",
        "min_score": sel.min_score,
        "models": [{"model_version": v, "model_id": mid, "threshold": t}
                   for v, (mid, t) in sorted(found.versions.items())],
        "near_duplicate_jaccard": near_duplicate,
        "counts": {"read": read, "flagged": read - found.below, "below_threshold": found.below,
                   "rejected_by_review": found.rejected, "rows": len(rows), **status,
                   "incomplete": sum(not r["complete"] for r in rows), "accounts": len(accounts),
                   "campaigns": len(campaigns), "multi_post_campaigns": sum(c["posts"] > 1 for c in campaigns),
                   "decisions": len(sel.decided), "decisions_unmatched": len(set(sel.decided) - set(seen))},
        "categories": {k: {"label": v["label"], "en": v["en"]} for k, v in legal["categories"].items()},
        "legal_basis": {legal["legal_basis"][k]["short"]: legal["legal_basis"][k]["text"] for k in used},
        "scamdetect_version": _package_version(),
    }
    return Report(rows, campaigns, accounts, meta)


def _package_version() -> str:
    try:
        return metadata.version("scamdetect")
    except metadata.PackageNotFoundError:
        return "unknown"
