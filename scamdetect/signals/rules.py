"""Red-flag rules: data (YAML) plus a small class. Every hit says which rule fired on which span."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import re2
import yaml

from ..normalize import Normalized
from .entities import Entity

DEFAULT_RULES = "redflags.yaml"


class RuleError(ValueError):
    """A rule definition is invalid."""


@dataclass(frozen=True)
class Span:
    """A matched stretch of the original post."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
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

    def find(self, norm: Normalized, entities: Sequence[Entity], only: Iterable[int] | None = None) -> list[tuple[int, int]]:
        """Spans of the normalised text that trigger the rule (empty when it does not fire)."""
        raise NotImplementedError

    def apply(self, norm: Normalized, entities: Sequence[Entity],
              only: Iterable[int] | None = None) -> RuleHit | None:
        """Run the rule (``only`` = indices of the patterns worth trying) and return a hit, or None."""
        found = self.find(norm, entities, only) if only is not None else self.find(norm, entities)
        if not found:
            return None
        spans = []
        for s, e in sorted(found)[:5]:
            os_, oe = norm.to_original(s, e)
            spans.append(Span(os_, oe, norm.original[os_:oe]))
        return RuleHit(self.id, self.weight, self.description_id, self.description_en, tuple(spans))


@dataclass(frozen=True)
class PatternRule(Rule):
    """A rule made of regular expressions over the normalised text."""

    patterns: tuple[re.Pattern[str], ...] = ()

    def find(self, norm: Normalized, entities: Sequence[Entity],
             only: Iterable[int] | None = None) -> list[tuple[int, int]]:
        # RE2 only tells which patterns can match; Python's engine finds the spans (its
        # per-call overhead is lower than the RE2 binding's on short posts).
        scanners = self.patterns if only is None else [self.patterns[i] for i in only]
        return [m.span() for p in scanners for m in p.finditer(norm.text) if m.end() > m.start()]


@dataclass(frozen=True)
class CheckRule(Rule):
    """A rule computed from entities or normalisation statistics by a named built-in check."""

    check: Callable[[Normalized, Sequence[Entity], dict[str, Any]], list[tuple[int, int]]] | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def find(self, norm: Normalized, entities: Sequence[Entity], only: Iterable[int] | None = None) -> list[tuple[int, int]]:
        assert self.check is not None
        return self.check(norm, entities, dict(self.params))


def _destination(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    wanted = set(p["countries"])
    return [e.norm_span for e in ents if e.kind == "destination" and e.value in wanted]


def _money_at_least(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    periods = set(p.get("periods", ["month", None]))
    context = re.compile(p["context"]) if p.get("context") else None
    out = []
    for e in ents:
        if e.kind != "money" or not e.extra or e.extra["period"] not in periods:
            continue
        if not p["idr"] <= e.extra["idr"] < 1e9:
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


def _obfuscation(norm: Normalized, ents: Sequence[Entity], p: dict[str, Any]) -> list[tuple[int, int]]:
    changes = sum(norm.deobfuscated.get(k, 0) for k in ("lookalike", "hidden", "spaced", "leet"))
    if changes < p.get("min_changes", 1):
        return []
    # The disguised words: those whose original characters differ from the plain word.
    return [m.span() for m in re.finditer(r"\w+", norm.text)
            if norm.original_span(*m.span()).lower() != m.group(0)]


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
        params = spec.get("params") or {}
        return CheckRule(rid, weight, did, den, CHECKS[spec["check"]], tuple(sorted(params.items())))
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


_BOUNDED = re.compile(r"\{(\d+),\d*\}")
_LOOKAROUND = re.compile(r"\(\?<?[!=](?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")


class _Re2Prefilter:
    """Which patterns can match, by RE2 sets (one automaton for all patterns grows too many
    states; sets of ten stay fast)."""

    CHUNK = 10

    def __init__(self, patterns: Sequence[str]):
        opts = re2.Options()
        opts.never_capture = True
        self._sets = []
        for k in range(0, len(patterns), self.CHUNK):
            rx_set = re2.Set.SearchSet(opts)
            for p in patterns[k:k + self.CHUNK]:
                rx_set.Add(p)
            rx_set.Compile()
            self._sets.append((k, rx_set))

    def __call__(self, text: str) -> list[int]:
        return [k + j for k, rx_set in self._sets for j in rx_set.Match(text) or ()]


class _HyperscanPrefilter:
    """Which patterns can match, in one Hyperscan pass (x86-64: several times faster than RE2)."""

    def __init__(self, patterns: Sequence[str]):
        import hyperscan

        flags = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY | hyperscan.HS_FLAG_UTF8
        self._db = hyperscan.Database()
        self._db.compile(expressions=[p.encode() for p in patterns], ids=list(range(len(patterns))),
                         elements=len(patterns), flags=[flags] * len(patterns))
        self._scratch = hyperscan.Scratch(self._db)
        self._lock = threading.Lock()

    @staticmethod
    def _on_match(pattern: int, start: int, end: int, flags: int, found: list[int]) -> None:
        found.append(pattern)

    def __call__(self, text: str) -> list[int]:
        found: list[int] = []
        with self._lock:  # a scratch space serves one scan at a time
            self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=self._on_match,
                          context=found, scratch=self._scratch)
        return found


def _prefilter(patterns: Sequence[str]) -> _Re2Prefilter | _HyperscanPrefilter:
    try:
        return _HyperscanPrefilter(patterns)
    except Exception:  # not installed (non-x86 machines) or a pattern it cannot compile
        return _Re2Prefilter(patterns)


class RuleSet:
    """Rules with a one-pass prefilter: only the patterns that can match are run by Python's engine."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = list(rules)
        self._always: list[int] = []
        loose: list[str] = []
        self._owner: list[tuple[int, int]] = []
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, PatternRule):
                self._always.append(i)
                continue
            # Without lookarounds and with open-ended repeats a pattern matches a superset of
            # what it matched before, and the automata stay small.
            pats = [_BOUNDED.sub(lambda m: "*" if m.group(1) == "0" else "+", _LOOKAROUND.sub("", p.pattern))
                    for p in rule.patterns]
            try:
                for p in pats:
                    re2.compile(p)
            except Exception:
                self._always.append(i)
                continue
            loose.extend(pats)
            self._owner.extend((i, k) for k in range(len(pats)))
        self._prefilter = _prefilter(loose)

    def apply(self, norm: Normalized, entities: Sequence[Entity]) -> list[RuleHit]:
        """All hits on one post, in rule order."""
        candidates: dict[int, list[int] | None] = dict.fromkeys(self._always)
        for j in self._prefilter(norm.text):
            rule, pattern = self._owner[j]
            candidates.setdefault(rule, []).append(pattern)  # type: ignore[union-attr]
        return [h for i in sorted(candidates) if (h := self.rules[i].apply(norm, entities, candidates[i])) is not None]


def apply_rules(rules: Iterable[Rule] | RuleSet, norm: Normalized, entities: Sequence[Entity]) -> list[RuleHit]:
    """All hits of ``rules`` on one post."""
    if isinstance(rules, RuleSet):
        return rules.apply(norm, entities)
    return [h for r in rules if (h := r.apply(norm, entities)) is not None]
