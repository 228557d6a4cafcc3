"""Outputs: batch files (and, later, takedown reports and HTTP)."""

from .batch import InputError, Summary, score_file
from .report import Report, ReportInputError, build_report, read_decisions, read_scored, write_report

__all__ = ["InputError", "Report", "ReportInputError", "Summary", "build_report", "read_decisions", "read_scored",
           "score_file", "write_report"]
