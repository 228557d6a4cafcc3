"""The one schema every post follows: the project's corpus and the external sets alike."""

from __future__ import annotations

from typing import Any

# category -> label (1 = recruitment scam)
CATEGORIES: dict[str, int] = {
    "scam_overseas": 1,
    "scam_domestic": 1,
    "legit_overseas": 0,
    "legit_domestic": 0,
    "awareness_news": 0,
    "other_social": 0,
}
PLATFORMS = frozenset({"facebook", "instagram", "tiktok", "x", "telegram", "whatsapp", "youtube", "linkedin",
                       "news", "website", "jobportal", "forum", "sms", "other"})
LANGS = frozenset({"id", "en", "mixed", "jv", "su", "min", "bjn", "mdr", "btk", "ms", "other"})
FIELDS: tuple[str, ...] = ("id", "text", "label", "category", "platform", "lang", "template_group",
                           "obfuscated", "notes")
SPLITS = ("train", "validation", "test")


def check_record(rec: Any) -> list[str]:
    """Problems with one corpus record (empty when it is valid)."""
    if not isinstance(rec, dict):
        return ["record is not a JSON object"]
    problems = []
    missing = [f for f in FIELDS if f not in rec]
    extra = [f for f in rec if f not in FIELDS]
    if missing:
        problems.append(f"missing fields: {', '.join(missing)}")
    if extra:
        problems.append(f"unknown fields: {', '.join(extra)}")
    for f in ("id", "text", "category", "platform", "lang", "template_group", "notes"):
        if f in rec and not isinstance(rec[f], str):
            problems.append(f"{f} must be a string")
    if isinstance(rec.get("text"), str) and not rec["text"].strip():
        problems.append("text is empty")
    cat = rec.get("category")
    if isinstance(cat, str):
        if cat not in CATEGORIES:
            problems.append(f"unknown category {cat!r} (one of {', '.join(CATEGORIES)})")
        elif rec.get("label") != CATEGORIES[cat] or isinstance(rec.get("label"), bool):
            problems.append(f"label {rec.get('label')!r} does not match category {cat} (expected {CATEGORIES[cat]})")
    if isinstance(rec.get("platform"), str) and rec["platform"] not in PLATFORMS:
        problems.append(f"unknown platform {rec['platform']!r}")
    if isinstance(rec.get("lang"), str) and rec["lang"] not in LANGS:
        problems.append(f"unknown lang {rec['lang']!r}")
    if "obfuscated" in rec and not isinstance(rec["obfuscated"], bool):
        problems.append("obfuscated must be true or false")
    return problems
