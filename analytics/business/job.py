"""Run the business rules over a period of the store, once or on a schedule."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from analytics.business import queries as q
from analytics.business.config import BusinessConfig
from analytics.business.hours import outside_hours_findings
from analytics.business.inspections import lane_cameras, no_vehicle_findings, short_inspection_findings
from analytics.business.model import Finding
from analytics.business.passrate import pass_rate_findings
from analytics.business.staff import staff_findings
from analytics.business.volume import WEEK, volume_findings

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    since: datetime
    until: datetime
    findings: list[Finding] = field(default_factory=list)
    seconds_by_rule: dict[str, float] = field(default_factory=dict)

    def count_by_rule(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.rule] = out.get(f.rule, 0) + 1
        return out


def whole_hour(moment: datetime) -> datetime:
    """The last complete hour boundary: rules judge complete hours and days only."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def run_checks(conn: psycopg.Connection, cfg: BusinessConfig, since: datetime, until: datetime,
               site_id: str | None = None) -> CheckReport:
    """Every enabled rule over [since, until) for every site (or one). Pure reads; nothing is written."""
    until = whole_hour(until)
    report = CheckReport(since, until)
    sites = conn.execute("SELECT id, timezone FROM sites" + (" WHERE id = %s" if site_id else "") + " ORDER BY id",
                         (site_id,) if site_id else ()).fetchall()
    for sid, tz in sites:
        _site(conn, cfg, sid, tz, since, until, report)
    return report


def _timed(report: CheckReport, rule: str, fn: Callable[[], list[Finding]]) -> None:
    t0 = time.perf_counter()
    report.findings += fn()
    report.seconds_by_rule[rule] = report.seconds_by_rule.get(rule, 0.0) + time.perf_counter() - t0


def _site(conn: psycopg.Connection, cfg: BusinessConfig, sid: str, tz: str, since: datetime, until: datetime,
          report: CheckReport) -> None:
    kinds = q.source_kinds(conn, sid)
    common = {"site_id": sid, "since": since, "until": until, "timezone": tz}
    if cfg.volume.enabled:
        def volume() -> list[Finding]:
            counts, first = q.hourly_counts(conn, sid, since - cfg.volume.weeks * WEEK, until, kinds)
            return volume_findings(counts, first, cfg=cfg.volume, **common)
        _timed(report, "business_volume_anomaly", volume)
    events: list | None = None
    if cfg.outside_hours.enabled or cfg.staff.enabled:
        t0 = time.perf_counter()
        events = q.business_events(conn, sid, since, until, kinds)
        report.seconds_by_rule["load_events"] = time.perf_counter() - t0
    if cfg.outside_hours.enabled:
        _timed(report, "business_outside_hours", lambda: outside_hours_findings(
            events, cfg.opening_hours, cfg=cfg.outside_hours, **common))
    if cfg.staff.enabled:
        def staff() -> list[Finding]:
            work = q.work_of_sources(conn, sid, since - timedelta(days=cfg.staff.lookback_days), until)
            return staff_findings(events, work, cfg=cfg.staff, **common)
        _timed(report, "business_staff_outlier", staff)
    if cfg.short_inspection.enabled:
        _timed(report, "business_inspection_short", lambda: short_inspection_findings(
            q.inspections(conn, sid, since - timedelta(days=cfg.short_inspection.lookback_days), until),
            cfg=cfg.short_inspection, **common))
    if cfg.no_vehicle.enabled:
        def no_vehicle() -> list[Finding]:
            lanes, cams = q.lane_ids_and_cameras(conn, sid)
            cams_of = lane_cameras(lanes, cams, cfg.no_vehicle)
            rows = q.inspections(conn, sid, since, until)
            coverage = q.lane_coverage(conn, sid, since, until, cams_of, cfg.no_vehicle.zone)
            incidents = q.vision_no_vehicle(conn, since, until, cams_of)
            return no_vehicle_findings(rows, coverage, incidents, cfg=cfg.no_vehicle, **common)
        _timed(report, "business_inspection_without_vehicle", no_vehicle)
    if cfg.pass_rate.enabled:
        span = timedelta(days=cfg.pass_rate.window_days + cfg.pass_rate.baseline_days + 1)
        _timed(report, "business_pass_rate_drift", lambda: pass_rate_findings(
            q.test_days(conn, sid, tz, since - span, until), cfg=cfg.pass_rate, **common))


Sink = Callable[[list[Finding]], object]


class BusinessScheduler:
    """Re-checks the last `recheck_days` every `check_every_min` and hands the findings to `sink` (which must
    be idempotent per finding key, as alerts.business is): a missed or repeated run loses and doubles nothing."""

    def __init__(self, connect: Callable[[], psycopg.Connection], cfg: BusinessConfig, sink: Sink,
                 clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC)) -> None:
        self.connect = connect
        self.cfg = cfg
        self.sink = sink
        self.clock = clock
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> CheckReport:
        now = self.clock()
        with self.connect() as conn:
            report = run_checks(conn, self.cfg, now - timedelta(days=self.cfg.recheck_days), now)
        self.sink(report.findings)
        self.runs += 1
        return report

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="business-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database may be away; the next run re-reads the same period
                log.exception("business check failed")
            self._stop.wait(self.cfg.check_every_min * 60)
