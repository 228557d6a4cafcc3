"""Report files: XLSX (summary sheet + one sheet per platform), CSV for bulk submission, a
self-contained printable HTML page (one section per campaign), and JSON.

Every file is written beside its destination and renamed when complete.
"""

from __future__ import annotations

import csv
import os
import re
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import orjson

from .build import Report
from .rows import ReportInputError

FORMATS = {".xlsx": "xlsx", ".csv": "csv", ".html": "html", ".htm": "html", ".json": "json"}
# Row fields in the order a reviewer reads them; lists are joined with SEP in CSV and XLSX.
COLUMNS = ("id", "campaign_id", "review_status", "reviewer", "review_note", "complete", "missing", "platform",
           "post_url", "account", "account_url", "captured_at_wib", "posted_at_wib", "category", "category_label",
           "legal_basis", "red_flags", "red_flags_id", "score", "threshold", "model_id", "model_version", "phones",
           "whatsapp_links", "telegram_handles", "other_handles", "bank_accounts", "emails", "links", "destinations",
           "agency", "text", "text_sha256", "screenshot", "screenshot_sha256", "linked_by")
CAMPAIGN_COLUMNS = ("campaign_id", "posts", "account_count", "accounts", "platforms", "shared_phones",
                    "shared_telegram_handles", "shared_bank_accounts", "first_seen", "last_seen", "max_score",
                    "categories", "top_red_flags", "linked_by", "incomplete_posts", "post_ids")
ACCOUNT_COLUMNS = ("platform", "account", "account_url", "posts", "campaigns", "first_seen", "last_seen", "max_score",
                   "phones", "telegram_handles", "bank_accounts", "post_ids")
SEP = " | "
_XLSX_MAX = 32_767  # characters a spreadsheet cell holds
# Values a spreadsheet could run as a formula; plain phone numbers and handles are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[+@]?[\w.]+")


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return SEP.join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def campaign_record(c: dict[str, Any]) -> dict[str, Any]:
    """A campaign summary with its shared contacts as separate columns."""
    shared = c["shared_contacts"]
    return {**c, "shared_phones": shared["phones"], "shared_telegram_handles": shared["telegram_handles"],
            "shared_bank_accounts": shared["bank_accounts"]}


@contextmanager
def _atomic(path: Path, mode: str = "w") -> Iterator[Any]:
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open(mode, **({"encoding": "utf-8", "newline": ""} if "b" not in mode else {})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def report_format(path: str | Path, fmt: str | None = None) -> str:
    """The report format: ``fmt`` if given, else from the file extension."""
    fmt = fmt or FORMATS.get(Path(path).suffix.lower())
    if fmt not in ("xlsx", "csv", "html", "json"):
        raise ReportInputError(f"cannot tell the report format of {path}: use .xlsx, .csv, .html or .json "
                               "(or --format)")
    return fmt


def write_report(report: Report, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``report`` as xlsx, csv, html or json (``fmt``, else from the extension)."""
    p = Path(path)
    fmt = report_format(p, fmt)
    {"xlsx": write_xlsx, "csv": write_csv, "html": write_html, "json": write_json}[fmt](report, p)
    return p


def write_json(report: Report, path: Path) -> None:
    """The whole report as one JSON document: report (metadata), campaigns, rows."""
    with _atomic(path, "wb") as fh:
        fh.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def _csv_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(value):
        return "'" + value  # OWASP CSV-injection advice; E.164 numbers and @handles stay as they are
    return value


def write_csv(report: Report, path: Path) -> None:
    """One line per post, every report field, lists joined with ' | ' (UTF-8; the XLSX is for Excel)."""
    with _atomic(path) as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows([_csv_safe(_flat(r[c])) for c in COLUMNS] for r in report.rows)


# -- XLSX -----------------------------------------------------------------------------------------

def _sheet_title(name: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\']", "_", name).strip() or "unknown"
    title, k = base[:31], 2
    while title.lower() in taken:
        suffix = f" ({k})"
        title, k = base[:31 - len(suffix)] + suffix, k + 1
    taken.add(title.lower())
    return title


def write_xlsx(report: Report, path: Path) -> None:
    """A Summary sheet (report details, counts, legal basis, campaigns), an Accounts sheet and one
    sheet of posts per platform."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell_value(ws: Any, v: Any) -> Any:
        v = _flat(v)
        if not isinstance(v, str):
            return v
        if not v:
            return None  # no cell at all: a third of a row is empty, and cells are what costs time
        v = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
        if len(v) > _XLSX_MAX:
            v = v[:_XLSX_MAX - 20] + " [... truncated]"
        if v.startswith("="):  # would be stored as a formula: force a string cell
            c = WriteOnlyCell(ws, value=v)
            c.data_type = "s"
            return c
        return v

    def header(ws: Any, names: tuple[str, ...] | list[str]) -> list[Any]:
        out = []
        for name in names:
            c = WriteOnlyCell(ws, value=name)
            c.font = bold
            out.append(c)
        return out

    def widths(ws: Any, names: tuple[str, ...], wide: dict[str, int]) -> None:
        for k, name in enumerate(names, 1):
            ws.column_dimensions[get_column_letter(k)].width = wide.get(name, max(10, min(len(name) + 2, 24)))

    taken: set[str] = set()
    ws = wb.create_sheet(_sheet_title("Summary", taken))
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 60
    title = WriteOnlyCell(ws, value=report.meta.get("title", "Takedown report"))
    title.font = Font(bold=True, size=14)
    ws.append([title])
    m = report.meta
    for key in ("generated_at_wib", "source", "selection", "scamdetect_version", "near_duplicate_jaccard"):
        ws.append([key, cell_value(ws, m.get(key))])
    for mod in m.get("models", []):
        ws.append(["model", f"{mod['model_version']} (threshold {mod['threshold']:.4f})"])
    ws.append([])
    ws.append(header(ws, ["count", "value"]))
    for key, value in m.get("counts", {}).items():
        ws.append([key, value])
    ws.append([])
    ws.append(header(ws, ["legal basis / dasar hukum", "text"]))
    wrap = Alignment(wrap_text=True, vertical="top")
    for short, text in m.get("legal_basis", {}).items():
        c = WriteOnlyCell(ws, value=text)
        c.alignment = wrap
        ws.append([short, c])
    ws.append([])
    ws.append(header(ws, CAMPAIGN_COLUMNS))
    for camp in report.campaigns:
        rec = campaign_record(camp)
        ws.append([cell_value(ws, rec[c]) for c in CAMPAIGN_COLUMNS])

    ws = wb.create_sheet(_sheet_title("Accounts", taken))
    widths(ws, ACCOUNT_COLUMNS, {"account": 28, "account_url": 40, "first_seen": 26, "last_seen": 26})
    ws.freeze_panes = "C2"
    ws.append(header(ws, ACCOUNT_COLUMNS))
    for acc in report.accounts:
        ws.append([cell_value(ws, acc[c]) for c in ACCOUNT_COLUMNS])

    by_platform: dict[str, list[dict[str, Any]]] = {}
    for r in report.rows:
        by_platform.setdefault(r["platform"], []).append(r)
    wide = {"text": 80, "red_flags_id": 60, "post_url": 40, "account_url": 32, "legal_basis": 40,
            "category_label": 32, "text_sha256": 20, "captured_at_wib": 26, "posted_at_wib": 26}
    for platform in sorted(by_platform):
        ws = wb.create_sheet(_sheet_title(platform, taken))
        widths(ws, COLUMNS, wide)
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(by_platform[platform]) + 1}"
        ws.append(header(ws, COLUMNS))
        for r in by_platform[platform]:
            ws.append([cell_value(ws, r[c]) for c in COLUMNS])
    if not by_platform:  # an empty report still says so on a sheet of its own
        ws = wb.create_sheet(_sheet_title("posts", taken))
        ws.append(header(ws, COLUMNS))
    with _atomic(path, "wb") as fh:
        wb.save(fh)


# -- HTML -----------------------------------------------------------------------------------------

def _href(url: Any) -> str:
    """A link target only for http(s) URLs: a javascript: or data: URL in a post is never a link."""
    try:
        return url if isinstance(url, str) and urlsplit(url).scheme.lower() in ("http", "https") else ""
    except ValueError:
        return ""


def _when(iso: str) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).strftime("%d-%m-%Y %H:%M WIB")


def write_html(report: Report, path: Path) -> None:
    """A self-contained page (inline CSS, no scripts, nothing fetched) with one section per campaign."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader(__package__, "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(href=_href, when=_when)
    tpl = env.get_template("report.html.j2")
    by_campaign: dict[str, list[dict[str, Any]]] = {}
    for r in report.rows:
        by_campaign.setdefault(r["campaign_id"], []).append(r)
    with _atomic(path) as fh:
        for chunk in tpl.generate(meta=report.meta, campaigns=report.campaigns, rows_of=by_campaign):
            fh.write(chunk)
