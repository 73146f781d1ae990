"""The self-contained HTML report (charts embedded) and its PNG charts."""

from inferonomics.report.build import ReportResult, build_report

__all__ = ["build_report", "ReportResult"]
