"""Normalisation of Indonesian social-media text, shared by training and inference.

Each stage rewrites the text and records where it changed the length, so that any span found in
the normalised text maps back to the characters a person sees in the original post.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable

import re2

from ..matching import PatternSet
from .fold import FLAG_WORDS, fold_run

# (new_start, new_end, old_start, old_end) of one length-changing replacement.
Edit = tuple[int, int, int, int]

# Top-level domains that links in these posts end with (bare "example.com/x" has no scheme).
_TLDS = "com|id|me|ly|co|net|org|io|link|site|xyz|info|asia|top|cc|gl|to|gd|app|page"
URL_RE = re2.compile(rf"(?:https?://|www\.)[^\s<>\"']+|\b(?:[a-z0-9-]+\.)+(?:{_TLDS})(?:/[^\s<>\"']*)?")
EMAIL_RE = re.compile(r"\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")
HANDLE_RE = re.compile(r"(?<![\w@.])@[a-z0-9_][a-z0-9_.]{1,31}\b")
# Masks that scraped corpora put where a link or an account was.
MASK_RE = re.compile(r"\[(?:url|link|tautan)\]|<url>|(?<![\w/])url(?![\w/])|@user\b")

# Single letters joined by one repeated separator: "w a", "t.e.l.e.g.r.a.m", "k-a-m-b-o-j-a".
SPACED_RE = re.compile(r"(?<![^\s(\[\"'])[a-z0-9](?P<sep>[ .\-_*|]{1,2})(?:[a-z0-9](?P=sep))*[a-z0-9](?=$|\s|[,.!?:;)\]\"'](?![a-z0-9]))")
# a word running into a number ("wa0812...", "gaji15jt"), not a digit standing for a letter ("g4j1")
_LETTER_DIGIT = re.compile(r"([a-z])(?=\d{3,}|\d+(?:jt|juta|rb|ribu|k)\b)")
_SPACED_PAIRS = frozenset({"wa", "dm", "tg", "cs", "pt", "ig", "hp", "ln", "jt", "pp"})
_TOKEN_RE = re.compile(r"[a-z0-9]+")
_LEET_TOKEN_RE = re.compile(r"\b[a-z0-9]*[a-z][013-57-9][a-z0-9]*\b")
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
_UNLEET = str.maketrans(_LEET)
_LEET_RE = re.compile(r"(?<=[a-z])(?:[013-57-9]{1,2}(?=[a-z])|[013-57-9](?![0-9]))")
# Words that really are written with digits.
_DIGIT_WORDS = frozenset(
    {"p3mi", "sip3mi", "bp2mi", "bp3mi", "kp2mi", "p4mi", "siskop2mi", "lp3mi", "p3tki", "pptkis",
     "g2g", "b2b", "b2c", "4g", "5g", "mp3", "mp4", "covid19", "h2o", "ps4", "ps5", "k3", "s1",
     "s2", "s3", "d3", "d4", "d1", "d2", "a1", "a2", "b1", "b2", "c1", "c2", "n4", "n5", "n3",
     "topik1", "topik2", "x1", "x2", "x3", "x4", "x5", "6d", "4d", "3d", "2d", "sim1", "simb1", "simb2",
     "p2mi"}
)
_MONEY_TOKEN = re.compile(r"^(?:rp|idr|usd|us|rm|sgd|myr|thb)[0-9]")
# First looks, all in one pass: a stage's full pattern runs only when its hint occurs.
_HINTS = PatternSet([
    r"(?:^|[\s(\[\"'])[a-z0-9][ .\-_*|]{1,2}[a-z0-9](?:[ .\-_*|]|$)",  # spaced letters
    r"[a-z][013-57-9]",  # a digit right after a letter
    "|".join(c * 3 for c in "abcdefghijklmnopqrstuvwxyz"),  # a letter three times
])
_REPEAT_RE = re.compile(r"([a-z])\1{2,}")
_FLAG_RE = re.compile("[\U0001F1E6-\U0001F1FF]{2}")


def _flag_word(m: re.Match[str]) -> str | None:
    code = "".join(chr(ord(c) - 0x1F1E6 + 65) for c in m.group(0))
    return f" {FLAG_WORDS[code]} " if code in FLAG_WORDS else None


@dataclass(slots=True)
class Normalized:
    """A post after normalisation: ``text`` for matching, with a map back to ``original``."""

    original: str
    text: str
    stages: tuple[tuple[Edit, ...], ...] = ()  # only the stages that changed a length
    # How much disguise was undone: look-alike letters, hidden characters, spaced or leet words.
    deobfuscated: dict[str, int] = field(default_factory=dict)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of ``text`` to the span of ``original`` it came from."""
        if not self.stages:
            return start, end
        for edits in reversed(self.stages):
            start, end = _map_back(edits, start, True), _map_back(edits, end, False)
        return start, end

    def original_span(self, start: int, end: int) -> str:
        """The original characters behind a span of ``text``."""
        s, e = self.to_original(start, end)
        return self.original[s:e]


def _map_back(edits: tuple[Edit, ...], pos: int, is_start: bool) -> int:
    i = bisect_right(edits, (pos, float("inf"))) - 1
    if i < 0:
        return pos
    ns, ne, os_, oe = edits[i]
    if pos >= ne:
        return oe + (pos - ne)
    if pos == ns:
        return os_
    # Inside a replaced region: a span start snaps to its start, an end to its end.
    return os_ if is_start else oe


def rewrite(
    text: str, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str | None],
    protected: Callable[[str], list[tuple[int, int]]] | None = None,
) -> tuple[str, tuple[Edit, ...], int]:
    """Apply ``repl`` to every match outside the ``protected(text)`` spans; return text, edits, changes."""
    shields: list[tuple[int, int]] | None = None
    out: list[str] = []
    edits: list[Edit] = []
    last = shift = changes = 0
    for m in pattern.finditer(text):
        s, e = m.span()
        if shields is None:  # computed only once a match needs it
            shields = protected(text) if protected else []
        if shields and any(a < e and s < b for a, b in shields):
            continue
        new = repl(m)
        if new is None or new == m.group(0):
            continue
        changes += 1
        out.append(text[last:s])
        out.append(new)
        if len(new) != e - s:
            edits.append((s + shift, s + shift + len(new), s, e))
            shift += len(new) - (e - s)
        last = e
    if not changes:
        return text, (), 0
    out.append(text[last:])
    return "".join(out), tuple(edits), changes


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass(slots=True)
class _Folded:
    """A post after ``_fold``: the folded text, its edits and what the folding counted."""

    text: str
    edits: tuple[Edit, ...]
    lookalike: int
    hidden: int
    regional: bool  # a flag may follow: the text holds a regional indicator


def _fold(text: str) -> _Folded:
    """Lowercase and fold non-ASCII characters; count look-alikes and hidden characters."""
    if text.isascii():
        return _Folded(text.lower(), (), 0, 0, False)
    out: list[str] = []
    edits: list[Edit] = []
    last = shift = disguised = hidden = 0
    regional = False
    for m in _NON_ASCII.finditer(text):
        start = m.start()
        run = fold_run(m.group(0))
        out.append(text[last:start].lower())
        out.append(run.text)
        disguised += len(run.disguised)
        hidden += run.hidden
        regional = regional or run.regional
        for offset, size in run.resized:
            i = start + offset
            edits.append((i + shift, i + shift + size, i, i + 1))
            shift += size - 1
        last = m.end()
    out.append(text[last:].lower())
    return _Folded("".join(out), tuple(edits), disguised - hidden, hidden, regional)


def _join_spaced(m: re.Match[str]) -> str | None:
    joined = "".join(_TOKEN_RE.findall(m.group(0)))
    if len(joined) >= 3 or joined in _SPACED_PAIRS:
        # "w a 0 8 1 2" is a word then a number: keep them apart
        return _LETTER_DIGIT.sub(r"\1 ", joined)
    return None


def _may_be_leet(tok: str) -> bool:
    """Whether a token with a digit after a letter may be leet: not a word or amount written so."""
    return not (tok in _DIGIT_WORDS or tok.isdigit() or sum(map(str.isalpha, tok)) < 2 or _MONEY_TOKEN.match(tok))


def _unleet_token(m: re.Match[str]) -> str | None:
    tok = m.group(0)
    if not _may_be_leet(tok):
        return None
    fixed = _LEET_RE.sub(lambda d: d.group(0).translate(_UNLEET), tok)
    return fixed if fixed != tok else None


URL_HINT = re.compile(rf"https?:|www\.|\.(?:{_TLDS})\b")


def is_leet_word(token: str) -> bool:
    """Whether normalisation reads ``token`` as a word with digits standing for letters."""
    # what _unleet_token would change: every _LEET_RE match turns digits into letters
    return any(_may_be_leet(tok) and _LEET_RE.search(tok) for tok in _LEET_TOKEN_RE.findall(token.lower()))


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of links, e-mail addresses and handles, which de-obfuscation must not touch."""
    rxs = ([URL_RE] if URL_HINT.search(text) else []) + ([EMAIL_RE, HANDLE_RE] if "@" in text else [])
    return sorted(m.span() for rx in rxs for m in rx.finditer(text))


def _repeated_letter(m: re.Match[str]) -> str:
    return m.group(1)


# The stages that undo disguises, in order, each with the index of its hint in ``_HINTS``.
_STAGES: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]], ...] = (
    ("spaced", SPACED_RE, _join_spaced), ("leet", _LEET_TOKEN_RE, _unleet_token), ("repeat", _REPEAT_RE, _repeated_letter),
)


def _undo_disguises(text: str, hints: set[int], stages: list[tuple[Edit, ...]], stats: dict[str, int]) -> str:
    """Run the stages whose hints occur in ``text``; add their edits and counts to ``stages``, ``stats``."""
    shields: dict[str, list[tuple[int, int]]] = {}

    def protect(t: str) -> list[tuple[int, int]]:
        if t not in shields:  # stages that change nothing leave the text, and its shields, as they were
            shields.clear()
            shields[t] = protected_spans(t)
        return shields[t]

    for hint, (name, rx, fn) in enumerate(_STAGES):
        if hint not in hints:
            continue
        text, edits, n = rewrite(text, rx, fn, protect)
        if edits:
            stages.append(edits)
        if n:  # joined or rewritten words may now show what a later stage looks for
            stats[name] = n
            if hint + 1 < len(_STAGES):
                hints = _HINTS.matching(text)
    return text


def normalize(text: str) -> Normalized:
    """Normalise one post: fold Unicode, undo spacing / leet / repeats, keep a map to the original."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    folded = _fold(text)
    cur = folded.text
    stages = [folded.edits] if folded.edits else []
    # Only the counts that are not zero, always in the order lookalike, hidden, spaced, leet, repeat.
    stats = {k: v for k, v in (("lookalike", folded.lookalike), ("hidden", folded.hidden)) if v}
    if folded.regional:
        cur, flag_edits, _ = rewrite(cur, _FLAG_RE, _flag_word)
        if flag_edits:
            stages.append(flag_edits)
    hints = _HINTS.matching(cur)
    if hints:
        cur = _undo_disguises(cur, hints, stages, stats)
    return Normalized(text, cur, tuple(stages), stats)
