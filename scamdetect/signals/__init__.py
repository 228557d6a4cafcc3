"""Signals of one post: extracted entities and red-flag rule hits, and the classifier's input text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..normalize import MASK_RE, Normalized, normalize
from .entities import DESTINATIONS, SCAM_HUBS, Entity, extract
from .engine import RuleSet
from .rules import CHECKS, CheckRule, PatternRule, Rule, RuleError, RuleHit, Span, apply_rules, default_rules_yaml, load_rules, rules_from_yaml

__all__ = ["Analysis", "analyze", "analyze_many", "model_text", "Entity", "extract", "Rule", "PatternRule", "CheckRule",
           "RuleHit", "RuleSet", "RuleError", "Span", "load_rules", "rules_from_yaml", "default_rules_yaml", "apply_rules", "CHECKS", "DESTINATIONS",
           "SCAM_HUBS", "PLACEHOLDERS", "PLACEHOLDER_NAMES"]

# What the classifier sees instead of a concrete link, number or amount: the kind matters, the
# digits do not, and a model must not learn one recruiter's number.
PLACEHOLDERS = {
    "url": " xurlx ", "whatsapp_link": " xwalinkx ", "telegram_link": " xtglinkx ", "email": " xemailx ",
    "handle": " xhandlex ", "phone": " xphonex ", "bank_account": " xbankx ", "money": " xmoneyx ",
    "money_high": " xmoneyhighx ",
}
_MASKS = {"@user": PLACEHOLDERS["handle"]}
# How a placeholder reads in an explanation.
PLACEHOLDER_NAMES = {
    "xurlx": "[link]", "xwalinkx": "[WhatsApp link]", "xtglinkx": "[Telegram link]", "xemailx": "[e-mail]",
    "xhandlex": "[account handle]", "xphonex": "[phone number]", "xbankx": "[bank account]",
    "xmoneyx": "[amount]", "xmoneyhighx": "[high pay]",
}


@dataclass(slots=True)
class Analysis:
    """Everything the library knows about one post before the classifier runs."""

    norm: Normalized
    entities: tuple[Entity, ...]
    hits: tuple[RuleHit, ...]
    model_text: str


_DIGIT = re.compile(r"\d")


def model_text(norm: Normalized, entities: Sequence[Entity]) -> str:
    """The normalised text with entities and scraper masks replaced by placeholder words, and every
    remaining digit written as 0 (a count or a date matters by its shape, not its value)."""
    return _DIGIT.sub("0", _with_placeholders(norm, entities))


def _with_placeholders(norm: Normalized, entities: Sequence[Entity]) -> str:
    t = norm.text
    spans: list[tuple[int, int, str]] = []
    for e in entities:
        if e.kind == "destination":
            continue
        kind = e.kind
        if kind == "money" and e.extra and e.extra["idr"] >= 7_000_000 and e.extra["period"] in ("month", None):
            kind = "money_high"
        spans.append((*e.norm_span, PLACEHOLDERS[kind]))
    if "url" in t or "[link]" in t or "@user" in t or "[tautan]" in t:
        spans.extend((m.start(), m.end(), _MASKS.get(m.group(0), PLACEHOLDERS["url"])) for m in MASK_RE.finditer(t))
    if not spans:
        return t
    spans.sort()
    out, last = [], 0
    for s, e, ph in spans:
        if s < last:  # overlapping entities (a phone inside a wa.me link): the first one wins
            continue
        out.append(t[last:s])
        out.append(ph)
        last = e
    out.append(t[last:])
    return "".join(out)


def analyze(text: str, rules: Sequence[Rule] | RuleSet) -> Analysis:
    """Normalise one post, extract its entities, run the rules and build the classifier input."""
    if isinstance(rules, RuleSet):
        return analyze_many([text], rules)[0]
    norm = normalize(text)
    entities = extract(norm)
    return Analysis(norm, tuple(entities), tuple(apply_rules(rules, norm, entities)), model_text(norm, entities))


def analyze_many(texts: Sequence[str], rules: RuleSet) -> list[Analysis]:
    """``analyze`` for many posts, one stage at a time over all of them: each stage's patterns and
    tables stay in the CPU caches, which makes a batch about 15% cheaper than post after post.
    The rule set's one pass also finds the entity extractor's hints."""
    norms = [normalize(t) for t in texts]
    scans = [rules.scan(n.text) for n in norms]
    entities = [extract(n, s.hints) for n, s in zip(norms, scans)]
    hits = [rules.apply(n, e, s) for n, e, s in zip(norms, entities, scans)]
    return [Analysis(n, tuple(e), tuple(h), model_text(n, e)) for n, e, h in zip(norms, entities, hits)]
