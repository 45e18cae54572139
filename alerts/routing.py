"""Who hears about what: routes map site, area, rule, severity and time of day to notifiers;
escalation re-sends a serious alert to the next level when nobody acknowledges it in time."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import Field, field_validator

from alerts.enqueue import enqueue
from common.model import SEVERITY_ORDER, Severity, Strict, severity_at_least
from i18n import N_, TranslatableError

log = logging.getLogger(__name__)


class RouteMatch(Strict):
    """Every given field must match; an empty list matches anything."""

    sites: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    min_severity: Severity = "info"
    hours: str | None = Field(None, description="local time window 'HH:MM-HH:MM' (may cross midnight)")

    @field_validator("hours")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            _parse_window(v)
        return v


class Route(Strict):
    match: RouteMatch = Field(default_factory=RouteMatch)
    notifiers: list[str] = Field(min_length=1)


class EscalationStep(Strict):
    after_min: float = Field(gt=0, description="minutes after the alert opened without acknowledgement")
    notifiers: list[str] = Field(min_length=1)


class EscalationConfig(Strict):
    min_severity: Severity = "major"
    steps: list[EscalationStep] = Field(default_factory=list)

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        if any(b.after_min <= a.after_min for a, b in zip(steps, steps[1:], strict=False)):
            raise TranslatableError(N_("escalation steps must come in increasing after_min"))
        return steps


def _parse_window(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError:
        raise TranslatableError(N_("hours must look like '08:30-17:30', got {spec!r}"), spec=text) from None
    return start, end


@dataclass(frozen=True)
class AlertFacts:
    site_id: str
    area: str
    rule: str
    severity: str
    at: datetime  # aware


def _matches(m: RouteMatch, facts: AlertFacts, tz: ZoneInfo) -> bool:
    if m.sites and facts.site_id not in m.sites:
        return False
    if m.areas and facts.area not in m.areas:
        return False
    if m.rules and facts.rule not in m.rules:
        return False
    if not severity_at_least(facts.severity, m.min_severity):
        return False
    if m.hours:
        start, end = _parse_window(m.hours)
        local = facts.at.astimezone(tz).time()
        inside = start <= local < end if start <= end else (local >= start or local < end)
        if not inside:
            return False
    return True


def route(routes: list[Route], facts: AlertFacts, timezone: str, default: list[str]) -> list[str]:
    """Notifier ids for an alert: the union of every matching route, or `default` when no route is set.

    >>> from datetime import timezone as tz
    >>> r = [Route(match=RouteMatch(areas=["exam_room"], min_severity="major"), notifiers=["exam-office"]),
    ...      Route(match=RouteMatch(hours="22:00-06:00"), notifiers=["night-duty"])]
    >>> night = datetime(2026, 1, 5, 15, 0, tzinfo=tz.utc)   # 23:00 in Shanghai
    >>> route(r, AlertFacts("s1", "exam_room", "phone_at_seat", "critical", night), "Asia/Shanghai", [])
    ['exam-office', 'night-duty']
    >>> route(r, AlertFacts("s1", "window", "zone_unattended", "major", night.replace(hour=3)), "Asia/Shanghai", [])
    []
    """
    if not routes:
        return list(default)
    zone = ZoneInfo(timezone)
    out: list[str] = []
    for r in routes:
        if _matches(r.match, facts, zone):
            out += [n for n in r.notifiers if n not in out]
    return out


class Escalator:
    """Periodically finds serious alerts still `open` past a step's deadline and queues that step's pushes.

    Each (alert, step) is escalated once: the outbox idempotency key `alert-<id>-escalation-<k>-<channel>`
    and an `escalated` event make a second pass, or a second node, a no-op.
    """

    def __init__(self, pool: ConnectionPool, config: EscalationConfig, review_base_url: str,
                 poll_s: float = 15.0) -> None:
        self.pool = pool
        self.config = config
        self.review_base_url = review_base_url.rstrip("/")
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        queued = 0
        min_rank = SEVERITY_ORDER[self.config.min_severity]
        severities = [s for s, r in SEVERITY_ORDER.items() if r >= min_rank]
        for level, step in enumerate(self.config.steps, start=1):
            with self.pool.connection() as conn, conn.transaction():
                due = conn.execute(
                    "SELECT a.id, a.site_id, a.camera_id, a.rule, a.zone_id, a.severity, a.title, a.started_at"
                    " FROM alerts a WHERE a.status = 'open' AND a.severity = ANY(%s)"
                    " AND a.created_at <= now() - make_interval(secs => %s)"
                    " AND NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.id"
                    "   AND e.action = 'escalated' AND (e.detail->>'level')::int = %s)"
                    " FOR UPDATE SKIP LOCKED",
                    (severities, step.after_min * 60, level),
                ).fetchall()
                for alert_id, site, cam, rule, zone, sev, title, started in due:
                    payload = {"event": "alert.escalated", "level": level, "alert_id": alert_id, "site_id": site,
                               "camera_id": cam, "rule": rule, "zone_id": zone, "severity": sev,
                               "title": f"[unacknowledged {step.after_min:g} min] {title}",
                               "started_at": started.isoformat(),
                               "review_url": f"{self.review_base_url}/alerts/{alert_id}"}
                    for channel in step.notifiers:
                        enqueue(conn, channel, f"alert-{alert_id}-escalation-{level}-{channel}", payload, alert_id)
                    conn.execute("INSERT INTO alert_events (alert_id, actor, action, detail)"
                                 " VALUES (%s, 'system', 'escalated', %s)",
                                 (alert_id, Jsonb({"level": level, "notifiers": step.notifiers})))
                    queued += 1
        return queued

    def start(self) -> None:
        if not self.config.steps:
            return
        self._thread = threading.Thread(target=self._loop, name="escalator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.run_once()
            except Exception:  # the database may be away; the next pass catches up
                log.exception("escalation pass failed")
