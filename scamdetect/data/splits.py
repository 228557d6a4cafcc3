"""Template-grouped train / validation / test splits with no near-duplicate across them.

Posts that share a template group, or whose word shingles overlap above the threshold (found with
MinHash LSH), form one component; whole components go to one side, stratified by category.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from datasketch import MinHash, MinHashLSH

from ..normalize import normalize
from .schema import SPLITS

# Runs of letters and digits: the same words as splitting at every non-alphanumeric character
# (\w is str.isalnum() plus "_"), without a Python step per character.
_WORD = re.compile(r"[^\W_]+")
DEFAULT_SEED = 13
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
NEAR_DUP_JACCARD = 0.8


def shingles(text: str, k: int = 3) -> set[str]:
    """Word k-shingles of the normalised text (disguised copies of a post still collide)."""
    words = _WORD.findall(normalize(text).text)
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def near_duplicate_pairs(texts: Sequence[str], threshold: float = NEAR_DUP_JACCARD,
                         num_perm: int = 128) -> list[tuple[int, int, float]]:
    """Index pairs whose shingle Jaccard is at least ``threshold`` (LSH candidates, verified exactly)."""
    sh = [shingles(t) for t in texts]
    lsh = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=num_perm)
    pairs = []
    for i, s in enumerate(sh):
        if not s:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([x.encode() for x in s])
        for j in lsh.query(m):
            jac = jaccard(s, sh[j])
            if jac >= threshold:
                pairs.append((j, i, jac))
        lsh.insert(i, m)
    return sorted(pairs)


def components(rows: Sequence[Mapping], threshold: float = NEAR_DUP_JACCARD) -> dict[str, str]:
    """Template group -> component id, joining groups that hold near-duplicate texts."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups = [str(r["template_group"]) for r in rows]
    for g in groups:
        find(g)
    for i, j, _ in near_duplicate_pairs([str(r["text"]) for r in rows], threshold):
        a, b = find(groups[i]), find(groups[j])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {g: find(g) for g in groups}


def assign_splits(rows: Sequence[Mapping], seed: int = DEFAULT_SEED,
                  fractions: Sequence[float] = DEFAULT_FRACTIONS,
                  threshold: float = NEAR_DUP_JACCARD, existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """Template group -> split, whole components per side, each category split by ``fractions``.

    Groups already in ``existing`` keep their side (and pull their component with them), so adding
    posts to the corpus never moves old ones between splits.
    """
    existing = existing or {}
    comp = components(rows, threshold)
    size: Counter[str] = Counter()
    cats: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        c = comp[str(r["template_group"])]
        size[c] += 1
        cats[c][str(r["category"])] += 1
    fixed: dict[str, Counter[str]] = defaultdict(Counter)
    for g, c in comp.items():
        if g in existing:
            fixed[c][existing[g]] += 1
    by_cat: dict[str, list[str]] = defaultdict(list)
    for c in sorted(size):
        by_cat[cats[c].most_common(1)[0][0]].append(c)
    rng = random.Random(seed)
    comp_split: dict[str, str] = {}
    for cat in sorted(by_cat):
        members = by_cat[cat]
        rng.shuffle(members)
        total = sum(size[c] for c in members)
        filled = dict.fromkeys(SPLITS, 0)
        for c in members:
            if c in fixed:
                comp_split[c] = fixed[c].most_common(1)[0][0]
                filled[comp_split[c]] += size[c]
        for c in members:
            if c in comp_split:
                continue
            # the side furthest below its share takes the next component
            side = max(SPLITS, key=lambda s: fractions[SPLITS.index(s)] * total - filled[s])
            comp_split[c] = side
            filled[side] += size[c]
    return {g: comp_split[c] for g, c in comp.items()}


def stable_split(group: str, seed: int = DEFAULT_SEED, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """Split of an external group by a seeded hash: stable as the external sets grow."""
    h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for side, f in zip(SPLITS, fractions):
        acc += f
        if h < acc:
            return side
    return SPLITS[-1]


def save_splits(path: str | Path, mapping: Mapping[str, str], seed: int, fractions: Sequence[float],
                threshold: float) -> None:
    """Write the group -> split map with the settings that made it."""
    doc = {"seed": seed, "fractions": list(fractions), "near_duplicate_jaccard": threshold,
           "counts": dict(Counter(mapping.values())), "groups": dict(sorted(mapping.items()))}
    Path(path).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_splits(path: str | Path) -> dict[str, str]:
    """Read a group -> split map written by ``save_splits``."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(doc["groups"])


def crossing_pairs(rows: Sequence[Mapping], split_of: Mapping[str, str],
                   threshold: float = NEAR_DUP_JACCARD) -> list[tuple[str, str, float]]:
    """Near-duplicate pairs (by id) whose posts sit in different splits."""
    out = []
    for i, j, jac in near_duplicate_pairs([str(r["text"]) for r in rows], threshold):
        a, b = rows[i], rows[j]
        if split_of.get(str(a["template_group"])) != split_of.get(str(b["template_group"])):
            out.append((str(a["id"]), str(b["id"]), jac))
    return out

