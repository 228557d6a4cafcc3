"""Takedown reports: flagged posts as rows a ministry or platform can act on, grouped into campaigns.

    from scamdetect.outputs import build_report, read_scored, write_report
    report = build_report(read_scored("scored.jsonl"), decisions=read_decisions("decisions.csv"))
    write_report(report, "report.xlsx")          # or .csv, .html, .json
"""

from .build import Report, build_report, build_report_file, known_models
from .rows import WIB, Decision, ReportInputError, read_decisions, read_scored
from .writers import COLUMNS, report_format, write_report

__all__ = ["COLUMNS", "WIB", "Decision", "Report", "ReportInputError", "build_report", "build_report_file",
           "known_models",
           "read_decisions", "read_scored", "report_format", "write_report"]
