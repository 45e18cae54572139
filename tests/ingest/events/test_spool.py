"""The spool on its own: survives a process restart, ignores a torn temporary file, sets aside a damaged one."""

from __future__ import annotations

import json

from psycopg_pool import ConnectionPool

from ingest.events import EventStore, Intake, Spool, parse_batch


def _dead_pool(ev) -> ConnectionPool:
    # Nothing listens on this port: every connection attempt fails at once.
    return ConnectionPool(f"host=127.0.0.1 port={ev.free_port()} user=x dbname=x connect_timeout=1",
                          min_size=0, max_size=1, open=True)


def test_spooled_batches_survive_a_restart_of_the_process(tmp_path, pool, db_dsn, ev):
    spool_dir = tmp_path / "spool"
    with _dead_pool(ev) as dead:
        intake = Intake(EventStore(dead, connect_timeout_s=0.3), Spool(spool_dir))
        raw = json.dumps([ev.lane("s1", "inspection_start", 0), ev.lane("s2", "inspection_end", 9),
                          ev.lane("s3", "bogus", 1)]).encode()
        assert [o.status for o in intake.submit(parse_batch(raw, "lane_events", source="http"))] == [
            "queued", "queued", "rejected"]
        intake.submit(parse_batch(json.dumps(ev.tx("t-001", 0, 1, 2)).encode(), "transactions", source="http"))
        assert intake.pending() == 2
    # A crash mid-write leaves a temporary file: it was never acknowledged, so it is dropped at start.
    (spool_dir / "000000000099.tmp").write_text("{half")
    # A new process, a live database: the backlog is replayed in order, exactly once.
    intake = Intake(EventStore(pool), Spool(spool_dir))
    assert intake.pending() == 2 and not list(spool_dir.glob("*.tmp"))
    assert intake.replay() == 2 and intake.pending() == 0
    assert intake.replay() == 0
    assert ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 2
    assert ev.query(db_dsn, "SELECT count(finished_at) FROM inspections")[0][0] == 1
    assert ev.query(db_dsn, "SELECT wait_s, handle_s FROM transactions") == [(60.0, 60.0)]
    assert ev.query(db_dsn, "SELECT source, reason FROM dead_letters")[0][0] == "http"
    assert intake.replayed == {"accepted": 3}


def test_a_damaged_spool_file_is_set_aside_not_fatal(tmp_path, pool, db_dsn, ev):
    spool = Spool(tmp_path / "spool")
    assert spool.append({"received_at": "2024-05-01T08:00:00+00:00", "accepted": [], "dead": []})
    (tmp_path / "spool" / "000000000001.json").write_bytes(b"\x00garbage")
    intake = Intake(EventStore(pool), Spool(tmp_path / "spool"))
    assert intake.replay() == 0 and intake.pending() == 0
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["000000000001.bad"]
