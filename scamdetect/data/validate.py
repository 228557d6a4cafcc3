"""`scamdetect data validate`: schema, labels, duplicates and split leakage, with counts."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .schema import CATEGORIES, SPLITS, check_record
from .sources import Row, corpus_files
from .splits import NEAR_DUP_JACCARD, crossing_pairs, load_splits, shingles

# What the corpus must hold at least (issue: distinct posts, scams, posts per category).
MIN_DISTINCT = 1500
MIN_SCAMS = 500
MIN_PER_CATEGORY = 150


@dataclass
class Report:
    """Problems found and the counts to print."""

    problems: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    split_of: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        """Counts per split and category, distinct template groups in brackets."""
        counts: Counter[tuple[str, str]] = Counter()
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.rows:
            side = self.split_of.get(str(r["template_group"]), "?")
            for key in ((side, str(r["category"])), ("all", str(r["category"])), (side, "total"), ("all", "total")):
                counts[key] += 1
                groups[key].add(str(r["template_group"]))
        cols = [*SPLITS, "all"]
        lines = [f"{'category':<16}" + "".join(f"{c:>18}" for c in cols)]
        for cat in [*CATEGORIES, "total"]:
            cells = "".join(f"{f'{counts[(c, cat)]} ({len(groups[(c, cat)])})':>18}" for c in cols)
            lines.append(f"{cat:<16}{cells}")
        return "\n".join(lines)


def validate(corpus: str | Path | None = None, splits_path: str | Path | None = None,
             threshold: float = NEAR_DUP_JACCARD, minimums: bool = True) -> Report:
    """Check every corpus file and the split map; collect all problems rather than stop at one."""
    rep = Report()
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    group_cat: dict[str, set[str]] = defaultdict(set)
    for f in corpus_files(corpus):
        with f.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                where = f"{f.name}:{n}"
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    rep.problems.append(f"{where}: bad JSON ({exc.msg})")
                    continue
                probs = check_record(rec)
                if probs:
                    rep.problems.append(f"{where}: {'; '.join(probs)}")
                    continue
                if rec["id"] in seen_ids:
                    rep.problems.append(f"{where}: duplicate id {rec['id']!r} (also at {seen_ids[rec['id']]})")
                seen_ids[rec["id"]] = where
                key = " ".join(sorted(shingles(rec["text"])))
                if key in seen_text:
                    rep.problems.append(f"{where}: same text as {seen_text[key]}")
                seen_text[key] = where
                group_cat[rec["template_group"]].add(rec["category"])
                rep.rows.append(rec)
    for g, cats in sorted(group_cat.items()):
        if len(cats) > 1:
            rep.problems.append(f"template group {g!r} mixes categories {sorted(cats)}")

    sp = Path(splits_path) if splits_path else corpus_files(corpus)[0].parent.parent / "splits.json"
    if not sp.exists():
        rep.problems.append(f"{sp} not found: run `scamdetect data split` to assign template groups to splits")
    else:
        rep.split_of = load_splits(sp)
        missing = sorted({str(r["template_group"]) for r in rep.rows} - set(rep.split_of))
        if missing:
            rep.problems.append(f"{len(missing)} template groups have no split (e.g. {missing[:3]}): "
                                "run `scamdetect data split`")
        for a, b, jac in crossing_pairs(rep.rows, rep.split_of, threshold):
            rep.problems.append(f"near-duplicate posts {a} and {b} (Jaccard {jac:.2f}) sit in different splits")

    if minimums:
        distinct = len(group_cat)
        scams = len({r["template_group"] for r in rep.rows if r["label"] == 1})
        if distinct < MIN_DISTINCT:
            rep.problems.append(f"only {distinct} distinct template groups (need {MIN_DISTINCT})")
        if scams < MIN_SCAMS:
            rep.problems.append(f"only {scams} distinct scam posts (need {MIN_SCAMS})")
        per_cat = Counter(next(iter(c)) for c in group_cat.values() if len(c) == 1)
        for cat in CATEGORIES:
            if per_cat[cat] < MIN_PER_CATEGORY:
                rep.problems.append(f"category {cat} has {per_cat[cat]} distinct posts (need {MIN_PER_CATEGORY})")
    return rep
