"""Running all rule patterns over a post in one pass (see ``scamdetect.matching`` for why)."""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from typing import Callable, Iterable, Sequence

from ..matching import PatternSet, hyperscan_database
from ..normalize import Normalized
from .entities import Entity
from .rules import PatternRule, Rule, RuleHit

_BOUNDED = re.compile(r"\{(\d+),\d*\}")
_LOOKAROUND = re.compile(r"\(\?<?[!=](?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
Span = tuple[int, int]


def loosen(pattern: str) -> str:
    """A superset of ``pattern`` that automata handle well: no lookarounds, open-ended repeats."""
    return _BOUNDED.sub(lambda m: "*" if m.group(1) == "0" else "+", _LOOKAROUND.sub("", pattern))


def has_lookaround(pattern: str) -> bool:
    return _LOOKAROUND.search(pattern) is not None


def leftmost_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, leftmost first and longest at each start (what finditer would give)."""
    out: list[Span] = []
    for s, e in sorted(spans, key=lambda x: (x[0], -x[1])):
        if e > s and (not out or s >= out[-1][1]):
            out.append((s, e))
    return out


class _SpanScanner:
    """Hyperscan with start-of-match tracking: the spans of every pattern in one pass."""

    def __init__(self, patterns: Sequence[str]):
        import hyperscan

        self._db, self._scratch = hyperscan_database(patterns, hyperscan.HS_FLAG_SOM_LEFTMOST)
        self._lock = threading.Lock()  # a scratch space serves one scan at a time

    @staticmethod
    def _on_match(pattern: int, start: int, end: int, flags: int, found: list[tuple[int, int, int]]) -> None:
        found.append((pattern, start, end))

    def spans(self, text: str) -> dict[int, list[Span]]:
        """Pattern index -> its non-overlapping spans (character offsets)."""
        data = text.encode("utf-8", "surrogatepass")
        found: list[tuple[int, int, int]] = []
        with self._lock:
            self._db.scan(data, match_event_handler=self._on_match, context=found, scratch=self._scratch)
        if not found:
            return {}
        to_char = (lambda b: b) if len(data) == len(text) else _byte_to_char(text)
        by_pattern: dict[int, list[Span]] = {}
        for j, s, e in found:
            by_pattern.setdefault(j, []).append((s, e))
        return {j: [(to_char(s), to_char(e)) for s, e in leftmost_spans(f)] for j, f in by_pattern.items()}


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _byte_to_char(text: str) -> Callable[[int], int]:
    """Map UTF-8 byte offsets of ``text`` to character offsets (only non-ASCII characters shift them)."""
    byte_pos, extra = [], []
    total = 0
    for m in _NON_ASCII.finditer(text):
        total += len(m.group(0).encode("utf-8", "surrogatepass")) - 1
        byte_pos.append(m.start() + total)  # last byte of this character
        extra.append(total)

    def to_char(b: int) -> int:
        i = bisect_left(byte_pos, b)
        return b - (extra[i - 1] if i else 0)

    return to_char


class RuleSet:
    """Rules compiled for speed: one pass finds the spans of every plain pattern (Hyperscan); the
    others (lookarounds, bounded repeats, or any pattern without Hyperscan) are prefiltered in one
    pass and confirmed by Python's engine."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = list(rules)
        self._checks = [i for i, r in enumerate(self.rules) if not isinstance(r, PatternRule)]
        owner: list[tuple[int, int]] = []
        patterns: list[str] = []
        for i, rule in enumerate(self.rules):
            if isinstance(rule, PatternRule):
                for k, p in enumerate(rule.patterns):
                    owner.append((i, k))
                    patterns.append(p.pattern)
        # Start-of-match tracking is cheap for plain alternations but costly (and sometimes
        # impossible) for bounded repeats: those, and lookarounds, are prefiltered instead.
        exact = [j for j, p in enumerate(patterns) if not has_lookaround(p) and not _BOUNDED.search(p)]
        try:
            self._spans: _SpanScanner | None = _SpanScanner([patterns[j] for j in exact]) if exact else None
        except ImportError:  # Hyperscan builds for x86-64 only
            self._spans, exact = None, []
        verify = [j for j in range(len(patterns)) if j not in set(exact)]
        self._exact_owner = [owner[j] for j in exact]
        self._verify_owner = [owner[j] for j in verify]
        self._verify = PatternSet([loosen(patterns[j]) for j in verify])

    def apply(self, norm: Normalized, entities: Sequence[Entity]) -> list[RuleHit]:
        """All hits on one post, in rule order."""
        text = norm.text
        found: dict[int, list[Span]] = {}
        if self._spans is not None:
            for j, spans in self._spans.spans(text).items():
                found.setdefault(self._exact_owner[j][0], []).extend(spans)
        for j in self._verify.matching(text):
            i, k = self._verify_owner[j]
            pattern = self.rules[i].patterns[k]  # type: ignore[attr-defined]
            found.setdefault(i, []).extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
        for i in self._checks:
            if spans := self.rules[i].find(norm, entities):
                found[i] = spans
        return [self.rules[i].hit(norm, found[i]) for i in sorted(found) if found[i]]
