"""Outputs: batch files (and, later, takedown reports and HTTP)."""

from .batch import InputError, Summary, score_file

__all__ = ["InputError", "Summary", "score_file"]
