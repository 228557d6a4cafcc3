"""Campaigns: flagged posts joined by near-duplicate text or a shared contact; and accounts.

Recruiters copy one template across many accounts and change little but the number. Posts are
joined (union-find) when their word shingles (the same normalised shingles the corpus splits use)
overlap above a Jaccard threshold, found with MinHash LSH and verified exactly, or when they share
a phone number, a Telegram handle or a bank account. Accounts get their own summary.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import sys
import zlib
from collections import Counter, defaultdict
from typing import Any, Sequence

NEAR_DUP_JACCARD = 0.7  # lower than the split's 0.8: a campaign's copies differ in numbers and names
COPY_JACCARD = 0.8  # a copy of a post: compared through the post it copies, never indexed itself
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


def _as_int(x: int) -> int:
    return x


_TEMPLATE: list[Any] = []


def _template() -> Any:
    """One MinHash whose permutations every post's copy reuses (creating them is the slow part)."""
    if not _TEMPLATE:
        from datasketch import MinHash

        _TEMPLATE.append(MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_as_int))
    return _TEMPLATE[0]


def signature(text: str) -> tuple[frozenset[int], Any]:
    """A post's shingles (as 32-bit CRCs: exact Jaccard on them, cheap to pass between processes)
    and their MinHash values (None for a post with no words)."""
    from ...data.splits import shingles

    sh = frozenset(zlib.crc32(x.encode()) for x in shingles(text))
    if not sh:
        return sh, None
    m = _template()  # one object reused: copying it per post costs more than hashing the post
    m.clear()
    m.update_batch(sh)
    return sh, m.hashvalues.copy()


def _signatures(texts: Sequence[str], jobs: int) -> list[tuple[frozenset[int], Any]]:
    if jobs > 1 and len(texts) >= _PARALLEL_FROM and "fork" in mp.get_all_start_methods() and sys.platform != "darwin":
        with mp.get_context("fork").Pool(jobs) as pool:
            return pool.map(signature, texts, chunksize=max(1, len(texts) // (jobs * 8)))
    return [signature(t) for t in texts]


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b)


def _bank_key(value: str) -> str:
    return re.sub(r"\D", "", value.split(" a.n. ")[0])


def group(rows: Sequence[dict[str, Any]], threshold: float | None = NEAR_DUP_JACCARD, jobs: int = 1,
          signatures: Sequence[tuple[frozenset[int], Any]] | None = None) -> list[list[int]]:
    """Campaigns as lists of row indices; each row's ``linked_by`` says what joined it to others.
    ``signatures`` (``signature`` of each row's text) may come computed already.

    Accounts are not an edge: one account posting two unrelated ads (or a handle reused on two
    platforms) would chain unrelated campaigns into one. Accounts are summarised on their own.
    """
    n = len(rows)
    uf = _UnionFind(n)
    links: list[set[str]] = [set() for _ in range(n)]

    def join(i: int, j: int, why: str) -> None:
        uf.union(i, j)
        links[i].add(why)
        links[j].add(why)

    first_of: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        for field, kind in SHARED_KINDS.items():
            for v in r[field]:
                j = first_of.setdefault((kind, _bank_key(v) if kind == "bank_account" else v), i)
                if j != i:
                    join(j, i, f"shared_{kind}")
    if threshold is not None:  # None: contacts only
        # imported here: datasketch takes longer to import than a small report takes to build
        from datasketch import LeanMinHash, MinHashLSH

        scheme = _template().scheme
        sigs = signatures if signatures is not None else _signatures([r["text"] for r in rows], jobs)
        lsh = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=NUM_PERM)  # generous: verified below
        seen: dict[frozenset[int], int] = {}
        # A post that nearly copies an indexed one is kept beside it, not indexed: hundreds of
        # copies of one template would otherwise fill the same LSH buckets and every query with them.
        copies: dict[int, list[int]] = {}
        for i, (sh, hv) in enumerate(sigs):
            if hv is None:
                continue
            if sh in seen:  # the same words again: no index lookup needed
                join(seen[sh], i, "near_duplicate_text")
                continue
            seen[sh] = i
            m = LeanMinHash(seed=1, hashvalues=hv, scheme=scheme)
            copy_of = -1
            for j in lsh.query(m):
                if uf.find(i) == uf.find(j):  # a pair already in one campaign needs no exact check
                    continue
                jac = _jaccard(sh, sigs[j][0])
                if jac >= threshold:
                    join(j, i, "near_duplicate_text")
                    copy_of = j if jac >= COPY_JACCARD and copy_of < 0 else copy_of
                    continue
                for c in copies.get(j, ()):  # j's copies were not indexed: they may be closer to i
                    if uf.find(i) != uf.find(c) and _jaccard(sh, sigs[c][0]) >= threshold:
                        join(c, i, "near_duplicate_text")
                        break
            if copy_of >= 0:
                copies.setdefault(copy_of, []).append(i)
            else:
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


def summarise_accounts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per (platform, account) that posted a flagged post, most posts first."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["account"]:
            by[(r["platform"], r["account"].lower())].append(r)
    out = []
    for (platform, _), members in by.items():
        times = [t for r in members for t in _seen(r)]
        out.append({
            "platform": platform,
            "account": members[0]["account"],
            "account_url": next((r["account_url"] for r in members if r["account_url"]), ""),
            "posts": len(members),
            "campaigns": sorted({r["campaign_id"] for r in members}),
            "first_seen": min(times) if times else "",
            "last_seen": max(times) if times else "",
            "max_score": max(r["score"] for r in members),
            "phones": sorted({v for r in members for v in r["phones"]}),
            "telegram_handles": sorted({v for r in members for v in r["telegram_handles"]}),
            "bank_accounts": sorted({v for r in members for v in r["bank_accounts"]}),
            "post_ids": [r["id"] for r in members],
        })
    out.sort(key=lambda a: (-a["posts"], a["platform"], a["account"].lower()))
    return out
