"""The corpus, the external sets in ../shared, splits, obfuscation and validation."""

from .obfuscate import Obfuscator
from .schema import CATEGORIES, FIELDS, LANGS, PLATFORMS, SPLITS, check_record
from .sources import EXTERNAL, DataMissingError, read_corpus

_SPLITS = ("assign_splits", "near_duplicate_pairs", "stable_split")


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # splits needs datasketch (and through it SciPy's slower corners): imported when first used,
    # so that commands which only report a missing-data error stay quick to start
    if name in _SPLITS:
        from . import splits

        return getattr(splits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["CATEGORIES", "FIELDS", "LANGS", "PLATFORMS", "SPLITS", "EXTERNAL", "DataMissingError",
           "Obfuscator", "assign_splits", "check_record", "near_duplicate_pairs", "read_corpus", "stable_split"]
