"""The run's HTML report and its JUnit XML, both regenerated from the run folder alone."""

from harness.report.html import write_report
from harness.report.junit import write_junit

__all__ = ["write_junit", "write_report"]
