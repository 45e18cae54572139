"""Business findings become alerts through the same tables as the video rules, and their units rectify them.

A finding (analytics.business.Finding) is an `incidents` row with no camera (its `source_id` names the window,
lane, outlet, testing line or staff member; its evidence JSON holds the explanation and the evidence rows, as
msgids and values that the desk and the pushes read in their reader's language: analytics/business/texts.py).
It opens an `alerts` row unless a live alert with the same key exists (`business:<kind>:<source>:<rule>`,
the same partial unique index as the video alerts), and queues outbox pushes to the responsible unit's
contacts and to the supervision centre (plus whatever the configured routes add). A repeated check records
nothing twice: the incident's `finding_key` is unique.

Rectification (migration 0007): each business alert opens a `rectifications` row for its unit; the unit marks
it rectified with a note, the supervision centre verifies it (or sends it back to open). Every step is an
append-only `rectification_events` row, an `alert_events` row and an `audit_log` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from alerts.config import AlertsConfig
from alerts.enqueue import enqueue
from alerts.routing import AlertFacts, route
from alerts.store import open_alert
from alerts.timeline import add_event
from analytics.business.texts import explain
from analytics.texts import alert_title
from common.model import severity_at_least
from i18n import DEFAULT_LOCALE


class FindingLike(Protocol):
    """What alerts needs of analytics.business.Finding (alerts does not import the rules)."""

    rule: str
    site_id: str
    source_kind: str
    source_id: str
    started_at: datetime
    ended_at: datetime
    severity: str
    unit_member: tuple[str, str]
    measures: dict[str, float]

    @property
    def key(self) -> str: ...

    def evidence(self, max_rows: int = 50) -> dict[str, Any]: ...


class RectificationError(ValueError):
    """A rectification step that does not apply (wrong state, missing note, unknown alert)."""


@dataclass
class RecordStats:
    findings: int = 0
    already_recorded: int = 0
    alerts_opened: int = 0
    merged: int = 0
    pushes: int = 0


def dedup_key(f: FindingLike) -> str:
    return f"business:{f.source_kind}:{f.source_id}:{f.rule}"


class BusinessAlerts:
    def __init__(self, pool: ConnectionPool, config: AlertsConfig, max_evidence_rows: int = 50) -> None:
        self.pool = pool
        self.config = config
        self.max_rows = max_evidence_rows
        self._min_severity = {n.id: n.min_severity for n in config.notifiers}

    def record(self, findings: list[FindingLike]) -> RecordStats:
        stats = RecordStats()
        for f in sorted(findings, key=lambda f: f.started_at):
            stats.findings += 1
            self._one(f, stats)
        return stats

    __call__ = record  # usable directly as the scheduler's sink

    def _one(self, f: FindingLike, stats: RecordStats) -> None:
        evidence = f.evidence(self.max_rows)
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO incidents (camera_id, source_id, rule, zone_id, started_at, ended_at, confidence,"
                " evidence) VALUES (NULL, %s, %s, NULL, %s, %s, 1.0, %s)"
                " ON CONFLICT ((evidence ->> 'finding_key')) WHERE evidence ? 'finding_key' DO NOTHING RETURNING id",
                (f.source_id, f.rule, f.started_at, f.ended_at, Jsonb(evidence))).fetchone()
            if row is None:
                stats.already_recorded += 1
                return
            incident_id = int(row[0])
            site = site_zone_and_language(conn, f.site_id)
            unit_id = responsible_unit(conn, f.site_id, *f.unit_member, staff_id=(
                f.source_id if f.source_kind == "staff" else None))
            # The same opening as a video alert's (alerts/store.py), without a camera: a repeat of the finding
            # while its alert is live extends that alert's end.
            opening = open_alert(
                conn, dedup_key=dedup_key(f), incident_id=incident_id, site_id=f.site_id, source_id=f.source_id,
                unit_id=unit_id, rule=f.rule, severity=f.severity, title=title(f, site[1]), started_at=f.started_at,
                ended_at=f.ended_at, detail={"incident_id": incident_id, "finding_key": f.key, "measures": f.measures,
                                             "explanation": evidence["explanation"]})
            alert_id = opening.alert_id
            if not opening.created:
                stats.merged += 1
                return
            stats.alerts_opened += 1
            rect_id = conn.execute("INSERT INTO rectifications (alert_id, unit_id) VALUES (%s, %s) RETURNING id",
                                   (alert_id, unit_id)).fetchone()[0]
            conn.execute("INSERT INTO rectification_events (rectification_id, actor, action, detail)"
                         " VALUES (%s, 'system', 'opened', %s)", (rect_id, Jsonb({"unit_id": unit_id})))
            stats.pushes += self._push(conn, alert_id, unit_id, f, evidence, site)

    def _push(self, conn, alert_id: int, unit_id: str | None, f: FindingLike, evidence: dict[str, Any],
              site: tuple[str, str]) -> int:
        unit_name = None
        if unit_id:
            unit_name = conn.execute("SELECT name FROM units WHERE id = %s", (unit_id,)).fetchone()[0]
        unit_channels, centre_channels = contact_channels(conn, unit_id)
        routed: list[str] = []
        if self.config.routes:
            routed = route(self.config.routes, AlertFacts(f.site_id, f.source_kind, f.rule, f.severity, f.ended_at),
                           site[0], default=[])
        targets = list(dict.fromkeys(unit_channels + centre_channels + routed))
        if not targets:  # no unit, centre or route configured: nobody may be left out, as with video alerts
            targets = list(self._min_severity)
        base = self.config.review_base_url.rstrip("/")
        payload = {
            "event": "alert.opened", "alert_id": alert_id, "site_id": f.site_id, "camera_id": None,
            "source_id": f.source_id, "source_kind": f.source_kind, "unit_id": unit_id, "unit_name": unit_name,
            "rule": f.rule, "zone_id": None, "severity": f.severity, "title": title(f, site[1]),
            "started_at": f.started_at.isoformat(), "raised_at": datetime.now(tz=UTC).isoformat(),
            "measures": f.measures, "review_url": f"{base}/alerts/{alert_id}",
            # The explanation as msgids and values, read in the site's language when the push is rendered
            # (alerts/notifiers/render.py); as text too, for a webhook or MQTT subscriber that shows it as it is.
            "locale": site[1], "explanation": evidence["explanation"],
            "explanation_text": explain(evidence, site[1]),
        }
        n = 0
        for channel in targets:
            floor = self._min_severity.get(channel)
            if floor is not None and not severity_at_least(f.severity, floor):
                continue
            enqueue(conn, channel, f"alert-{alert_id}-opened-{channel}",
                    {**payload, "audience": "unit" if channel in unit_channels else "centre"}, alert_id)
            n += 1
        return n


def site_zone_and_language(conn, site_id: str) -> tuple[str, str]:
    """(time zone, language) of the site: its people read the stored title and the pushes in that language."""
    row = conn.execute("SELECT timezone, language FROM sites WHERE id = %s", (site_id,)).fetchone()
    return (row[0], row[1]) if row else ("UTC", DEFAULT_LOCALE)


def title(f: FindingLike, locale: str) -> str:
    """The alert's title in `locale`: the rule's name and the source (the desk renders it again per reader)."""
    return alert_title(f.rule, {}, locale=locale, source=f.source_id)


def responsible_unit(conn, site_id: str, member_kind: str, member_id: str, staff_id: str | None = None) -> str | None:
    """The unit answering for a member: the staff member's own unit, else the member's, else the site's."""
    candidates = ([("staff", staff_id)] if staff_id else []) + [(member_kind, member_id), ("site", site_id)]
    for kind, mid in candidates:
        row = conn.execute("SELECT unit_id FROM unit_members WHERE site_id = %s AND member_kind = %s"
                           " AND member_id = %s", (site_id, kind, mid)).fetchone()
        if row:
            return str(row[0])
    return None


def contact_channels(conn, unit_id: str | None) -> tuple[list[str], list[str]]:
    """(the unit's contact channels, the supervision centre's): the centre above the unit, else every centre."""
    unit: list[str] = []
    centres: list[str] = []
    if unit_id:
        unit = [r[0] for r in conn.execute("SELECT DISTINCT channel FROM unit_contacts WHERE unit_id = %s ORDER BY 1",
                                           (unit_id,))]
        centres = [r[0] for r in conn.execute(
            "WITH RECURSIVE up AS (SELECT id, parent, kind FROM units WHERE id = %s"
            " UNION SELECT u.id, u.parent, u.kind FROM units u JOIN up ON u.id = up.parent)"
            " SELECT DISTINCT c.channel FROM up JOIN unit_contacts c ON c.unit_id = up.id"
            " WHERE up.kind = 'supervision_centre' AND up.id <> %s ORDER BY 1", (unit_id, unit_id))]
    if not centres:
        centres = [r[0] for r in conn.execute(
            "SELECT DISTINCT c.channel FROM units u JOIN unit_contacts c ON c.unit_id = u.id"
            " WHERE u.kind = 'supervision_centre' AND u.id IS DISTINCT FROM %s ORDER BY 1", (unit_id,))]
    return unit, [c for c in centres if c not in unit]


# -- rectification ---------------------------------------------------------------------------------------
_STEPS = {
    # action: (allowed from, to, needs a note)
    "rectified": (("open",), "rectified", True),
    "verified": (("rectified",), "verified", False),
    "rejected": (("rectified",), "open", True),
}


def rectification_step(conn, alert_id: int, action: str, actor: str, note: str = "") -> str:
    """Move the rectification of `alert_id` one step (in the caller's transaction); return the new status.

    rectified: the unit says it fixed the problem (a note is required); verified: the supervision centre
    confirms; rejected: the centre sends it back to open (a note says why).
    """
    if action not in _STEPS:
        raise RectificationError(f"unknown rectification step {action!r}; use {', '.join(_STEPS)}")
    allowed, target, needs_note = _STEPS[action]
    note = note.strip()
    if needs_note and not note:
        raise RectificationError(f"a note is required to mark it {action}")
    row = conn.execute("SELECT id, status FROM rectifications WHERE alert_id = %s FOR UPDATE", (alert_id,)).fetchone()
    if row is None:
        raise RectificationError(f"alert {alert_id} has no rectification")
    rect_id, status = row
    if status not in allowed:
        raise RectificationError(f"rectification of alert {alert_id} is {status}; "
                                 f"'{action}' needs {' or '.join(allowed)}")
    stamp = {"rectified": "rectified_at = now(),", "verified": "verified_at = now(),", "rejected": ""}[action]
    conn.execute(f"UPDATE rectifications SET status = %s, {stamp} note = COALESCE(NULLIF(%s, ''), note),"
                 " updated_at = now() WHERE id = %s", (target, note, rect_id))
    detail = {"from": status, "to": target, "note": note}
    conn.execute("INSERT INTO rectification_events (rectification_id, actor, action, note, detail)"
                 " VALUES (%s, %s, %s, %s, %s)", (rect_id, actor, action, note or None, Jsonb(detail)))
    add_event(conn, alert_id, actor, f"rectification_{action}", detail)
    conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                 (actor, f"rectification_{action}", f"alert:{alert_id}", Jsonb(detail)))
    return target
