"""Outputs: batch files and DataFrames, takedown reports, HTTP."""

from .batch import InputError, Summary, score_file
from .dataframe import score_dataframe
from .report import Report, ReportInputError, build_report, read_decisions, read_scored, write_report

__all__ = ["InputError", "Report", "ReportInputError", "Summary", "build_report", "read_decisions", "read_scored",
           "score_dataframe", "score_file", "write_report"]
