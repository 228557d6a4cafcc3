"""Character folding: one Unicode character in, the plain lowercase Latin text it stands for out.

Look-alike letters come from Unicode's confusables table (shipped by ``confusable_homoglyphs``),
decorative fonts and full-width forms from NFKD, small capitals from their Unicode names.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from confusable_homoglyphs import utils as _cf_utils

# Invisible characters used to split words so that filters miss them.
ZERO_WIDTH = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
    "\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0"
)
_NAME_LETTER = re.compile(r"^LATIN (?:CAPITAL |SMALL )?LETTER (?:SMALL CAPITAL )?([A-Z])$")


def _confusable_table() -> dict[str, str]:
    """Map every non-ASCII look-alike of an ASCII letter or digit to that letter (lowercase)."""
    data = _cf_utils.load("confusables.json")
    table: dict[str, str] = {}
    # Letters win over digits: "ο" is read as the letter o, not zero.
    for target in sorted(data, key=lambda c: (not c.isalpha(), c)):
        if len(target) != 1 or not target.isascii() or not target.isalnum():
            continue
        for glyph in data[target]:
            c = glyph["c"]
            if len(c) == 1 and not c.isascii():
                table.setdefault(c, target.lower())
    return table


# Letters that posts use as Latin look-alikes but that the table misses or reads another way.
_SUPPLEMENT = {"χ": "x", "κ": "k", "η": "n", "τ": "t", "ӏ": "l", "І": "i", "ǫ": "q", "ν": "v", "ω": "w",
               "ρ": "p", "ɑ": "a", "ʀ": "r", "ꜱ": "s", "ꜰ": "f"}
_TABLE = {**_confusable_table(), **_SUPPLEMENT}
# Emoji that posts use in place of words ("✈️🏠🍛 = FREE"): read as the words they stand for.
EMOJI_WORDS = {
    "✈": " tiket pesawat ", "🛫": " tiket pesawat ", "🆓": " free ", "🏠": " mess ", "🏨": " mess ",
    "🍛": " makan ", "🍚": " makan ", "🍱": " makan ", "🍽": " makan ", "🛂": " visa paspor ",
    "💵": " uang ", "💰": " uang ", "💸": " uang ", "🤑": " uang ", "📲": " hp ", "📱": " hp ",
}
# Flags of the countries posts name (regional-indicator pairs), as the word a post would use.
FLAG_WORDS = {
    "KH": "kamboja", "MM": "myanmar", "LA": "laos", "TH": "thailand", "PH": "filipina", "VN": "vietnam",
    "MY": "malaysia", "AE": "dubai", "CN": "china", "TW": "taiwan", "HK": "hong kong", "KR": "korea",
    "JP": "jepang", "DE": "jerman", "SG": "singapura", "SA": "arab saudi", "ID": "indonesia",
}


@lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """Return the folded form of one character ("" for invisible ones)."""
    if ch in ZERO_WIDTH or "\ufe00" <= ch <= "\ufe0f":
        return ""
    cat = unicodedata.category(ch)
    if cat == "Zs":
        return " "
    if cat in ("Mn", "Me"):
        return ""
    if ch in _TABLE:
        return _TABLE[ch]
    if ch in EMOJI_WORDS:
        return EMOJI_WORDS[ch]
    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me"))
    if out and out != ch:
        return "".join(_TABLE.get(c, c) for c in out).lower()
    m = _NAME_LETTER.match(unicodedata.name(ch, ""))
    if m:
        return m.group(1).lower()
    return ch.lower() if len(ch.lower()) == 1 else ch


_REGIONAL = re.compile("[\U0001F1E6-\U0001F1FF]")


class FoldedRun(NamedTuple):
    """A run of non-ASCII characters after folding, with what normalisation counts in it."""

    text: str  # the folded characters, joined
    resized: tuple[tuple[int, int], ...]  # (offset, folded length) of each character not folded to one
    disguised: tuple[int, ...]  # offsets of invisible characters and of look-alike letters or digits
    hidden: int  # how many of the disguised characters are invisible
    regional: bool  # whether the folded text holds a regional indicator (half of a flag)


# Posts repeat the same emoji, dashes and fancy-font words, so whole runs are worth caching.
@lru_cache(maxsize=16384)
def fold_run(run: str) -> FoldedRun:
    """Fold a run of non-ASCII characters one by one (``fold_char``) and note which were disguises."""
    parts: list[str] = []
    resized: list[tuple[int, int]] = []
    disguised: list[int] = []
    hidden = 0
    for i, ch in enumerate(run):
        f = fold_char(ch)
        parts.append(f)
        if ch in ZERO_WIDTH:
            hidden += 1
            disguised.append(i)
        elif f.isascii() and f.isalnum():
            disguised.append(i)
        if len(f) != 1:
            resized.append((i, len(f)))
    text = "".join(parts)
    return FoldedRun(text, tuple(resized), tuple(disguised), hidden, _REGIONAL.search(text) is not None)
