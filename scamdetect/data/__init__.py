"""The corpus, the external sets in ../shared, splits, obfuscation and validation."""

from .obfuscate import Obfuscator
from .schema import CATEGORIES, FIELDS, LANGS, PLATFORMS, SPLITS, check_record
from .sources import EXTERNAL, DataMissingError, read_corpus
from .splits import assign_splits, near_duplicate_pairs, stable_split

__all__ = ["CATEGORIES", "FIELDS", "LANGS", "PLATFORMS", "SPLITS", "EXTERNAL", "DataMissingError",
           "Obfuscator", "assign_splits", "check_record", "near_duplicate_pairs", "read_corpus", "stable_split"]
