"""Takedown reports: flagged posts as rows a ministry or platform can act on, grouped into campaigns.

    from scamdetect.outputs.report import build_report, build_report_file, read_decisions, write_report
    report = build_report(records, decisions={"p1": "rejected"})     # scored rows (dicts)
    report = build_report_file("scored.jsonl", decisions=read_decisions("decisions.csv"), jobs=2)
    write_report(report, "report.xlsx")          # or .csv, .html, .json
"""

from .build import Report, build_report, build_report_file, known_models
from .rows import WIB, Decision, ReportInputError, read_decisions, read_scored
from .writers import COLUMNS, report_format, write_report

__all__ = ["COLUMNS", "WIB", "Decision", "Report", "ReportInputError", "build_report", "build_report_file",
           "known_models",
           "read_decisions", "read_scored", "report_format", "write_report"]
