"""HTTP intake on a real uvicorn server on 127.0.0.1, with a real PostgreSQL behind it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from ingest.events import Intake
from ingest.events.http_api import create_app

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Server:
    def __init__(self, intake: Intake, port: int, **limits) -> None:
        app = create_app(intake, TOKEN, **limits)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def api(intake, ev) -> Iterator[httpx.Client]:
    server = Server(intake, ev.free_port(), max_body_bytes=64 * 1024, max_batch=50)
    ev.wait_until(lambda: server.server.started, 10, "uvicorn to start")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.close()


def dead(ev, dsn):
    return ev.query(dsn, "SELECT source, reason, payload FROM dead_letters ORDER BY id")


def test_auth_is_checked_before_anything_else(api, db_dsn, ev):
    body = [ev.lane("m1", "vehicle_in", 0)]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        r = api.post("/api/v1/lane-events", json=body, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = api.post("/api/v1/lane-events", content=b"junk", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 0
    assert dead(ev, db_dsn) == []  # strangers cannot fill the dead-letter table


def test_batch_answers_per_message_and_redelivery_counts_once(api, db_dsn, ev):
    batch = [ev.lane("m1", "vehicle_in", 0), ev.lane("m2", "inspection_start", 1), ev.lane("m3", "teleport", 2),
             ev.lane("m4", "inspection_end", 14)]
    r = api.post("/api/v1/lane-events", json=batch, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 0, 1)
    assert [x["status"] for x in body["results"]] == ["accepted", "accepted", "rejected", "accepted"]
    assert body["results"][2]["message_id"] == "m3" and body["results"][2]["reason"].startswith("kind:")
    again = api.post("/api/v1/lane-events", json=batch, headers=AUTH).json()
    assert [x["status"] for x in again["results"]] == ["duplicate", "duplicate", "rejected", "duplicate"]
    assert ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 3
    assert ev.query(db_dsn, "SELECT count(*), count(finished_at) FROM inspections")[0] == (1, 1)
    assert [d[0] for d in dead(ev, db_dsn)] == ["http:lane_events", "http:lane_events"]


def test_transactions_and_their_updates(api, db_dsn, ev):
    assert api.post("/api/v1/transactions", json=ev.tx("t-001", 0), headers=AUTH).json()["accepted"] == 1
    r = api.post("/api/v1/transactions", json=[ev.tx("t-001", 0, 2, 9), ev.tx("t-002", 1, 0)], headers=AUTH).json()
    assert [x["status"] for x in r["results"]] == ["updated", "rejected"]
    assert "called_at is before queued_at" in r["results"][1]["reason"]
    assert ev.query(db_dsn, "SELECT message_id, wait_s, handle_s FROM transactions") == [("t-001", 120.0, 420.0)]


def test_unusable_bodies_are_refused_whole_and_kept(api, db_dsn, ev):
    cases = [
        (b"{not json", 400, "not valid JSON"),
        ("[{\"message_id\": \"\u4eac\"}]".encode("gb18030"), 400, "not valid UTF-8"),
        (json.dumps([ev.lane(f"m{i}", "vehicle_in", 0) for i in range(51)]).encode(), 413, "batch of 51 messages"),
        (b"x" * 70_000, 413, "body of 70000 bytes exceeds 65536"),
    ]
    for raw, status, reason in cases:
        r = api.post("/api/v1/lane-events", content=raw, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == status and reason in r.json()["detail"], (raw[:30], r.text)
    # A chunked body without Content-Length is cut off at the limit as well.
    r = api.post("/api/v1/transactions", content=iter([b"[" + b" " * 40_000] * 2), headers=AUTH)
    assert r.status_code == 413 and "more than 65536" in r.json()["detail"]
    rows = dead(ev, db_dsn)
    assert [r[1].split(" (")[0].split(" of ")[0] for r in rows] == [
        "not valid JSON", "not valid UTF-8", "batch", "body", "body"]
    assert all(len(r[2]) <= 4096 + 40 for r in rows)
    assert rows[3][2].startswith("xxxx") and rows[1][2].startswith('[{"message_id": "\\x')


def test_openapi_documents_the_message_schemas(api):
    spec = api.get("/api/openapi.json").json()
    body = spec["paths"]["/api/v1/lane-events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0]["properties"]["kind"]["enum"][0] == "vehicle_in"
    assert "/api/v1/transactions" in spec["paths"]


def test_database_down_without_a_spool_answers_503_and_takes_nothing(ev):
    from psycopg_pool import ConnectionPool

    from ingest.events import EventStore

    with ConnectionPool(f"host=127.0.0.1 port={ev.free_port()} user=x dbname=x connect_timeout=1", min_size=0,
                        max_size=1, open=True) as dead:
        server = Server(Intake(EventStore(dead, connect_timeout_s=0.3)), ev.free_port())
        ev.wait_until(lambda: server.server.started, 10, "uvicorn to start")
        try:
            r = httpx.post(f"{server.url}/api/v1/lane-events", json=[ev.lane("m1", "vehicle_in", 0)], headers=AUTH)
        finally:
            server.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "database unavailable" in r.json()["detail"] and "send the batch again" in r.json()["detail"]


LANE_TOKEN = "lane-2-token-0123456789abcdef"


def test_tokens_speak_for_their_site_and_lanes_only(pool, db_dsn, ev):
    """Issue 18: events for another site, for a lane the site does not have, or for a lane outside the
    sender's token used to be accepted with the one shared token. Now they go to dead_letters with why."""
    from ingest.events.scope import Scope
    from ingest.events.store import EventStore

    intake = Intake(EventStore(pool), scope=Scope("hq", frozenset({"lane-1", "lane-2"})))
    app = create_app(intake, TOKEN, lane_tokens={LANE_TOKEN: ["lane-2"]})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=(port := ev.free_port()), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ev.wait_until(lambda: server.started, 10, "uvicorn to start")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/lane-events"
        body = [ev.lane("ok-1", "vehicle_in", 0), ev.lane("other-site", "vehicle_in", 1, site="branch"),
                ev.lane("no-lane", "vehicle_in", 2, lane_id="lane-9"),
                ev.lane("ok-2", "vehicle_in", 3, lane_id="lane-2")]
        r = httpx.post(url, json=body, headers=AUTH).json()
        assert (r["accepted"], r["rejected"]) == (2, 2)
        by_lane_token = httpx.post(url, json=[ev.lane("l2", "vehicle_in", 4, lane_id="lane-2"),
                                              ev.lane("l1", "vehicle_in", 5, lane_id="lane-1")],
                                   headers={"Authorization": f"Bearer {LANE_TOKEN}"}).json()
        assert (by_lane_token["accepted"], by_lane_token["rejected"]) == (1, 1)
        assert httpx.post(url, json=[], headers={"Authorization": "Bearer lane-2-token"}).status_code == 401
    finally:
        server.should_exit = True
        thread.join(10)
    reasons = [reason for _, reason, _ in dead(ev, db_dsn)]
    assert reasons == ["site_id 'branch' is not this intake's site 'hq'",
                       "unknown lane 'lane-9': site 'hq' has lane-1, lane-2",
                       "lane 'lane-1' is outside this token's lanes (lane-2)"]
    assert sorted(m for (m,) in ev.query(db_dsn, "SELECT message_id FROM lane_events")) == ["l2", "ok-1", "ok-2"]
