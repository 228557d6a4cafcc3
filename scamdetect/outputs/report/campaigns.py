"""Campaigns: flagged posts joined by the same account, near-duplicate text or a shared contact.

Recruiters copy one template across many accounts and change little but the number. Posts are
joined (union-find) when they come from the same account, when their word shingles (the same
normalised shingles the corpus splits use) overlap above a Jaccard threshold, found with MinHash
LSH and verified exactly, or when they share a phone number, a Telegram handle or a bank account.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import sys
from collections import Counter, defaultdict
from typing import Any, Sequence

NEAR_DUP_JACCARD = 0.7  # lower than the split's 0.8: a campaign's copies differ in numbers and names
NUM_PERM = 64  # candidates are verified on the exact shingles, so a short signature is enough
SHARED_KINDS = {"phones": "phone", "telegram_handles": "telegram", "bank_accounts": "bank_account"}
_PARALLEL_FROM = 4000  # below this, starting worker processes costs more than it saves


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def _shingle_all(texts: Sequence[str], jobs: int) -> list[set[str]]:
    from ...data.splits import shingles

    if jobs > 1 and len(texts) >= _PARALLEL_FROM and "fork" in mp.get_all_start_methods() and sys.platform != "darwin":
        with mp.get_context("fork").Pool(jobs) as pool:
            return pool.map(shingles, texts, chunksize=max(1, len(texts) // (jobs * 8)))
    return [shingles(t) for t in texts]


def _bank_key(value: str) -> str:
    return re.sub(r"\D", "", value.split(" a.n. ")[0])


def group(rows: Sequence[dict[str, Any]], threshold: float | None = NEAR_DUP_JACCARD,
          jobs: int = 1) -> list[list[int]]:
    """Campaigns as lists of row indices; each row's ``linked_by`` says what joined it to others."""
    n = len(rows)
    uf = _UnionFind(n)
    links: list[set[str]] = [set() for _ in range(n)]

    def join(i: int, j: int, why: str) -> None:
        uf.union(i, j)
        links[i].add(why)
        links[j].add(why)

    first_of: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        keys = [("account", f"{r['platform']}:{r['account'].lower()}")] if r["account"] else []
        for field, kind in SHARED_KINDS.items():
            keys += [(kind, _bank_key(v) if kind == "bank_account" else v) for v in r[field]]
        for key in keys:
            j = first_of.setdefault(key, i)
            if j != i:
                join(j, i, "same_account" if key[0] == "account" else f"shared_{key[0]}")
    if threshold is not None:  # None: contacts and accounts only
        # imported here: datasketch takes longer to import than a small report takes to build
        from datasketch import MinHash, MinHashLSH

        from ...data.splits import jaccard

        sh = _shingle_all([r["text"] for r in rows], jobs)
        lsh = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=NUM_PERM)  # generous: verified below
        seen: dict[frozenset[str], int] = {}
        todo = []
        for i, s in enumerate(sh):
            if not s:
                continue
            key = frozenset(s)
            if key in seen:  # the same text again: no signature needed
                join(seen[key], i, "near_duplicate_text")
            else:
                seen[key] = i
                todo.append(i)
        sigs = MinHash.generator([[x.encode() for x in sh[i]] for i in todo], num_perm=NUM_PERM, seed=1)
        for i, m in zip(todo, sigs):
            for j in lsh.query(m):
                # a pair already in one campaign needs no exact check
                if uf.find(i) != uf.find(j) and jaccard(sh[i], sh[j]) >= threshold:
                    join(j, i, "near_duplicate_text")
            lsh.insert(i, m, check_duplication=False)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members[uf.find(i)].append(i)
    for i, r in enumerate(rows):
        r["linked_by"] = sorted(links[i])
    return list(members.values())


def _seen(r: dict[str, Any]) -> list[str]:
    return [t for t in (r["posted_at_wib"], r["captured_at_wib"]) if t]


def summarise(rows: Sequence[dict[str, Any]], groups: list[list[int]]) -> list[dict[str, Any]]:
    """Campaign summaries, largest first; sets each row's ``campaign_id`` (C0001, C0002, ...)."""
    summaries = []
    for idx in groups:
        members = [rows[i] for i in idx]
        times = [t for r in members for t in _seen(r)]
        shared: dict[str, list[str]] = {}
        for field in SHARED_KINDS:
            counts = Counter(v for r in members for v in r[field])
            shared[field] = sorted(v for v, c in counts.items() if c > 1)
        accounts = sorted({f"{r['account']} ({r['platform']})" for r in members if r["account"]})
        flags = Counter(f for r in members for f in r["red_flags"])
        summaries.append({
            "campaign_id": "",
            "posts": len(members),
            "post_ids": [r["id"] for r in members],
            "accounts": accounts,
            "account_count": len(accounts),
            "platforms": sorted({r["platform"] for r in members}),
            "shared_contacts": shared,
            "contacts": {f: sorted({v for r in members for v in r[f]}) for f in ("phones", "telegram_handles",
                                                                                  "bank_accounts")},
            "linked_by": sorted({w for r in members for w in r["linked_by"]}),
            "first_seen": min(times) if times else "",
            "last_seen": max(times) if times else "",
            "max_score": max(r["score"] for r in members),
            "categories": sorted({r["category"] for r in members}),
            "top_red_flags": [f for f, _ in flags.most_common(5)],
            "incomplete_posts": sum(not r["complete"] for r in members),
            "_members": idx,
        })
    summaries.sort(key=lambda c: (-c["posts"], c["first_seen"] or "~", min(c["post_ids"])))
    for k, c in enumerate(summaries, 1):
        c["campaign_id"] = f"C{k:04d}"
        for i in c.pop("_members"):
            rows[i]["campaign_id"] = c["campaign_id"]
    return summaries
