"""The alert lifecycle in the database: incidents, alerts (deduplicated), events, clips, outbox rows.

`open_alert` is the one statement that opens an alert (or folds an incident into the live alert of its key):
video incidents (`AlertStore.record_incident`) and business findings (alerts/business.py) both go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from alerts.enqueue import enqueue
from alerts.timeline import add_event
from analytics import Incident


def ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


Message = tuple[str, dict[str, Any], str]  # channel, payload, idempotency key


@dataclass(frozen=True)
class AlertRef:
    alert_id: int
    incident_id: int
    created: bool  # False: an ongoing alert with the same key absorbed this incident


@dataclass(frozen=True)
class Opening:
    alert_id: int
    created: bool  # a new alert
    reopened: bool  # the live alert's last incident was over and `repage` made it live again


def open_alert(conn: psycopg.Connection, *, dedup_key: str, incident_id: int, site_id: str, rule: str,
               severity: str, title: str, started_at: datetime | None, detail: dict[str, Any],
               camera_id: str | None = None, source_id: str | None = None, unit_id: str | None = None,
               zone_id: str | None = None, ended_at: datetime | None = None,
               snapshot: tuple[str, str] | None = None, repage: bool = False) -> Opening:
    """Open an alert for the incident, in the caller's transaction, unless a live alert (open or acknowledged)
    holds `dedup_key` already (the partial unique index on it): then the incident is merged into that one,
    whose end moves to the later of the two (a video incident has no end yet: NULL leaves it). The step goes
    on the alert's timeline with `detail`: `opened`, `incident_merged`, or with `repage`, when the live
    alert's last incident was over, `reopened` (its end cleared: a camera lost a second time is news again)."""
    row = conn.execute(
        "INSERT INTO alerts (dedup_key, incident_id, site_id, camera_id, source_id, unit_id, rule, zone_id, severity,"
        " title, started_at, ended_at, snapshot_path, snapshot_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (dedup_key) WHERE status IN ('open', 'acknowledged') DO UPDATE"
        " SET updated_at = now(), ended_at = GREATEST(alerts.ended_at, EXCLUDED.ended_at)"
        " RETURNING id, (xmax = 0) AS inserted, ended_at IS NOT NULL",
        (dedup_key, incident_id, site_id, camera_id, source_id, unit_id, rule, zone_id, severity, title, started_at,
         ended_at, snapshot[0] if snapshot else None, snapshot[1] if snapshot else None),
    ).fetchone()
    alert_id, created, was_over = int(row[0]), bool(row[1]), bool(row[2])
    reopened = not created and repage and was_over
    if reopened:
        conn.execute("UPDATE alerts SET ended_at = NULL WHERE id = %s", (alert_id,))
    add_event(conn, alert_id, "system", "opened" if created else "reopened" if reopened else "incident_merged", detail)
    return Opening(alert_id, created, reopened)


class AlertStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def record_incident(self, inc: Incident, site_id: str, title: str, snapshot: tuple[str, str] | None,
                        cooldown_s: float = 0.0, *, uid: str | None = None,
                        messages: Callable[[int], Sequence[Message]] | None = None,
                        repage: bool = False, timeout_s: float | None = None) -> AlertRef:
        """Insert the incident, and open an alert for it unless a live one with the same key exists, or one
        with the same key was reviewed or closed less than `cooldown_s` ago (then the incident is recorded
        against that alert's timeline instead of paging everyone again).

        `messages(alert_id)`: the pushes of a newly opened alert, queued in the outbox in the same transaction
        (a crash can never leave an alert that is not pushed). `uid`: the incident's identity from its node;
        recording the same uid again (a spool replayed after a commit whose acknowledgement was lost) changes
        nothing and returns the first recording's ref with `created` False. `repage`: an incident that
        begins after the live alert's last one ended reopens it and is pushed again (camera health: each
        outage is news), instead of being merged silently."""
        evidence = {"boxes": inc.boxes, "measures": inc.measures, "raised_at": inc.raised_at}
        with self.pool.connection(timeout=timeout_s) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO incidents (camera_id, rule, zone_id, started_at, ended_at, confidence, track_ids,"
                " evidence, uid) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (uid) WHERE uid IS NOT NULL DO NOTHING RETURNING id",
                (inc.camera_id, inc.rule, inc.zone_id, ts(inc.started_at), ts(inc.ended_at), inc.confidence,
                 inc.track_ids, Jsonb(evidence), uid),
            ).fetchone()
            if row is None:  # recorded before: a replay
                assert uid is not None
                ref = self._ref_of(conn, uid)
                assert ref is not None, f"incident {uid} exists without its alert"
                return ref
            incident_id = row[0]
            if cooldown_s > 0:
                recent = conn.execute(
                    "SELECT id FROM alerts WHERE dedup_key = %s AND status IN ('reviewed', 'closed')"
                    " AND updated_at > now() - make_interval(secs => %s) ORDER BY updated_at DESC LIMIT 1",
                    (inc.key, cooldown_s)).fetchone()
                if recent is not None:
                    add_event(conn, int(recent[0]), "system", "incident_during_cooldown",
                              {"incident_id": incident_id, "confidence": inc.confidence, "measures": inc.measures})
                    return AlertRef(int(recent[0]), incident_id, False)
            # A reopened alert (the last incident of this alert was over and a new one began: a camera lost a
            # second time) is live again and pages again, not folded silently into an unread alert.
            opening = open_alert(
                conn, dedup_key=inc.key, incident_id=incident_id, site_id=site_id, camera_id=inc.camera_id,
                rule=inc.rule, zone_id=inc.zone_id, severity=inc.severity, title=title,
                started_at=ts(inc.started_at), snapshot=snapshot, repage=repage,
                detail={"incident_id": incident_id, "confidence": inc.confidence, "measures": inc.measures})
            alert_id, created = opening.alert_id, opening.created
            if messages is not None and (created or opening.reopened):
                for channel, payload, key in messages(alert_id):
                    if not created:
                        payload, key = {**payload, "event": "alert.reopened", "incident_id": incident_id}, \
                            f"{key}-incident-{incident_id}"
                    enqueue(conn, channel, key, payload, alert_id)
        return AlertRef(alert_id, incident_id, created)

    def ref_of(self, uid: str, timeout_s: float | None = None) -> AlertRef | None:
        """The alert an incident recorded with `uid` belongs to (None: not recorded)."""
        with self.pool.connection(timeout=timeout_s) as conn:
            return self._ref_of(conn, uid)

    @staticmethod
    def _ref_of(conn, uid: str) -> AlertRef | None:  # noqa: ANN001 - a psycopg connection
        row = conn.execute(
            "SELECT e.alert_id, i.id FROM incidents i JOIN alert_events e"
            " ON e.action IN ('opened', 'reopened', 'incident_merged', 'incident_during_cooldown')"
            " AND (e.detail ->> 'incident_id')::bigint = i.id WHERE i.uid = %s", (uid,)).fetchone()
        return None if row is None else AlertRef(int(row[0]), int(row[1]), False)

    def close_incident(self, ref: AlertRef, inc: Incident, timeout_s: float | None = None,
                       messages: Callable[[int], Sequence[Message]] | None = None) -> None:
        """End the incident and its alert's live period; `messages(alert_id)`: pushes saying it is over (a
        camera's picture back), queued in the same transaction, once per incident."""
        with self.pool.connection(timeout=timeout_s) as conn, conn.transaction():
            for channel, payload, key in messages(ref.alert_id) if messages is not None else ():
                enqueue(conn, channel, f"{key}-incident-{ref.incident_id}", {**payload, "incident_id": ref.incident_id},
                        ref.alert_id)
            conn.execute(
                "UPDATE incidents SET ended_at = %s, evidence = evidence || %s WHERE id = %s",
                (ts(inc.ended_at), Jsonb({"measures": inc.measures}), ref.incident_id),
            )
            conn.execute("UPDATE alerts SET ended_at = %s, updated_at = now() WHERE id = %s",
                         (ts(inc.ended_at), ref.alert_id))
            add_event(conn, ref.alert_id, "system", "incident_ended", {"ended_at": inc.ended_at})

    def attach_clip(self, alert_id: int, camera_id: str, clip: Any) -> int:
        """Store the clip row (locked: evidence of a live alert) and link it to the alert."""
        with self.pool.connection() as conn, conn.transaction():
            clip_id = conn.execute(
                "INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked)"
                " VALUES (%s, %s, %s, %s, %s, %s, true) RETURNING id",
                (camera_id, ts(clip.start_ts), ts(clip.end_ts), str(clip.path), clip.sha256, clip.bytes),
            ).fetchone()[0]
            conn.execute("UPDATE alerts SET clip_id = %s, updated_at = now() WHERE id = %s", (clip_id, alert_id))
            add_event(conn, alert_id, "system", "clip_attached", {"clip_id": clip_id, "sha256": clip.sha256})
        return int(clip_id)

    def clip_failed(self, alert_id: int, reason: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            add_event(conn, alert_id, "system", "clip_failed", {"reason": reason})
