"""Which evidence clips alerts still hold, and the expiry of those no alert holds.

The clip files are cut and deleted by ingest (ingest/retention.py), but the rows and what decides that a clip
is still evidence are the alerts package's (`clips`, `alerts`, `alert_events`: docs/design.md, "Table
ownership"). ingest never imports alerts: the node hands its retention sweeper a `ClipRetention`, whose two
methods are all the sweeper knows of the database (ingest.retention.ClipLedger).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from psycopg_pool import ConnectionPool

from alerts.timeline import add_event

# The one rule for evidence: a clip is held while its own `locked` flag is set (set when it is attached to
# an alert, cleared by the review desk when the alert is closed as a false alarm: alerts/workflow.py) or while
# any alert that shows it is not closed as a false alarm (open, acknowledged, reviewed, or confirmed / needs
# follow-up; this also covers a closed false alarm whose verdict was later changed back).
HELD_SQL = """(c.locked OR EXISTS (SELECT 1 FROM alerts a WHERE a.clip_id = c.id
                                   AND NOT (a.status = 'closed' AND a.verdict IS NOT DISTINCT FROM 'false_alarm')))"""

# Marked under their row locks, so the rule is judged on rows nobody is changing meanwhile; SKIP LOCKED: a
# clip the desk is closing right now waits for the next sweep.
_MARK_SQL = f"""
UPDATE clips SET deleted_at = now(), deleted_reason = %(reason)s
WHERE id IN (SELECT c.id FROM clips c
             WHERE c.deleted_at IS NULL AND c.created_at < now() - make_interval(secs => %(age_s)s)
               AND NOT {HELD_SQL}
             ORDER BY c.created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, camera_id, path, bytes
"""

# Alerts whose clip is still to be cut (the clip worker waits for the recording to pass the alert's end).
_PENDING_SQL = """
SELECT a.camera_id, extract(epoch FROM a.started_at)::float8 FROM alerts a
WHERE a.clip_id IS NULL AND a.created_at > now() - make_interval(secs => %s)
  AND NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.id AND e.action = 'clip_failed')
"""

CONNECT_TIMEOUT_S = 5.0  # a sweep must not hang on a busy pool: the next one tries again


class ExpiringClip(NamedTuple):
    """A clip row just marked deleted, whose file is to go."""

    clip_id: int
    camera_id: str
    path: str
    bytes: int


class ClipRetention:
    """The database side of clip retention, for ingest's `RetentionSweeper`. Errors (psycopg's, the pool's
    timeout) reach the caller, which counts the database as unreachable for that sweep."""

    def __init__(self, pool: ConnectionPool, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.pool = pool
        self.connect_timeout_s = connect_timeout_s

    def pending_starts(self, hold_s: float) -> list[tuple[str, float]]:
        """(camera, epoch start) of each alert younger than `hold_s` whose clip is still to be cut and has not
        failed: the segments around its start must stay."""
        with self.pool.connection(timeout=self.connect_timeout_s) as conn:
            rows = conn.execute(_PENDING_SQL, (hold_s,)).fetchall()
        return [(str(cam), float(t)) for cam, t in rows]

    def expire(self, older_than_s: float, reason: str, limit: int,
               remove: Callable[[ExpiringClip], bool]) -> list[ExpiringClip]:
        """In one transaction: mark up to `limit` clips older than `older_than_s` that nothing holds, call
        `remove` for each (True: its file is gone, deleted now or before; False: it is still there), unmark
        the rows whose file stayed, and note the deletion on the timeline of every alert that showed each
        clip. If the commit is lost, the next call marks the rows again and finds the files already gone.
        The clips whose files are gone."""
        gone: list[ExpiringClip] = []
        with self.pool.connection(timeout=self.connect_timeout_s) as conn, conn.transaction():
            rows = conn.execute(_MARK_SQL, {"reason": reason, "age_s": older_than_s, "limit": limit}).fetchall()
            kept = []
            for row in rows:
                clip = ExpiringClip(int(row[0]), str(row[1]), str(row[2]), int(row[3]))
                if not remove(clip):
                    kept.append(clip.clip_id)
                    continue
                gone.append(clip)
                showing = conn.execute("SELECT id FROM alerts WHERE clip_id = %s", (clip.clip_id,)).fetchall()
                for (alert_id,) in showing:
                    add_event(conn, alert_id, "retention", "clip_deleted", {"clip_id": clip.clip_id, "reason": reason})
            if kept:  # the file is still there: its row must not claim otherwise
                conn.execute("UPDATE clips SET deleted_at = NULL, deleted_reason = NULL WHERE id = ANY(%s)", (kept,))
        return gone


__all__ = ["HELD_SQL", "ClipRetention", "ExpiringClip"]
