"""Business early warning: robust, explainable rules over transactions, inspections and testing results.

Pure functions over rows (`volume`, `inspections`, `hours`, `staff`, `passrate`), the store queries that feed
them (`queries`) and a job that runs them once or on a schedule (`job`). Findings become alerts through
`alerts.business` (the same alerts table, dedup, outbox and routing as the video rules).
"""

from analytics.business.config import BusinessConfig, OpeningHours
from analytics.business.job import BusinessScheduler, CheckReport, run_checks, whole_hour
from analytics.business.model import RULES, Finding

__all__ = ["RULES", "BusinessConfig", "BusinessScheduler", "CheckReport", "Finding", "OpeningHours", "run_checks",
           "whole_hour"]
