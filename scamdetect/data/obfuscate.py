"""Disguise text the way recruiters dodge filters, for augmentation and robustness tests.

Each technique rewrites a share of the words: look-alike letters from other scripts, digits for
letters, spaced-out letters, zero-width characters inside words, decorative Unicode fonts, emoji.
Seeded, so an obfuscated test split is the same on every run.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Sequence

# Latin letter -> look-alikes from Cyrillic and Greek (what filters miss most).
HOMOGLYPHS = {
    "a": "аα", "c": "сϲ", "e": "е", "i": "іι", "j": "ј", "o": "оο", "p": "рρ", "s": "ѕ", "x": "хχ",
    "y": "уγ", "k": "κ", "n": "η", "h": "һ", "b": "Ь", "d": "ԁ", "g": "ɡ", "l": "ӏ", "t": "τ",
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "І", "K": "КΚ", "M": "МΜ", "O": "ОΟ",
    "P": "РΡ", "T": "ТΤ", "X": "ХΧ", "Y": "Υ",
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "b": "8", "g": "9"}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
EMOJI = ("🔥", "💰", "✈️", "✅", "📲", "💸", "⭐", "🚀", "📢", "🌏")
# Decorative alphabets: the offset of 'a' and 'A' in a Mathematical Alphanumeric block.
FONTS = ((0x1D41A, 0x1D400), (0x1D5EE, 0x1D5D4), (0x1D4EA, 0x1D4D0), (0x1D68A, 0x1D670), (0x1D552, 0x1D538))
_SMALL_CAPS = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡxʏᴢ"))
_WORD = re.compile(r"[A-Za-z]{3,}")


def homoglyphs(word: str, rng: random.Random) -> str:
    return "".join(rng.choice(HOMOGLYPHS[c]) if c in HOMOGLYPHS and rng.random() < 0.5 else c for c in word)


def leet(word: str, rng: random.Random) -> str:
    return "".join(LEET[c.lower()] if c.lower() in LEET and i and rng.random() < 0.6 else c
                   for i, c in enumerate(word))


def spaced(word: str, rng: random.Random) -> str:
    return rng.choice((" ", " ", ".", "-")).join(word.upper() if rng.random() < 0.5 else word)


def zero_width(word: str, rng: random.Random) -> str:
    cut = rng.randrange(1, len(word))
    return word[:cut] + rng.choice(ZERO_WIDTH) + word[cut:]


def fancy_font(word: str, rng: random.Random) -> str:
    if rng.random() < 0.25:
        return "".join(_SMALL_CAPS.get(c.lower(), c) for c in word)
    lower, upper = rng.choice(FONTS)
    return "".join(chr(lower + ord(c) - 97) if "a" <= c <= "z" else chr(upper + ord(c) - 65) if "A" <= c <= "Z" else c
                   for c in word)


def emoji_wrap(word: str, rng: random.Random) -> str:
    e = rng.choice(EMOJI)
    return f"{e}{word}{e}" if rng.random() < 0.5 else f"{word}{e}"


TECHNIQUES: dict[str, Callable[[str, random.Random], str]] = {
    "homoglyph": homoglyphs, "leet": leet, "spaced": spaced, "zero_width": zero_width,
    "font": fancy_font, "emoji": emoji_wrap,
}


class Obfuscator:
    """Rewrites a share of the words of a post with one or two techniques, reproducibly."""

    def __init__(self, seed: int = 0, rate: float = 0.35, techniques: Sequence[str] | None = None):
        unknown = set(techniques or ()) - set(TECHNIQUES)
        if unknown:
            raise ValueError(f"unknown techniques: {sorted(unknown)} (known: {sorted(TECHNIQUES)})")
        if not 0 < rate <= 1:
            raise ValueError("rate must be in (0, 1]")
        self.seed = seed
        self.rate = rate
        self.techniques = list(techniques or TECHNIQUES)

    def __call__(self, text: str, key: str = "") -> str:
        """Disguise ``text``; the same ``key`` (a post id) always gives the same result."""
        rng = random.Random(f"{self.seed}:{key or text}")
        chosen = rng.sample(self.techniques, k=min(len(self.techniques), rng.choice((1, 1, 2))))

        def one(m: re.Match[str]) -> str:
            if rng.random() >= self.rate:
                return m.group(0)
            return TECHNIQUES[rng.choice(chosen)](m.group(0), rng)

        out = _WORD.sub(one, text)
        # make sure at least one word changed, so every copy really is disguised
        return out if out != text else _WORD.sub(lambda m: TECHNIQUES[chosen[0]](m.group(0), rng), text, count=1)
