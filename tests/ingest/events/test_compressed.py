"""Writes that reach rows older than TimescaleDB's compression window (0004: 30 days for transactions and
lane_events). On TimescaleDB the old chunks are really compressed first; on plain PostgreSQL the same
test runs without that step, so the logic is covered either way. `SELECT .. FOR UPDATE` on a compressed
chunk fails there with `locking compressed tuples is not supported`, which the intake used to take for an
outage: every batch with an update was spooled and never stored."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from ingest.events import EventStore, Intake, Spool, parse_batch
from storage import timescaledb_enabled

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=60)  # well past the 30 days after which 0004 compresses


def _tx(mid: str, queued: datetime, called: datetime | None = None, finished: datetime | None = None,
        **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": mid, "site_id": "hq", "window_id": "W01", "business_type": "renewal",
                           "queued_at": queued.isoformat(), **extra}
    if called is not None:
        msg["called_at"] = called.isoformat()
    if finished is not None:
        msg["finished_at"] = finished.isoformat()
    return msg


def _lane(mid: str, kind: str, ts: datetime, plate: str = "京A00001") -> dict[str, Any]:
    return {"message_id": mid, "site_id": "hq", "lane_id": "lane-1", "kind": kind, "ts": ts.isoformat(),
            "plate": plate, "inspector_id": "insp-1"}


def _send(intake: Intake, stream: str, *messages: dict[str, Any]) -> list[str]:
    raw = json.dumps(list(messages), ensure_ascii=False).encode()
    return [o.status for o in intake.submit(parse_batch(raw, stream, source="test"))]  # type: ignore[arg-type]


def _compress_old_chunks(dsn: str, tables: tuple[str, ...] = ("transactions", "lane_events")) -> bool:
    """Compress every chunk of `tables` older than 30 days, as 0004's policies would; False on plain
    PostgreSQL (nothing to do)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not timescaledb_enabled(conn):
            return False
        for table in tables:
            done = conn.execute(f"SELECT compress_chunk(c) FROM show_chunks('{table}',"
                                " older_than => INTERVAL '30 days') c").fetchall()
            assert done, f"no old chunk of {table} to compress"
        compressed = dict(conn.execute(
            "SELECT hypertable_name, count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = ANY(%s) GROUP BY hypertable_name", (list(tables),)).fetchall())
        assert set(compressed) == set(tables) and min(compressed.values()) >= 1, compressed
        return True


def test_every_write_path_works_beside_and_inside_compressed_chunks(pool, db_dsn, ev, tmp_path):
    intake = Intake(EventStore(pool), Spool(tmp_path / "spool"))
    m = timedelta(minutes=1)
    # Old rows (and one recent ticket) in place, then the old chunks compressed.
    assert _send(intake, "transactions", _tx("o1", OLD), _tx("o2", OLD + 60 * m), _tx("r1", NOW - 120 * m)) == [
        "accepted"] * 3
    assert _send(intake, "lane_events", _lane("la1", "vehicle_in", OLD), _lane("la2", "inspection_start", OLD + m),
                 _lane("la3", "inspection_end", OLD + 30 * m, plate="沪B00002")) == ["accepted"] * 3
    _compress_old_chunks(db_dsn)

    # A new ticket; a recent one called, then finished; an old one (in a compressed chunk) called and finished.
    assert _send(intake, "transactions", _tx("n1", NOW - 30 * m)) == ["accepted"]
    assert _send(intake, "transactions", _tx("r1", NOW - 120 * m, called=NOW - 100 * m)) == ["updated"]
    assert _send(intake, "transactions", _tx("r1", NOW - 120 * m, called=NOW - 100 * m,
                                             finished=NOW - 90 * m)) == ["updated"]
    assert _send(intake, "transactions", _tx("o1", OLD, called=OLD + 5 * m, finished=OLD + 15 * m,
                                             staff_id="s7")) == ["updated"]
    # One batch: an old update, an old new ticket (into the compressed chunk), a recent repeat, an old repeat.
    assert _send(intake, "transactions", _tx("o2", OLD + 60 * m, called=OLD + 62 * m), _tx("o3", OLD + 120 * m),
                 _tx("r1", NOW - 120 * m), _tx("o1", OLD, called=OLD + 5 * m)) == [
        "updated", "accepted", "duplicate", "duplicate"]
    # An old ticket's update whose queued_at a gateway re-stamped: found by its id, stored time kept.
    assert _send(intake, "transactions", _tx("o3", NOW - 5 * m, staff_id="s9")) == ["updated"]
    # An update that breaks the order of an old ticket: refused as content, not an outage.
    assert _send(intake, "transactions", _tx("o2", OLD + 60 * m, called=OLD + 61 * m, finished=OLD + 61.5 * m)) == [
        "rejected"]  # valid alone, but finished before the stored call

    # Lane events: a recent inspection; the end of an old one (its start is in a compressed chunk); the late
    # start of an old inspection whose end came first; an old repeat; a new old event.
    assert _send(intake, "lane_events", _lane("ln1", "inspection_start", NOW - 20 * m, plate="粤C00003"),
                 _lane("ln2", "inspection_end", NOW - 10 * m, plate="粤C00003")) == ["accepted"] * 2
    assert _send(intake, "lane_events", _lane("la4", "inspection_end", OLD + 20 * m),
                 _lane("la5", "inspection_start", OLD + 25 * m, plate="沪B00002"), _lane("la1", "vehicle_in", OLD),
                 _lane("la6", "vehicle_out", OLD + 40 * m)) == ["accepted", "accepted", "duplicate", "accepted"]

    assert intake.pending() == 0 and list((tmp_path / "spool").iterdir()) == []
    rows = ev.query(db_dsn, "SELECT message_id, queued_at, called_at, finished_at, wait_s, handle_s, staff_id"
                            " FROM transactions ORDER BY message_id")
    assert rows == [
        ("n1", NOW - 30 * m, None, None, None, None, None),
        ("o1", OLD, OLD + 5 * m, OLD + 15 * m, 300.0, 600.0, "s7"),
        ("o2", OLD + 60 * m, OLD + 62 * m, None, 120.0, None, None),
        ("o3", OLD + 120 * m, None, None, None, None, "s9"),
        ("r1", NOW - 120 * m, NOW - 100 * m, NOW - 90 * m, 1200.0, 600.0, None),
    ]
    assert ev.query(db_dsn, "SELECT plate, started_at, finished_at, start_message_id, end_message_id"
                            " FROM inspections ORDER BY started_at") == [
        ("京A00001", OLD + m, OLD + 20 * m, "la2", "la4"),
        ("沪B00002", OLD + 25 * m, OLD + 30 * m, "la5", "la3"),
        ("粤C00003", NOW - 20 * m, NOW - 10 * m, "ln1", "ln2"),
    ]
    assert ev.query(db_dsn, "SELECT count(*), count(DISTINCT message_id) FROM lane_events")[0] == (8, 8)
    dead = ev.query(db_dsn, "SELECT reason FROM dead_letters")
    assert len(dead) == 1 and dead[0][0].startswith("update of o2: ")


def test_concurrent_updates_of_the_same_tickets_lose_nothing(pool, db_dsn, ev):
    """Updates of one ticket are serialised (an advisory lock per id, not a row lock): one writer fills in
    the staff, the other the call, in opposite orders, and every ticket ends with both. On TimescaleDB half
    of the tickets sit in a compressed chunk."""
    tickets = [(f"c{i:03d}", (OLD if i % 2 else NOW - timedelta(hours=3)) + timedelta(minutes=i)) for i in range(60)]
    intake = Intake(EventStore(pool))
    assert _send(intake, "transactions", *(_tx(mid, q) for mid, q in tickets)) == ["accepted"] * 60
    _compress_old_chunks(db_dsn, ("transactions",))
    staff = [_tx(mid, q, staff_id="s1") for mid, q in tickets]
    calls = [_tx(mid, q, called=q + timedelta(minutes=2)) for mid, q in tickets][::-1]
    statuses: list[str] = []
    errors: list[BaseException] = []

    def run(messages: list[dict[str, Any]]) -> None:
        try:
            mine = Intake(EventStore(pool))
            for k in range(0, len(messages), 7):
                statuses.extend(_send(mine, "transactions", *messages[k:k + 7]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(msgs,)) for msgs in (staff, calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and statuses == ["updated"] * 120
    assert ev.query(db_dsn, "SELECT count(*), count(staff_id), count(called_at), min(wait_s), max(wait_s)"
                            " FROM transactions")[0] == (60, 60, 60, 120.0, 120.0)


def test_writes_of_old_rows_wait_for_each_other_recent_ones_do_not(pool, db_dsn, ev):
    """Two transactions writing into one compressed chunk race inside TimescaleDB (an update lost without an
    error, a stored row not found), so every batch touching a row older than `old_after_s` first takes one
    shared lock: here another writer holds it, and only the recent ticket's update goes through at once."""
    from ingest.events.store import _lock_old

    intake = Intake(EventStore(pool))
    m = timedelta(minutes=1)
    assert _send(intake, "transactions", _tx("o1", OLD), _tx("o2", OLD + m), _tx("r1", NOW - 60 * m)) == [
        "accepted"] * 3
    _compress_old_chunks(db_dsn, ("transactions",))
    waiting = {"o1": _tx("o1", OLD, called=OLD + 2 * m),       # an old ticket
               "o2": _tx("o2", NOW - 2 * m, staff_id="s2")}   # an old ticket, its time re-stamped by a gateway
    results: dict[str, list[str]] = {}

    def update(mid: str) -> None:
        results[mid] = _send(Intake(EventStore(pool)), "transactions", waiting[mid])

    with psycopg.connect(db_dsn) as other:
        _lock_old(other)  # another writer busy with old rows, its transaction open
        threads = [threading.Thread(target=update, args=(mid,)) for mid in waiting]
        for t in threads:
            t.start()
        assert _send(intake, "transactions", _tx("r1", NOW - 60 * m, called=NOW - 50 * m)) == ["updated"]
        threads[0].join(1.0)
        threads[1].join(0.1)
        assert results == {} and all(t.is_alive() for t in threads)
        other.commit()
    for t in threads:
        t.join(30)
    assert results == {"o1": ["updated"], "o2": ["updated"]}
    assert ev.query(db_dsn, "SELECT message_id, called_at, staff_id FROM transactions ORDER BY 1") == [
        ("o1", OLD + 2 * m, None), ("o2", None, "s2"), ("r1", NOW - 50 * m, None)]
