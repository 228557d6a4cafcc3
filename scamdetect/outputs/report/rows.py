"""One takedown-report row per flagged post: checked input, WIB times, contacts, category, legal basis.

Rows come from ``scamdetect score`` output (JSON Lines or CSV) or from ``Prediction.to_dict()``
merged with the post's own fields. Every problem names the row and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

import orjson
import yaml

# Indonesia's western time zone: UTC+7 all year (no daylight saving), so a fixed offset is exact.
WIB = timezone(timedelta(hours=7), "WIB")

REQUIRED = ("id", "score", "threshold", "model_id", "reasons", "entities")
# Scrapers name the same things differently; the first field present wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "url": ("url", "post_url", "permalink", "link"),
    "account": ("account", "account_handle", "author", "username", "user", "handle"),
    "account_url": ("account_url", "profile_url", "author_url"),
    "captured_at": ("captured_at", "capture_time", "scraped_at", "collected_at", "retrieved_at"),
    "posted_at": ("posted_at", "created_at", "published_at", "timestamp", "date"),
    "screenshot": ("screenshot", "screenshot_path"),
    "agency": ("agency", "agency_name", "company"),
}
PLATFORMS = {"fb": "facebook", "ig": "instagram", "twitter": "x", "tg": "telegram", "wa": "whatsapp",
             "yt": "youtube", "tt": "tiktok"}
# Where a handle's profile lives, for rows that give a handle but no profile URL.
PROFILE_URL = {"facebook": "https://www.facebook.com/{}", "instagram": "https://www.instagram.com/{}/",
               "tiktok": "https://www.tiktok.com/@{}", "x": "https://x.com/{}", "telegram": "https://t.me/{}",
               "youtube": "https://www.youtube.com/@{}", "threads": "https://www.threads.net/@{}"}
_HANDLE = re.compile(r"@?([A-Za-z0-9_.]{1,64})")
_JSON_COLUMNS = ("reasons", "mitigating", "terms", "entities")
# Decisions a reviewer may write, and the words people use for them.
DECISIONS = {"confirmed": ("confirmed", "confirm", "approved", "approve", "accept", "accepted", "valid", "yes",
                           "ok", "report"),
             "rejected": ("rejected", "reject", "false_positive", "fp", "invalid", "no", "not_scam", "dismiss",
                          "dismissed"),
             "pending": ("pending", "", "unsure", "skip", "todo")}
_DECISION_OF = {w: d for d, words in DECISIONS.items() for w in words}


class ReportInputError(ValueError):
    """The scored input or the review decisions cannot make a report; the message says where."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A reviewer's decision on one post."""

    decision: str
    reviewer: str = ""
    note: str = ""


@lru_cache(maxsize=1)
def default_legal() -> dict[str, Any]:
    """Categories and legal bases shipped with the library (legal.yaml)."""
    return yaml.safe_load(resources.files(__package__).joinpath("legal.yaml").read_text(encoding="utf-8"))


def read_scored(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a file written by ``scamdetect score`` (JSON Lines or CSV, by extension)."""
    p = Path(path)
    if not p.is_file():
        raise ReportInputError(f"scored file {p} not found")
    if p.suffix.lower() == ".csv":
        try:
            yield from _read_csv(p)
        except UnicodeDecodeError as exc:
            raise ReportInputError(f"{p}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        return
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        raise ReportInputError(f"cannot tell the format of {p} from its extension (.jsonl or .csv)")
    with p.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ReportInputError(f"{p}:{n}: not valid JSON ({exc})") from None
            if not isinstance(rec, dict):
                raise ReportInputError(f"{p}:{n}: a row must be a JSON object")
            yield rec


def _read_csv(p: Path) -> Iterator[dict[str, Any]]:
    with p.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            n = reader.line_num
            out: dict[str, Any] = {k: v for k, v in rec.items() if k is not None}
            for col in _JSON_COLUMNS:
                if isinstance(out.get(col), str):
                    try:
                        out[col] = orjson.loads(out[col] or "[]")
                    except orjson.JSONDecodeError:
                        raise ReportInputError(f"{p}:{n}: column {col!r} is not the JSON list "
                                               "`scamdetect score` writes") from None
            yield out


def read_decisions(path: str | Path) -> dict[str, Decision]:
    """Review decisions from a CSV with columns id, decision (and optionally reviewer, note).

    A later line for the same id replaces an earlier one, so decisions can be appended to one file.
    """
    p = Path(path)
    if not p.is_file():
        raise ReportInputError(f"decisions file {p} not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"{p}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    cols = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "id" not in cols or "decision" not in cols:
        raise ReportInputError(f"{p}: needs the columns id and decision (found: {', '.join(cols) or 'none'})")
    out: dict[str, Decision] = {}
    for rec in reader:
        pid = (rec.get(cols["id"]) or "").strip()
        if not pid:
            raise ReportInputError(f"{p}:{reader.line_num}: empty id")
        dec = parse_decision(rec.get(cols["decision"]), f"{p}:{reader.line_num}")
        out[pid] = Decision(dec, (rec.get(cols.get("reviewer", ""), "") or "").strip(),
                            (rec.get(cols.get("note", cols.get("notes", "")), "") or "").strip())
    return out


def parse_decision(value: Any, where: str) -> str:
    """The canonical decision (confirmed, rejected, pending) for a reviewer's word."""
    word = str(value or "").strip().lower().replace(" ", "_").replace("-", "_")
    if word not in _DECISION_OF:
        raise ReportInputError(f"{where}: unknown decision {value!r} (use confirmed, rejected or pending)")
    return _DECISION_OF[word]


def to_wib(value: Any, where: str) -> str:
    """An ISO 8601 time in WIB (+07:00) from an ISO string or a Unix time; naive times are UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise ReportInputError(f"{where}: not a time: {value!r}")
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{9,13}(?:\.\d+)?", value)):
            secs = float(value)
            dt = datetime.fromtimestamp(secs / 1000 if secs > 1e11 else secs, timezone.utc)  # ms or s
        elif isinstance(value, str):
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        else:
            raise TypeError
    except (ValueError, TypeError, OverflowError, OSError):
        raise ReportInputError(f"{where}: not an ISO 8601 time or a Unix time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)  # scrapers record UTC unless they say otherwise
    return dt.astimezone(WIB).isoformat(timespec="seconds")


def _first(rec: Mapping[str, Any], field: str) -> Any:
    for name in ALIASES[field]:
        v = rec.get(name)
        if v not in (None, ""):
            return v
    return ""


def _number(rec: Mapping[str, Any], field: str, where: str) -> float:
    v = rec[field]
    try:
        if isinstance(v, bool):
            raise TypeError
        x = float(v)
    except (TypeError, ValueError):
        raise ReportInputError(f"{where}: field {field!r} is not a number: {v!r}") from None
    if not 0.0 <= x <= 1.0 or math.isnan(x):
        raise ReportInputError(f"{where}: field {field!r} must be between 0 and 1, got {x}")
    return x


def check_record(rec: Mapping[str, Any], where: str, text_field: str) -> tuple[float, float]:
    """Fail on a row that lacks what every report row needs; return its score and threshold."""
    missing = [f for f in (*REQUIRED, text_field) if f not in rec or rec[f] is None]
    if missing:
        raise ReportInputError(f"{where}: missing required field(s) {', '.join(map(repr, missing))} "
                               "(expected a row written by `scamdetect score`)")
    if not isinstance(rec[text_field], str):
        raise ReportInputError(f"{where}: field {text_field!r} must be a string")
    for f in ("reasons", "entities"):
        if not isinstance(rec[f], list) or not all(isinstance(x, dict) for x in rec[f]):
            raise ReportInputError(f"{where}: field {f!r} must be a list of objects")
    if str(rec["id"]).strip() == "":
        raise ReportInputError(f"{where}: empty id")
    return _number(rec, "score", where), _number(rec, "threshold", where)


def contacts(entities: list[dict[str, Any]], platform: str) -> dict[str, list[str]]:
    """The contacts a report lists, deduplicated in order of appearance."""
    out: dict[str, list[str]] = {"phones": [], "whatsapp_links": [], "telegram_handles": [], "other_handles": [],
                                 "bank_accounts": [], "emails": [], "links": [], "destinations": []}
    for e in entities:
        kind, value = e.get("kind"), str(e.get("value", ""))
        if not value:
            continue
        if kind == "phone":
            key = "phones"
        elif kind == "whatsapp_link":
            key = "whatsapp_links"
        elif kind == "handle":
            # Telegram usernames ignore case; a bare handle in a Telegram post is a Telegram handle
            tg = e.get("platform") == "telegram" or (e.get("platform") is None and platform == "telegram")
            key, value = ("telegram_handles", value.lower()) if tg else ("other_handles", value)
        elif kind == "bank_account":
            key = "bank_accounts"
            if e.get("owner"):
                value = f"{value} a.n. {e['owner']}"
        elif kind == "email":
            key, value = "emails", value.lower()
        elif kind in ("url", "telegram_link"):
            key = "links"
        elif kind == "destination":
            key = "destinations"
        else:
            continue
        if value not in out[key]:
            out[key].append(value)
    return out


def red_flags(reasons: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Rule ids and, for each, its Indonesian description with the words it matched."""
    ids, described = [], []
    for r in reasons:
        rule = str(r.get("rule", ""))
        spans = "; ".join(f"«{s.get('text', '')}»" for s in (r.get("spans") or [])[:3] if isinstance(s, dict))
        ids.append(rule)
        described.append(f"{r.get('id') or rule}" + (f" (cocok: {spans})" if spans else ""))
    return ids, described


def category_of(rule_ids: list[str], destinations: list[str], legal: Mapping[str, Any]) -> str:
    """scam_overseas when the post points abroad, else scam_domestic."""
    abroad = any(d and d != "ID" for d in destinations)
    return "scam_overseas" if abroad or set(rule_ids) & set(legal["overseas_flags"]) else "scam_domestic"


def account_url(platform: str, account: str) -> str:
    """The profile URL of a handle on a known platform, or ''."""
    if platform == "whatsapp":  # a WhatsApp account is its number, written any way
        digits = re.sub(r"\D", "", account)
        return f"https://wa.me/{digits}" if 8 <= len(digits) <= 15 and not re.search(r"[A-Za-z]", account) else ""
    m = _HANDLE.fullmatch(account.strip())
    if not m:
        return ""
    tpl = PROFILE_URL.get(platform)
    return tpl.format(m.group(1)) if tpl else ""


def file_sha256(path: str, base: Path | None) -> str:
    """sha256 of a screenshot file, or '' when it is not there to read."""
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = base / p
    try:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return ""


def build_row(rec: Mapping[str, Any], where: str, *, text_field: str, model_version: str,
              legal: Mapping[str, Any], decision: Decision | None, screenshot_dir: Path | None) -> dict[str, Any]:
    """The report row of one flagged post (campaign id filled in later)."""
    platform = str(rec.get("platform") or "").strip().lower()
    platform = PLATFORMS.get(platform, platform)
    account = str(_first(rec, "account")).strip()
    url = str(_first(rec, "url")).strip()
    text = rec[text_field]
    ids, described = red_flags(rec["reasons"])
    found = contacts(rec["entities"], platform)
    category = category_of(ids, found["destinations"], legal)
    cat = legal["categories"][category]
    screenshot = str(_first(rec, "screenshot"))
    captured = to_wib(_first(rec, "captured_at"), f"{where}, capture time")
    posted = to_wib(_first(rec, "posted_at"), f"{where}, post time")
    acc_url = str(_first(rec, "account_url")).strip() or (account_url(platform, account) if account else "")
    missing = [name for name, v in (("url", url), ("platform", platform), ("account", account),
                                    ("captured_at", captured)) if not v]
    return {
        "id": str(rec["id"]),
        "campaign_id": "",
        "linked_by": [],
        "review_status": decision.decision if decision else "pending",
        "reviewer": decision.reviewer if decision else "",
        "review_note": decision.note if decision else "",
        "complete": not missing,
        "missing": missing,
        "platform": platform or "unknown",
        "post_url": url,
        "account": account,
        "account_url": acc_url,
        "captured_at_wib": captured,
        "posted_at_wib": posted,
        "text": text,
        "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "screenshot": screenshot,
        "screenshot_sha256": str(rec.get("screenshot_sha256") or "") or (
            file_sha256(screenshot, screenshot_dir) if screenshot else ""),
        "category": category,
        "category_label": cat["label"],
        "legal_basis": [legal["legal_basis"][k]["short"] for k in cat["legal_basis"]],
        "red_flags": ids,
        "red_flags_id": described,
        "score": round(float(rec["score"]), 6),
        "threshold": float(rec["threshold"]),
        "model_id": str(rec["model_id"]),
        "model_version": model_version,
        **found,
        "agency": str(_first(rec, "agency")),
    }
