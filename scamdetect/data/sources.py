"""Readers for the project's corpus and the external sets in ../shared/data, all to one schema.

Each reader yields plain dicts with the fields of ``schema.LOADED_FIELDS``; ``loaders`` wraps them
in Hugging Face ``datasets``. External texts are real and stay in ../shared: never copy them here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path
from typing import Callable, Iterator

from ..config import data_dir, shared_dir
from .schema import CATEGORIES, check_record

Row = dict[str, object]


class DataMissingError(FileNotFoundError):
    """A data file the caller asked for is not there."""


def corpus_files(path: str | Path | None = None) -> list[Path]:
    """The corpus JSONL files: one file, or every ``*.jsonl`` in a folder (default data/corpus)."""
    p = Path(path) if path else data_dir() / "corpus"
    if p.is_file():
        return [p]
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else []
    if not files:
        raise DataMissingError(f"no corpus found at {p} (expected JSON Lines files; set SCAMDETECT_DATA or pass a path)")
    return files


def read_corpus(path: str | Path | None = None, strict: bool = True) -> Iterator[Row]:
    """Corpus records with ``source`` = "corpus"; invalid lines raise ValueError when ``strict``."""
    for f in corpus_files(path):
        with f.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    if strict:
                        raise ValueError(f"{f.name}:{n}: bad JSON: {exc}") from None
                    continue
                problems = check_record(rec)
                if problems:
                    if strict:
                        raise ValueError(f"{f.name}:{n}: {'; '.join(problems)}")
                    continue
                yield {**rec, "source": "corpus"}


def _shared_file(rel: str) -> Path:
    root = shared_dir()
    p = root / "data" / rel
    if not p.exists():
        raise DataMissingError(
            f"{p} not found. External data lives in ../shared/data beside the project "
            f"(or set SCAMDETECT_SHARED); see data/README.md for where to get each set."
        )
    return p


def _row(id_: str, text: str, label: int, category: str, platform: str, lang: str, group: str,
         source: str, notes: str = "") -> Row:
    return {"id": id_, "text": text, "label": label, "category": category, "platform": platform,
            "lang": lang, "template_group": group, "obfuscated": False, "notes": notes, "source": source}


def read_hard_negatives() -> Iterator[Row]:
    """Real news / warning passages and lawful overseas notices (label 0); grouped by article."""
    with _shared_file("real-hard-negatives/hard_negatives.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            cat = r["category"] if r["category"] in CATEGORIES else "awareness_news"
            yield _row(r["id"], r["text"], 0, cat, "news" if cat == "awareness_news" else "website", "id",
                       "hn:" + (r.get("source") or r["id"]), "hardneg", r.get("outlet", ""))


def _csv_rows(rel: str) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 26)
    with _shared_file(rel).open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def read_lokerid() -> Iterator[Row]:
    """Real Indonesian job-portal ads (presumed legitimate); grouped by company."""
    for r in _csv_rows("lokerid-postings/job_postings_processed.csv"):
        text = f"{r['Title']}\n{r['Company']} - {r['Location']}\n{r['Description']}".strip()
        yield _row(f"lokerid-{r['Job ID']}", text, 0, "legit_domestic", "jobportal", "id",
                   "lokerid:" + r["Company"].strip().lower(), "lokerid")


def read_sms() -> Iterator[Row]:
    """Indonesian SMS (normal / fraud / promo): none are job ads, so all are label 0 here."""
    kinds = {"0": "normal", "1": "penipuan", "2": "promo"}
    for i, r in enumerate(_csv_rows("id-sms-spam/dataset_sms_spam_v1.csv")):
        yield _row(f"sms-{i}", r["Teks"], 0, "other_social", "sms", "id", f"sms:{i}", "sms",
                   f"sms:{kinds.get(r['label'], r['label'])}")


def read_judol() -> Iterator[Row]:
    """YouTube comments, gambling promotion or normal: heavy look-alike letters, not job ads."""
    seen: set[str] = set()
    for i, r in enumerate(_csv_rows("id-judol-youtube/judol_comments_noauthor.csv")):
        if r["comment"] in seen:
            continue
        seen.add(r["comment"])
        yield _row(f"judol-{i}", r["comment"], 0, "other_social", "youtube", "id", f"judol:{i}", "judol",
                   "judol:promo" if r["label"] == "1" else "judol:normal")


def read_emscad() -> Iterator[Row]:
    """English job ads from EMSCAD; fraudulent ones are fake job ads (label 1, scam_domestic)."""
    seen: set[str] = set()
    for r in _csv_rows("emscad-subset/fake_job_postings_subset3083.csv"):
        parts = [r["title"], r["location"], r["salary_range"], r["company_profile"], r["description"],
                 r["requirements"], r["benefits"]]
        text = "\n".join(p for p in parts if p).strip()
        if text in seen:
            continue
        seen.add(text)
        fraud = r["fraudulent"] == "1"
        yield _row(f"emscad-{r['job_id']}", text, int(fraud), "scam_domestic" if fraud else "legit_domestic",
                   "jobportal", "en", f"emscad:{r['job_id']}", "emscad")


# The tafsir file is long religious prose: a few lines are enough to keep the model honest.
_UNLABELED_SHARE = {"quran-kemenag-tafsir-id.txt": 0.1}


def read_unlabeled(per_file: int = 400, seed: int = 13) -> Iterator[Row]:
    """A seeded sample of real Indonesian social-media, news and review lines (no job offers)."""
    folder = _shared_file("unlabeled-id")
    rng = random.Random(seed)
    seen: set[str] = set()
    for f in sorted(folder.glob("*.txt")):
        lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()]
        lines = [ln for ln in lines if len(ln) >= 30]
        k = min(len(lines), int(per_file * _UNLABELED_SHARE.get(f.name, 1.0)))
        for ln in rng.sample(lines, k):
            if ln in seen:
                continue
            seen.add(ln)
            h = hashlib.md5(ln.encode()).hexdigest()[:12]
            yield _row(f"unl-{h}", ln, 0, "other_social", "other", "id", f"unl:{h}", "unlabeled", f.stem)


EXTERNAL: dict[str, Callable[[], Iterator[Row]]] = {
    "hardneg": read_hard_negatives,
    "lokerid": read_lokerid,
    "unlabeled": read_unlabeled,
    "judol": read_judol,
    "sms": read_sms,
    "emscad": read_emscad,
}

