"""Lane events from the real intake (HTTP-shaped batches into PostgreSQL) to the cameras of their lane."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.rules import ExternalEvent
from ingest.events import EventStore, Intake, parse_batch
from jianguan.config import parse_config
from jianguan.lane_feed import LaneEventFeed, lane_routes
from tests.testkit.net import wait_until


def lane_rule(kind: str, zone: str, **kw) -> dict:
    return {"type": kind, "zone": zone, **kw}


def site(cameras: list[dict]) -> dict:
    return {"site": {"id": "hq", "name": "HQ"}, "cameras": cameras}


def camera(cid: str, rules: list[dict], zones: tuple[str, ...] = ("lane1", "lane2"), **external_ids: str) -> dict:
    """A lane camera; `external_ids` (zone id -> the sensors' lane id) go on the zones' `lane` settings."""
    return {"id": cid, "name": cid, "area": "inspection_lane", "streams": {"detect": "rtsp://127.0.0.1:1/x"},
            "rules": rules,
            "zones": [{"id": z, "kind": "lane", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                       "lane": {"external_id": external_ids.get(z)}} for z in zones]}


def test_routes_follow_the_lane_rules_external_ids() -> None:
    config = parse_config(site([
        camera("lane-cam-1", [lane_rule("inspector_absent", "lane1"),
                              lane_rule("inspection_without_vehicle", "lane1")], lane1="L1"),
        camera("lane-cam-2", [lane_rule("vehicle_left_uninspected", "lane2")]),   # no external id: the zone id
        camera("lane-cam-3", [lane_rule("walkaround_incomplete", "lane1")], lane1="L1"),  # a second view
        camera("window-1", [{"type": "zone_unattended", "zone": "lane1"}]),
    ]), source="test")
    assert lane_routes(config) == {"L1": ["lane-cam-1", "lane-cam-3"], "lane2": ["lane-cam-2"]}


@pytest.fixture
def intake(db_dsn: str):
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        yield Intake(EventStore(pool))


def send(intake: Intake, *messages: dict) -> list[str]:
    raw = json.dumps(list(messages)).encode()
    return [o.status for o in intake.submit(parse_batch(raw, "lane_events", source="test"))]


def event(mid: str, kind: str, lane: str, at: datetime, site_id: str = "hq", **extra) -> dict:
    if kind.startswith("inspection"):  # the intake requires both for inspection records
        extra = {"plate": "京B00001", "inspector_id": "insp-1", **extra}
    return {"message_id": mid, "site_id": site_id, "lane_id": lane, "kind": kind, "ts": at.isoformat(), **extra}


class Posts:
    def __init__(self) -> None:
        self.got: list[tuple[str, ExternalEvent]] = []
        self.lock = threading.Lock()

    def __call__(self, camera_id: str, ev: ExternalEvent) -> None:
        with self.lock:
            self.got.append((camera_id, ev))

    def ids(self) -> list[tuple[str, str]]:
        with self.lock:
            return sorted((c, e.payload["message_id"]) for c, e in self.got)


def test_each_lane_event_reaches_its_lanes_cameras_once(db_dsn: str, intake: Intake) -> None:
    now = datetime.now(UTC)
    posts = Posts()
    feed = LaneEventFeed(db_dsn, "hq", {"L1": ["cam-a", "cam-b"], "L2": ["cam-c"]}, posts, interval_s=0.1)
    # Typed 30 s before the node started: inside the start look-back, so it is delivered.
    assert send(intake, event("m0", "inspection_start", "L1", now - timedelta(seconds=30), plate="京A12345")) == [
        "accepted"]
    feed.start()
    try:
        assert send(intake,
                    event("m1", "inspection_end", "L1", now, plate="京A12345", inspector_id="insp-7"),
                    event("m2", "vehicle_in", "L2", now),
                    event("m3", "vehicle_in", "L9", now),                      # nobody watches lane L9
                    event("m4", "vehicle_in", "L1", now, site_id="branch")) == ["accepted"] * 4  # another site
        assert send(intake, event("m1", "inspection_end", "L1", now)) == ["duplicate"]  # a redelivery
        wait_until(lambda: len(posts.ids()) >= 4, 10, "the feed to post")
        time.sleep(0.5)  # several more polls: the overlap re-reads m0..m2, and nothing may come twice
        assert posts.ids() == [("cam-a", "m0"), ("cam-a", "m1"), ("cam-b", "m0"), ("cam-b", "m1"), ("cam-c", "m2")]
        end = next(e for c, e in posts.got if c == "cam-a" and e.payload["message_id"] == "m1")
        assert (end.kind, end.target, end.ts) == ("inspection_end", "L1", pytest.approx(now.timestamp(), abs=1e-3))
        assert end.payload["plate"] == "京A12345" and end.payload["inspector_id"] == "insp-7"
    finally:
        feed.stop()
    assert feed.errors == 0


def test_an_event_committed_late_within_the_overlap_is_not_missed(db_dsn: str, intake: Intake) -> None:
    """`seen_at` is the inserting transaction's start: a slow transaction commits behind the watermark."""
    posts = Posts()
    feed = LaneEventFeed(db_dsn, "hq", {"L1": ["cam-a"]}, posts, interval_s=0.1, overlap_s=5.0)
    now = datetime.now(UTC)
    # On TimescaleDB the first row of a time range creates its chunk, and every other insert into that range
    # waits until the creating transaction commits: the slow transaction must not be the one to create it
    # (the intake's and writers' transactions are short; docs/store.md). A row inserted and deleted does.
    with psycopg.connect(db_dsn, autocommit=True) as setup:
        setup.execute("INSERT INTO lane_events (ts, message_id, site_id, lane_id, kind) "
                      "VALUES (%s, 'chunk', 'hq', 'L0', 'vehicle_in')", (now,))
        setup.execute("DELETE FROM lane_events WHERE message_id = 'chunk'")
    with psycopg.connect(db_dsn) as slow:  # starts its transaction (and its now()) first
        slow.execute("SELECT now()")
        slow.execute("INSERT INTO lane_events (ts, message_id, site_id, lane_id, kind) "
                     "VALUES (%s, 'late', 'hq', 'L1', 'inspection_start')", (now,))
        slow.execute("INSERT INTO intake_seen (stream, message_id, ref_ts) VALUES ('lane_events', 'late', %s)",
                     (now,))
        time.sleep(0.3)
        feed.start()
        try:
            send(intake, event("quick", "inspection_end", "L1", now))
            wait_until(lambda: posts.ids() == [("cam-a", "quick")], 10, "the quick event")
            slow.commit()  # now visible, with a seen_at before the watermark
            wait_until(lambda: len(posts.ids()) == 2, 10, "the late event")
        finally:
            feed.stop()
    assert posts.ids() == [("cam-a", "late"), ("cam-a", "quick")]


def test_a_database_that_is_away_is_retried_without_loss(db_dsn: str, intake: Intake) -> None:
    posts = Posts()
    bad = LaneEventFeed("host=127.0.0.1 port=1 dbname=x user=x password=SECRET-pw connect_timeout=1", "hq",
                        {"L1": ["cam-a"]}, posts, interval_s=0.1)
    with pytest.raises(psycopg.OperationalError):
        bad.poll_once()
    feed = LaneEventFeed(db_dsn, "hq", {"L1": ["cam-a"]}, posts, interval_s=0.1)
    assert feed.poll_once() == 0
    # The database goes away between polls (the feed's connection is killed), then an event arrives.
    with psycopg.connect(db_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'jianguan-lane-feed'")
    send(intake, event("after", "inspection_start", "L1", datetime.now(UTC)))
    feed.start()
    try:
        wait_until(lambda: posts.ids() == [("cam-a", "after")], 10, "the event after the reconnect")
    finally:
        feed.stop()
    assert feed.errors >= 1
