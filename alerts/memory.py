"""`AlertStore` without a database: the same incidents, alerts and outbox rows, held in memory.

`jianguan evaluate --replay` runs the node's whole incident -> alert path (`AlertManager`: uids, copies,
snapshots, the writer's spool and order) and needs the rows the full run scores without PostgreSQL. Only the
storage is swapped: what `AlertStore` does in SQL is done here on lists, with the database's own rounding of
times (timestamptz keeps microseconds), so `incident_rows()` reads exactly as `jianguan.evaluate.load_found`
reads the incidents table. `tests/alerts/test_memory_store.py` holds the two stores to the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.store import AlertRef, Message
from analytics import Incident


def db_time(epoch: float) -> float:
    """`epoch` as a timestamptz column gives it back: rounded to the microsecond (as `alerts.store.ts` sends it)."""
    return datetime.fromtimestamp(epoch, tz=UTC).timestamp()


def _db_time_or_none(epoch: float | None) -> float | None:
    return None if epoch is None else db_time(epoch)


@dataclass
class IncidentRow:
    id: int
    uid: str | None
    camera_id: str
    rule: str
    zone_id: str | None
    started_at: float
    ended_at: float | None
    raised_at: float  # evidence->>'raised_at': JSON keeps a float exactly
    confidence: float
    measures: dict[str, Any]


@dataclass
class AlertRow:
    id: int
    dedup_key: str
    incident_id: int
    camera_id: str
    rule: str
    ended_at: float | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # alert_events: action, detail


class MemoryAlertStore:
    """AlertStore's contract (record_incident, ref_of, close_incident, attach_clip, clip_failed) on lists.

    Nobody reviews or closes an alert here, so every alert stays live and a cooldown (which reads reviewed
    and closed alerts) never applies; an incident with the key of a live alert merges into it, or reopens it
    where `repage` says so, as in SQL."""

    def __init__(self) -> None:
        self.incidents: list[IncidentRow] = []
        self.alerts: list[AlertRow] = []
        self.outbox: list[tuple[int, str, str]] = []  # alert id, channel, idempotency key
        self._by_uid: dict[str, AlertRef] = {}
        self._live: dict[str, AlertRow] = {}  # dedup_key -> its live alert

    def record_incident(self, inc: Incident, site_id: str, title: str, snapshot: tuple[str, str] | None,
                        cooldown_s: float = 0.0, *, uid: str | None = None,
                        messages: Callable[[int], Sequence[Message]] | None = None,
                        repage: bool = False, timeout_s: float | None = None) -> AlertRef:
        if uid is not None and uid in self._by_uid:  # recorded before: a replayed spool
            return self._by_uid[uid]
        row = IncidentRow(len(self.incidents) + 1, uid, inc.camera_id, inc.rule, inc.zone_id,
                          db_time(inc.started_at), _db_time_or_none(inc.ended_at), float(inc.raised_at),
                          inc.confidence, dict(inc.measures))
        self.incidents.append(row)
        detail = {"incident_id": row.id, "confidence": inc.confidence, "measures": inc.measures}
        alert = self._live.get(inc.key)
        created = alert is None
        reopened = False
        if alert is None:
            alert = AlertRow(len(self.alerts) + 1, inc.key, row.id, inc.camera_id, inc.rule)
            self.alerts.append(alert)
            self._live[inc.key] = alert
            alert.events.append(("opened", detail))
        elif repage and alert.ended_at is not None:
            alert.ended_at, reopened = None, True
            alert.events.append(("reopened", detail))
        else:
            alert.events.append(("incident_merged", detail))
        if messages is not None and (created or reopened):
            for channel, _payload, key in messages(alert.id):
                self.outbox.append((alert.id, channel, key if created else f"{key}-incident-{row.id}"))
        ref = AlertRef(alert.id, row.id, created)
        if uid is not None:
            self._by_uid[uid] = AlertRef(alert.id, row.id, False)
        return ref

    def ref_of(self, uid: str, timeout_s: float | None = None) -> AlertRef | None:
        return self._by_uid.get(uid)

    def close_incident(self, ref: AlertRef, inc: Incident, timeout_s: float | None = None,
                       messages: Callable[[int], Sequence[Message]] | None = None) -> None:
        for channel, _payload, key in messages(ref.alert_id) if messages is not None else ():
            self.outbox.append((ref.alert_id, channel, f"{key}-incident-{ref.incident_id}"))
        row = self.incidents[ref.incident_id - 1]
        row.ended_at = _db_time_or_none(inc.ended_at)
        row.measures = dict(inc.measures)  # `evidence || {"measures": ...}` replaces the key
        alert = self.alerts[ref.alert_id - 1]
        alert.ended_at = row.ended_at
        alert.events.append(("incident_ended", {"ended_at": inc.ended_at}))

    def attach_clip(self, alert_id: int, camera_id: str, clip: Any) -> int:
        self.alerts[alert_id - 1].events.append(("clip_attached", {"sha256": clip.sha256}))
        return 0

    def clip_failed(self, alert_id: int, reason: str) -> None:
        self.alerts[alert_id - 1].events.append(("clip_failed", {"reason": reason}))

    def incident_rows(self) -> list[tuple[str, str, str | None, float, float, float | None]]:
        """(camera, rule, zone, started, raised, ended) of every incident in the order they were recorded: what
        `jianguan.evaluate.load_found` selects from the incidents table."""
        return [(r.camera_id, r.rule, r.zone_id, r.started_at, r.raised_at, r.ended_at) for r in self.incidents]
