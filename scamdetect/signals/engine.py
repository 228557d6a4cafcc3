"""Running all rule patterns over a post in one pass (see ``scamdetect.matching`` for why)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..matching import PatternSet, ascii_bytes, hyperscan_database
from ..normalize import Normalized
from .entities import ENTITY_HINTS, Entity
from .rules import PatternRule, Rule, RuleHit

_BOUNDED = re.compile(r"\{(\d+),\d*\}")
_LOOKAROUND = re.compile(r"\(\?<?[!=](?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
Span = tuple[int, int]


def loosen(pattern: str) -> str:
    """A superset of ``pattern`` that automata handle well: no lookarounds, open-ended repeats."""
    return _BOUNDED.sub(lambda m: "*" if m.group(1) == "0" else "+", _LOOKAROUND.sub("", pattern))


def has_lookaround(pattern: str) -> bool:
    return _LOOKAROUND.search(pattern) is not None


def _max_width(pattern: str) -> int | None:
    """The length of the longest text ``pattern`` can match, or None if unbounded or unknown."""
    try:
        width = re._parser.parse(pattern).getwidth()[1]  # type: ignore[attr-defined]
    except Exception:  # a private module of the standard library: without it, no shortcut
        return None
    return width if width < 1 << 16 else None


def leftmost_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, leftmost first and longest at each start (what finditer would give)."""
    out: list[Span] = []
    for s, e in sorted(spans, key=lambda x: (x[0], -x[1])):
        if e > s and (not out or s >= out[-1][1]):
            out.append((s, e))
    return out


@dataclass(slots=True)
class Scan:
    """What one pass over a normalised post found."""

    spans: dict[int, list[Span]]  # rule index -> spans of its plain patterns
    verify: dict[int, int]  # patterns (by verify index) that may match and need Python's engine -> from where
    hints: set[int]  # extra hint patterns (by index) that occur
    present: set[int]  # rules without weight (classifier features only) that fired: no spans kept


class _Scanner:
    """Hyperscan, one pass: spans (start-of-match tracking) of the plain patterns, presence of the
    loosened ones, of the hints and of the patterns whose spans nobody reads."""

    def __init__(self, exact: Sequence[str], loose: Sequence[str], hints: Sequence[str], presence: Sequence[str]):
        import hyperscan

        som, single = hyperscan.HS_FLAG_SOM_LEFTMOST, hyperscan.HS_FLAG_SINGLEMATCH
        self._n_exact, self._n_verify = len(exact), len(exact) + len(loose)
        self._n_hints = self._n_verify + len(hints)
        self._db, self._scratch = hyperscan_database(
            [*exact, *loose, *hints, *presence],
            [som] * len(exact) + [single] * (len(loose) + len(hints) + len(presence)), utf8=False)
        self._lock = threading.Lock()  # a scratch space serves one scan at a time

    @staticmethod
    def _on_match(pattern: int, start: int, end: int, flags: int, found: list[tuple[int, int, int]]) -> None:
        found.append((pattern, start, end))

    def scan(self, text: str) -> tuple[dict[int, list[Span]], dict[int, int], set[int], set[int]]:
        """(exact pattern -> its non-overlapping spans, loosened pattern -> end of its first match,
        hints, presence patterns found)."""
        found: list[tuple[int, int, int]] = []
        with self._lock:
            self._db.scan(ascii_bytes(text), match_event_handler=self._on_match, context=found,
                          scratch=self._scratch)
        by_pattern: dict[int, list[Span]] = {}
        verify: dict[int, int] = {}
        hints, present = set(), set()
        n_exact, n_verify, n_hints = self._n_exact, self._n_verify, self._n_hints
        for j, s, e in found:
            if j < n_exact:
                by_pattern.setdefault(j, []).append((s, e))
            elif j < n_verify:
                verify[j - n_exact] = e
            elif j < n_hints:
                hints.add(j - n_verify)
            else:
                present.add(j - n_hints)
        return {j: f if len(f) == 1 and f[0][1] > f[0][0] else leftmost_spans(f)
                for j, f in by_pattern.items()}, verify, hints, present


class RuleSet:
    """Rules compiled for speed: one pass finds the spans of every plain pattern, which patterns
    with lookarounds or bounded repeats may match (Python's engine confirms those), and which of
    ``hints`` occur (the entity extractor's first looks). Without Hyperscan, RE2 sets answer the
    presence questions and Python's engine finds every span."""

    def __init__(self, rules: Iterable[Rule], hints: Sequence[str] = ENTITY_HINTS):
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
        # impossible) for bounded repeats: those, and lookarounds, are prefiltered instead. Rules
        # without weight only feed the classifier, which needs to know that they fired, not where.
        plain = [not has_lookaround(p) and not _BOUNDED.search(p) for p in patterns]
        unweighted = [self.rules[i].weight == 0 for i, _ in owner]
        presence = [j for j in range(len(patterns)) if plain[j] and unweighted[j]]
        exact = [j for j in range(len(patterns)) if plain[j] and not unweighted[j]]
        verify = [j for j in range(len(patterns)) if not plain[j]]
        try:
            self._scanner: _Scanner | None = _Scanner([patterns[j] for j in exact],
                                                      [loosen(patterns[j]) for j in verify], hints,
                                                      [patterns[j] for j in presence])
            self._prefilter: PatternSet | None = None
        except ImportError:  # Hyperscan builds for x86-64 only
            self._scanner, exact, presence = None, [], []
            verify = list(range(len(patterns)))
            self._prefilter = PatternSet([loosen(p) for p in patterns] + list(hints))
        self._n_verify = len(verify)
        self._verify_width = [_max_width(patterns[j]) for j in verify]
        self._exact_owner = [owner[j] for j in exact]
        self._verify_owner = [owner[j] for j in verify]
        self._presence_owner = [owner[j][0] for j in presence]

    def scan(self, text: str) -> Scan:
        """One pass over a normalised text."""
        if self._scanner is not None:
            spans, verify, hints, present = self._scanner.scan(text)
            found: dict[int, list[Span]] = {}
            for j, sp in spans.items():
                found.setdefault(self._exact_owner[j][0], []).extend(sp)
            return Scan(found, verify, hints, {self._presence_owner[j] for j in present})
        assert self._prefilter is not None
        matched = self._prefilter.matching(text)
        n = self._n_verify
        return Scan({}, {j: 0 for j in matched if j < n}, {j - n for j in matched if j >= n}, set())

    def apply(self, norm: Normalized, entities: Sequence[Entity], scan: Scan | None = None) -> list[RuleHit]:
        """All hits on one post, in rule order (``scan``: this text's scan, if already made)."""
        text = norm.text
        scan = scan or self.scan(text)
        found = scan.spans
        for j, first_end in scan.verify.items():
            i, k = self._verify_owner[j]
            pattern = self.rules[i].patterns[k]  # type: ignore[attr-defined]
            # No match can end before the loosened pattern's first match does, nor be longer than
            # the pattern's widest match, so the search may start there (lookbehinds still see
            # the text before it): the same matches for less scanning.
            width = self._verify_width[j]
            pos = max(0, first_end - width) if width is not None else 0
            found.setdefault(i, []).extend(m.span() for m in pattern.finditer(text, pos) if m.end() > m.start())
        for i in self._checks:
            if spans := self.rules[i].find(norm, entities):
                found[i] = spans
        fired = {i for i, sp in found.items() if sp} | scan.present
        return [self.rules[i].hit(norm, found.get(i, ())) for i in sorted(fired)]
