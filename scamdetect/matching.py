"""Which of many patterns occur in a text, in one pass.

Python's regex engine spends about 10 µs per pattern on a 300-character post whatever the
pattern, so a dozen "is this worth a closer look?" checks cost more than the work they save.
Hyperscan (x86-64) answers for all patterns at once in a few microseconds; elsewhere RE2 sets do,
a few times slower. Patterns must suit both (no lookarounds or backreferences).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Sequence

from .config import cache_dir


def hyperscan_database(patterns: Sequence[str], flags: int | Sequence[int] = 0, utf8: bool = True):  # type: ignore[no-untyped-def]
    """A compiled Hyperscan database and its scratch space: empty matches allowed, plus ``flags``
    (one for all patterns, or one per pattern); ``utf8=False`` for ASCII input (see ``ascii_bytes``)."""
    import hyperscan

    common = hyperscan.HS_FLAG_ALLOWEMPTY | (hyperscan.HS_FLAG_UTF8 if utf8 else 0)
    per = [f | common for f in ([flags] * len(patterns) if isinstance(flags, int) else flags)]
    key = hashlib.sha256(json.dumps([hyperscan.__version__, list(patterns), per]).encode()).hexdigest()
    db = _cached(key)
    if db is None:
        db = hyperscan.Database()
        db.compile(expressions=[p.encode() for p in patterns], ids=list(range(len(patterns))),
                   elements=len(patterns), flags=per)
        _store(key, db)
    return db, hyperscan.Scratch(db)


# Compiling the rule patterns takes most of a second, every time a process loads a model: the
# compiled database is kept in the cache folder, keyed by the patterns, flags and library version.
def _cache_file(key: str) -> Path:
    return cache_dir() / "hyperscan" / f"{key}.db"


def _cached(key: str):  # type: ignore[no-untyped-def]
    import hyperscan

    try:
        return hyperscan.loadb(_cache_file(key).read_bytes(), hyperscan.HS_MODE_BLOCK)
    except Exception:  # missing, unreadable or damaged: compile again
        return None


def _store(db_key: str, db) -> None:  # type: ignore[no-untyped-def]
    import hyperscan

    path = _cache_file(db_key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(hyperscan.dumpb(db))
        os.replace(tmp, path)  # readers see a whole file or none
    except OSError:  # a read-only home: the cache is only an optimisation
        pass


def _substitute(err: UnicodeError) -> tuple[str, int]:
    return "\x1a" * (err.end - err.start), err.end  # type: ignore[attr-defined]


codecs.register_error("scamdetect.substitute", _substitute)


def ascii_bytes(text: str) -> bytes:
    """``text`` as bytes, one per character, each non-ASCII character replaced by SUB (0x1A).

    Byte offsets are then character offsets. For patterns written in ASCII this changes no match
    as long as they do not ask for Unicode classes: SUB, like any non-ASCII letter without UCP, is
    neither a word nor a space character and matches only ``.`` and negated classes.
    """
    return text.encode("ascii", "scamdetect.substitute")


class PatternSet:
    """A fixed list of patterns; ``matching(text)`` gives the indices of those found in ``text``."""

    # RE2 sets of about ten patterns: one automaton for many grows too many states and slows down
    RE2_CHUNK = 10

    def __init__(self, patterns: Sequence[str]):
        self.patterns = list(patterns)
        self._db = None
        self._sets: list[tuple[int, object]] = []
        try:
            import hyperscan
        except ImportError:  # Hyperscan builds for x86-64 only
            self._sets = _re2_sets(self.patterns, self.RE2_CHUNK)
            return
        self._db, self._scratch = hyperscan_database(self.patterns, hyperscan.HS_FLAG_SINGLEMATCH)
        self._lock = threading.Lock()  # a scratch space serves one scan at a time

    @staticmethod
    def _on_match(pattern: int, start: int, end: int, flags: int, found: list[int]) -> None:
        found.append(pattern)

    def matching(self, text: str) -> set[int]:
        """Indices of the patterns that occur in ``text``."""
        if self._db is None:
            return {k + j for k, rx_set in self._sets for j in rx_set.Match(text) or ()}  # type: ignore[attr-defined]
        found: list[int] = []
        with self._lock:
            self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=self._on_match,
                          context=found, scratch=self._scratch)
        return set(found)


def _re2_sets(patterns: Sequence[str], chunk: int) -> list[tuple[int, object]]:
    import re2

    opts = re2.Options()
    opts.never_capture = True
    sets = []
    for k in range(0, len(patterns), chunk):
        rx_set = re2.Set.SearchSet(opts)
        for p in patterns[k:k + chunk]:
            rx_set.Add(p)
        rx_set.Compile()
        sets.append((k, rx_set))
    return sets
