"""Realistic synthetic posts for benchmarks: corpus posts with fresh numbers, names and tags, so
that no two rows are identical (caches cannot flatter the figures)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
_TAGS = ["#loker", "#lowongankerja", "#infoloker", "#kerja", "#viral", "#fyp", "#jakarta", "#medan", "#promo", ""]
_PLATFORMS = ["facebook", "instagram", "tiktok", "x", "telegram", "whatsapp"]


def corpus_texts() -> list[str]:
    return [json.loads(line)["text"] for f in sorted((ROOT / "data" / "corpus").glob("*.jsonl"))
            for line in f.open(encoding="utf-8") if line.strip()]


def generate(n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` post records (id, url, account, platform, captured_at, text)."""
    rng = random.Random(seed)
    texts = corpus_texts()
    # fresh values for numbers (prices, phones, dates), keeping the first two digits so that phone
    # prefixes stay real; single digits inside words stay as written
    number = re.compile(r"(?<=\d\d)\d+")
    for i in range(n):
        text = number.sub(lambda m: str(rng.randrange(10 ** len(m.group(0)))).zfill(len(m.group(0))), rng.choice(texts))
        text = f"{text} {rng.choice(_TAGS)}".strip()
        yield {"id": f"p{i}", "url": f"https://example.social/p/{i}", "account": f"@user{rng.randint(1, n // 3 + 1)}",
               "platform": rng.choice(_PLATFORMS), "captured_at": f"2026-11-{rng.randint(1, 21):02d}T10:00:00+07:00",
               "text": text}


def write_jsonl(path: str | Path, n: int, seed: int = 0) -> Path:
    p = Path(path)
    with p.open("w", encoding="utf-8") as fh:
        for rec in generate(n, seed):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return p
