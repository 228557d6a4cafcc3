"""Red-flag rules: data (YAML) plus a small class. Every hit says which rule fired on which span."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

from ..normalize import Normalized
from ..normalize.fold import fold_run
from ..normalize.text import SPACED_RE as _SPACED
from ..normalize.text import is_leet_word
from .entities import Entity

DEFAULT_RULES = "redflags.yaml"


class RuleError(ValueError):
    """A rule definition is invalid."""


@dataclass(slots=True)
class Span:
    """A matched stretch of the original post."""

    start: int
    end: int
    text: str


@dataclass(slots=True)
class RuleHit:
    """One rule that fired on a post, with the spans that made it fire."""

    rule_id: str
    weight: float
    description_id: str
    description_en: str
    spans: tuple[Span, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "weight": self.weight, "id": self.description_id,
                "en": self.description_en,
                "spans": [{"start": s.start, "end": s.end, "text": s.text} for s in self.spans]}


@dataclass(frozen=True)
class Rule:
    """Base rule: an id, a weight and a description in Indonesian and English."""

    id: str
    weight: float
    description_id: str
    description_en: str
    spans_in_original = False

    def find(self, norm: Normalized, entities: Sequence[Entity]) -> list[tuple[int, int]]:
        """Spans of the normalised text that trigger the rule (empty when it does not fire)."""
        raise NotImplementedError

    def apply(self, norm: Normalized, entities: Sequence[Entity]) -> RuleHit | None:
        """Run the rule and return a hit, or None."""
        found = self.find(norm, entities)
        return self.hit(norm, found) if found else None

    def hit(self, norm: Normalized, found: Sequence[tuple[int, int]]) -> RuleHit:
        """The hit for spans of the normalised text, with up to five spans of the original."""
        merged: Sequence[tuple[int, int]] = found
        if len(found) > 1:  # overlapping patterns: each stretch once
            merged = []
            for s, e in sorted(found):
                if merged and s <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], e))
                else:
                    merged.append((s, e))
            merged = merged[:5]
        if norm.stages and not self.spans_in_original:
            to_original = norm.to_original
            merged = [to_original(s, e) for s, e in merged]
        original = norm.original
        return RuleHit(self.id, self.weight, self.description_id, self.description_en,
                       tuple([Span(s, e, original[s:e]) for s, e in merged]))


@dataclass(frozen=True)
class PatternRule(Rule):
    """A rule made of regular expressions over the normalised text."""

    patterns: tuple[re.Pattern[str], ...] = ()

    def find(self, norm: Normalized, entities: Sequence[Entity]) -> list[tuple[int, int]]:
        return [m.span() for p in self.patterns for m in p.finditer(norm.text) if m.end() > m.start()]


@dataclass(frozen=True)
class CheckRule(Rule):
    """A rule computed from entities or normalisation statistics by a named built-in check."""

    check: Callable[[Normalized, Sequence[Entity], dict[str, Any]], list[tuple[int, int]]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    check_name: str = ""

    @property
    def spans_in_original(self) -> bool:  # type: ignore[override]
        return self.check_name in ORIGINAL_SPAN_CHECKS

    def find(self, norm: Normalized, entities: Sequence[Entity]) -> list[tuple[int, int]]:
        assert self.check is not None
        return self.check(norm, entities, self.params)


def _destination(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    wanted = set(p["countries"])
    return [e.norm_span for e in ents if e.kind == "destination" and e.value in wanted]


def _money_at_least(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    """Amounts of at least ``idr`` rupiah (and below ``below``, if given) paid per one of ``periods``."""
    periods = set(p.get("periods", ["month", None]))
    context = p.get("context")
    out = []
    for e in ents:
        if e.kind != "money" or not e.extra or e.extra["period"] not in periods:
            continue
        if not p["idr"] <= e.extra["idr"] < p.get("below", 1e9):
            continue
        s, end = e.norm_span
        # a price is not a salary: ask for a pay word close by, unless the amount is per month
        if context and e.extra["period"] is None and not context.search(norm.text, max(0, s - 50), end + 30):
            continue
        out.append(e.norm_span)
    return out


def _entity_present(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    kinds = set(p["kinds"])
    return [e.norm_span for e in ents if e.kind in kinds]


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# A letter then a digit: every word that ``is_leet_word`` accepts has one.
_LETTER_DIGIT = re.compile(r"[a-zA-Z][013-57-9]")
_NON_SPACE = re.compile(r"\S*")


# Leet words recur from post to post, and the check is slow.
@lru_cache(maxsize=8192)
def _is_ascii_leet_word(word: str) -> bool:
    return word.isascii() and is_leet_word(word)


def _disguised_words(text: str) -> list[tuple[int, int]]:
    """Spans of the words (runs of non-space) that hold an invisible character or a look-alike
    letter, or that are ASCII and written in leet."""
    # Most words hold no suspect character, so words are found around the suspect characters
    # rather than one by one. ``re`` cannot match backwards: a word's start is found in the
    # reversed text.
    backwards = text[::-1]
    n = len(text)

    def word_at(p: int) -> tuple[int, int]:
        # backwards[n - p] is text[p - 1]; the match ends in backwards where the word starts in text
        return n - _NON_SPACE.match(backwards, n - p).end(), _NON_SPACE.match(text, p).end()  # type: ignore[union-attr]

    words: list[tuple[int, int]] = []
    end = 0  # suspect characters come in order: those before ``end`` are in a word already seen
    if not text.isascii():
        for m in _NON_ASCII.finditer(text):
            for offset in fold_run(m.group(0)).disguised:
                p = m.start() + offset
                if p >= end and not text[p].isspace():
                    words.append(word_at(p))
                    end = words[-1][1]
    end = 0
    for m in _LETTER_DIGIT.finditer(text):
        if m.start() >= end:
            start, end = word_at(m.start())
            if _is_ascii_leet_word(text[start:end]):
                words.append((start, end))
    return words


def _obfuscation(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    """Spans of the ORIGINAL text that were disguised (see ``ORIGINAL_SPAN_CHECKS``)."""
    found = norm.deobfuscated
    changes = found.get("lookalike", 0) + found.get("hidden", 0) + found.get("spaced", 0) + found.get("leet", 0)
    if changes < p.get("min_changes", 1):
        return []
    out = _disguised_words(norm.original)
    lowered = norm.original.lower()
    out.extend(m.span() for m in _SPACED.finditer(lowered) if sum(c.isalpha() for c in m.group(0)) >= 3)
    return sorted(out)


# Checks whose spans are already in the original text.
ORIGINAL_SPAN_CHECKS = frozenset({"obfuscation"})


CHECKS: dict[str, Callable[[Normalized, Sequence[Entity], dict[str, Any]], list[tuple[int, int]]]] = {
    "destination": _destination,
    "money_at_least": _money_at_least,
    "entity_present": _entity_present,
    "obfuscation": _obfuscation,
}


def _build(spec: dict[str, Any], source: str) -> Rule:
    try:
        rid, weight, desc = spec["id"], float(spec["weight"]), spec["description"]
        did, den = str(desc["id"]), str(desc["en"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleError(f"{source}: rule {spec.get('id', '?')!r} needs id, weight and description.id/.en ({exc})") from None
    if not re.fullmatch(r"[a-z][a-z0-9_]*", str(rid)):
        raise RuleError(f"{source}: rule id {rid!r} must be lowercase letters, digits and _")
    if "patterns" in spec:
        pats = spec["patterns"]
        if not pats or not isinstance(pats, list):
            raise RuleError(f"{source}: rule {rid!r}: patterns must be a non-empty list")
        compiled = []
        for pat in pats:
            try:
                compiled.append(re.compile(pat))
            except re.error as exc:
                raise RuleError(f"{source}: rule {rid!r}: bad pattern {pat!r}: {exc}") from None
        return PatternRule(rid, weight, did, den, tuple(compiled))
    if "check" in spec:
        if spec["check"] not in CHECKS:
            raise RuleError(f"{source}: rule {rid!r}: unknown check {spec['check']!r} (known: {sorted(CHECKS)})")
        params = dict(spec.get("params") or {})
        if "context" in params:
            try:
                params["context"] = re.compile(params["context"])
            except re.error as exc:
                raise RuleError(f"{source}: rule {rid!r}: bad context pattern: {exc}") from None
        return CheckRule(rid, weight, did, den, CHECKS[spec["check"]], params, spec["check"])
    raise RuleError(f"{source}: rule {rid!r} needs patterns or check")


def default_rules_yaml() -> str:
    """The text of the built-in red-flag file."""
    return resources.files(__package__).joinpath(DEFAULT_RULES).read_text("utf-8")


def rules_from_yaml(text: str, source: str = "<yaml>") -> list[Rule]:
    """Rules defined in one YAML document (a list of rule mappings)."""
    try:
        specs = yaml.safe_load(text) or []
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: invalid YAML ({exc})") from None
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise RuleError(f"{source}: expected a list of rules")
    return [_build(s, source) for s in specs]


def load_rules(*paths: str | Path, include_default: bool = True) -> list[Rule]:
    """Load the built-in red flags and any extra YAML rule files; ids must be unique."""
    rules: list[Rule] = rules_from_yaml(default_rules_yaml(), DEFAULT_RULES) if include_default else []
    for p in paths:
        rules.extend(rules_from_yaml(Path(p).read_text(encoding="utf-8"), str(p)))
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuleError(f"duplicate rule ids: {', '.join(dupes)}")
    return rules


def apply_rules(rules: Iterable[Rule], norm: Normalized, entities: Sequence[Entity]) -> list[RuleHit]:
    """All hits of ``rules`` on one post, rule by rule (``RuleSet.apply`` is the fast way)."""
    return [h for r in rules if (h := r.apply(norm, entities)) is not None]
