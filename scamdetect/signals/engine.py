"""Running all rule patterns over a post in one pass.

Python's regex engine costs about 13 µs per pattern on a 300-character post, and a post can meet
dozens of patterns. Hyperscan (x86-64) runs them all at once and reports the spans of every
pattern it can compile exactly; patterns with lookarounds are only prefiltered there and then
confirmed by Python. Where Hyperscan is missing, RE2 sets prefilter and Python finds the spans.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from typing import Callable, Iterable, Sequence

import re2

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


class _Re2Engine:
    """Which patterns can match, by RE2 sets of ten (one automaton for all grows too many states)."""

    CHUNK = 10

    def __init__(self, patterns: Sequence[str]):
        opts = re2.Options()
        opts.never_capture = True
        self._sets = []
        for k in range(0, len(patterns), self.CHUNK):
            rx_set = re2.Set.SearchSet(opts)
            for p in patterns[k:k + self.CHUNK]:
                rx_set.Add(loosen(p))
            rx_set.Compile()
            self._sets.append((k, rx_set))

    def __call__(self, text: str) -> tuple[dict[int, list[Span]], list[int]]:
        return {}, [k + j for k, rx_set in self._sets for j in rx_set.Match(text) or ()]


class _HyperscanEngine:
    """Exact spans for patterns Hyperscan compiles as written; a prefilter for the others."""

    def __init__(self, patterns: Sequence[str]):
        import hyperscan

        self._hs = hyperscan
        base = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_ALLOWEMPTY
        # Start-of-match tracking is cheap for plain alternations but costly (and sometimes
        # impossible) for bounded repeats: those, and lookarounds, are prefiltered instead.
        exact = [j for j, p in enumerate(patterns) if not has_lookaround(p) and not _BOUNDED.search(p)]
        verify = [j for j in range(len(patterns)) if j not in set(exact)]
        self._exact_ids = exact
        self._exact = self._database([patterns[j] for j in exact], base | hyperscan.HS_FLAG_SOM_LEFTMOST)
        self._verify_ids = verify
        self._verify = self._database([loosen(patterns[j]) for j in verify], base | hyperscan.HS_FLAG_SINGLEMATCH)
        self._lock = threading.Lock()  # a scratch space serves one scan at a time
        self._scratch = [hyperscan.Scratch(db) if db else None for db in (self._exact, self._verify)]

    def _database(self, patterns: Sequence[str], flags: int):  # type: ignore[no-untyped-def]
        if not patterns:
            return None
        db = self._hs.Database()
        db.compile(expressions=[p.encode() for p in patterns], ids=list(range(len(patterns))),
                   elements=len(patterns), flags=[flags] * len(patterns))
        return db

    @staticmethod
    def _on_match(pattern: int, start: int, end: int, flags: int, found: list[tuple[int, int, int]]) -> None:
        found.append((pattern, start, end))

    def __call__(self, text: str) -> tuple[dict[int, list[Span]], list[int]]:
        data = text.encode("utf-8", "surrogatepass")
        exact: list[tuple[int, int, int]] = []
        maybe: list[tuple[int, int, int]] = []
        with self._lock:
            if self._exact is not None:
                self._exact.scan(data, match_event_handler=self._on_match, context=exact, scratch=self._scratch[0])
            if self._verify is not None:
                self._verify.scan(data, match_event_handler=self._on_match, context=maybe, scratch=self._scratch[1])
        spans: dict[int, list[Span]] = {}
        if exact:
            to_char = (lambda b: b) if len(data) == len(text) else _byte_to_char(text)
            by_pattern: dict[int, list[Span]] = {}
            for j, s, e in exact:
                by_pattern.setdefault(self._exact_ids[j], []).append((s, e))
            for j, found in by_pattern.items():
                spans[j] = [(to_char(s), to_char(e)) for s, e in leftmost_spans(found)]
        return spans, [self._verify_ids[j] for j, _, _ in maybe]


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


def _engine(patterns: Sequence[str]) -> _Re2Engine | _HyperscanEngine:
    try:
        return _HyperscanEngine(patterns)
    except ImportError:  # Hyperscan builds for x86-64 only
        return _Re2Engine(patterns)


class RuleSet:
    """Rules compiled for speed: one engine pass finds every pattern's spans."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = list(rules)
        self._owner: list[tuple[int, int]] = []
        patterns: list[str] = []
        for i, rule in enumerate(self.rules):
            if isinstance(rule, PatternRule):
                for k, p in enumerate(rule.patterns):
                    self._owner.append((i, k))
                    patterns.append(p.pattern)
        self._engine = _engine(patterns)

    def apply(self, norm: Normalized, entities: Sequence[Entity]) -> list[RuleHit]:
        """All hits on one post, in rule order."""
        exact, maybe = self._engine(norm.text)
        found: dict[int, list[Span]] = {}
        for j, spans in exact.items():
            found.setdefault(self._owner[j][0], []).extend(spans)
        for j in maybe:
            i, k = self._owner[j]
            pattern = self.rules[i].patterns[k]  # type: ignore[attr-defined]
            found.setdefault(i, []).extend(m.span() for m in pattern.finditer(norm.text) if m.end() > m.start())
        hits = []
        for i, rule in enumerate(self.rules):
            spans = found.get(i) if isinstance(rule, PatternRule) else rule.find(norm, entities)
            if spans:
                hits.append(rule.hit(norm, spans))
        return hits
