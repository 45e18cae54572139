"""Supervision reports (daily, weekly, monthly): figures from the store, matplotlib charts, HTML and PDF,
archived with their sha256 and pushed to the commanders through the alert outbox."""

from reports.config import ReportsConfig, Targets
from reports.periods import KINDS, Period, default_day, period
from reports.publish import Published, publish
from reports.render import ReportError

__all__ = ["KINDS", "Period", "Published", "ReportError", "ReportsConfig", "Targets", "default_day", "period",
           "publish"]
