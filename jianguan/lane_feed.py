"""Lane-sensor events from the intake to the lane rules of a running node.

The intake (ingest/events) stores each accepted lane event in `lane_events` and claims its message id in
`intake_seen` in the same transaction, stamped `seen_at`. The feed polls by `seen_at` (indexed), through
`ingest.events.lane_events_since` (the tables are ingest's: docs/design.md, "Table ownership"), for this site's
lane events and hands each one, once, to `Node.post_event` for every camera whose lane rules
watch that lane (the lane zone's `lane.external_id`, else its id). The node then gives it to the rules just before the
first frame at or after the event's time, so an inspection record and the video stay in order.

Why a poll and not LISTEN/NOTIFY: a notification sent while the feed was disconnected is lost, and a poll by
`seen_at` picks up after any gap; once a second is well inside what the lane rules need (they wait
`record_tolerance_s`, 30 s, for late records). `seen_at` is the inserting transaction's start time, so a
transaction that commits after a later one started could land behind the watermark: every poll re-reads
`overlap_s` before it and drops the message ids it has already passed on.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import psycopg

from analytics.rule_config import LaneRuleBase
from analytics.rules import ExternalEvent
from ingest.events import lane_events_since
from jianguan.config import SiteConfig

log = logging.getLogger(__name__)

def lane_routes(config: SiteConfig) -> dict[str, list[str]]:
    """Lane id (as the sensors spell it) -> the cameras whose lane rules watch that lane."""
    routes: dict[str, list[str]] = {}
    for cam in config.cameras:
        lanes = {z.id: z.lane for z in cam.zones}
        for rule in cam.rules:
            if isinstance(rule, LaneRuleBase):
                lane = lanes.get(rule.zone)  # the zone's `lane` settings name the lane as the sensors do
                cams = routes.setdefault((lane.external_id if lane else None) or rule.zone, [])
                if cam.id not in cams:
                    cams.append(cam.id)
    return routes


class LaneEventFeed:
    """Polls the intake every `interval_s` and posts each new lane event to the cameras of its lane.

    Starts `start_lookback_s` before now, so records typed just before the node started still reach the
    rules. A database that is away is retried every poll; nothing is lost, because the watermark only moves
    over rows actually passed on."""

    def __init__(self, dsn: str, site_id: str, routes: Mapping[str, list[str]],
                 post: Callable[[str, ExternalEvent], None], *, interval_s: float = 1.0, overlap_s: float = 5.0,
                 start_lookback_s: float = 60.0, batch: int = 1000) -> None:
        self.dsn, self.site_id, self.routes, self.post = dsn, site_id, dict(routes), post
        self.interval_s, self.overlap, self.batch = interval_s, timedelta(seconds=overlap_s), batch
        self.watermark: datetime | None = None
        self.start_lookback = timedelta(seconds=start_lookback_s)
        self.posted = 0
        self.errors = 0
        self._passed: OrderedDict[str, datetime] = OrderedDict()  # message id -> seen_at, inside the overlap
        self._conn: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.routes:
            return  # no lane rules here: nothing to route
        self._thread = threading.Thread(target=self._run, name="lane-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.poll_once() >= self.batch:  # a full page of new events: a backlog, read on
                    pass
            except psycopg.Error as exc:
                self.errors += 1
                # The message names the failure, never the DSN (it may carry a password).
                log.warning("lane event feed: database unavailable (%s); retrying", type(exc).__name__)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            self._stop.wait(self.interval_s)

    def poll_once(self) -> int:
        """Read what arrived since the last poll and post it; the number of new events posted."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True, application_name="jianguan-lane-feed")
        if self.watermark is None:
            now = self._conn.execute("SELECT now()").fetchone()[0]  # the database's clock, as seen_at's
            self.watermark = now - self.start_lookback
        rows = lane_events_since(self._conn, self.site_id, list(self.routes), self.watermark - self.overlap,
                                 self.batch)
        new = 0
        for row in rows:
            if row.message_id in self._passed:
                continue
            extra = {k: v for k, v in (("plate", row.plate), ("inspector_id", row.inspector_id)) if v is not None}
            event = ExternalEvent(row.ts.timestamp(), row.kind, row.lane_id, {**(row.payload or {}), **extra,
                                                                               "message_id": row.message_id})
            for camera_id in self.routes.get(row.lane_id, []):
                self.post(camera_id, event)
            self.posted += 1
            new += 1
            self._passed[row.message_id] = row.seen_at
            self.watermark = max(self.watermark, row.seen_at)
        self._forget()
        return new

    def _forget(self) -> None:
        """Ids older than the overlap can never be read again: drop them (the set stays small)."""
        assert self.watermark is not None
        horizon = self.watermark - self.overlap
        while self._passed and next(iter(self._passed.values())) < horizon:
            self._passed.popitem(last=False)

