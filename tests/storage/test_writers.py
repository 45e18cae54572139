"""BatchWriter: in-memory mode, and the durable mode that spools to disk through a real server outage."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from storage import BatchWriter, EmbeddedPostgres, migrate

STATS_COLUMNS = ["ts", "camera_id", "online", "camera_fps", "process_fps", "skipped_fps", "detection_fps",
                 "decode_ms", "lag_s", "reconnects"]
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def _row(i: int) -> tuple:
    return (T0 + timedelta(seconds=i // 4), f"cam-{i % 4}", True, 25.0, 5.0, 0.0, 4.0, 3.0, 0.1, i)


def _count(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT (camera_id, ts)) FROM camera_stats").fetchone()


def _drain(writer: BatchWriter, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        writer.flush()
        if writer.pending() == 0:
            return
        assert time.monotonic() < deadline, f"spool not drained: {writer.pending()} rows pending"
        time.sleep(0.2)


def test_in_memory_mode_is_unchanged(db_dsn):
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=10)
        for i in range(25):
            writer.add(_row(i))
        assert writer.written == 20
        writer.flush()
    assert writer.written == 25 and writer.spool is None
    assert _count(db_dsn) == (25, 25)


def test_server_stopped_mid_stream_loses_nothing_and_duplicates_nothing(tmp_path):
    """A producer thread writes a stream while the server is stopped (pg_ctl stop -m fast) and restarted."""
    data_dir = Path(tempfile.mkdtemp(prefix="jianguan-writer-pg-"))  # reachable by the server's account
    server = EmbeddedPostgres(data_dir)
    try:
        dsn = server.start()
        server.port = server.running_port()  # restart on the same port: the pool's DSN stays valid
        migrate(dsn)
        total = 8000
        with ConnectionPool(dsn, min_size=1, max_size=2, open=True, reconnect_timeout=120) as pool:
            writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=50, spool_dir=tmp_path / "spool",
                                 connect_timeout_s=0.5, retry_s=0.1, max_retry_s=0.5)
            produced = threading.Event()
            progress = {"i": 0, "max_buffer": 0}

            def produce() -> None:
                for i in range(total):
                    writer.add(_row(i))
                    progress["i"] = i
                    progress["max_buffer"] = max(progress["max_buffer"], len(writer._rows))
                    if i % 25 == 0:
                        time.sleep(0.01)
                produced.set()

            thread = threading.Thread(target=produce, name="producer")
            thread.start()
            _wait(lambda: writer.written >= 500, "first rows written")
            server.stop()
            _wait(lambda: writer.spooled >= 1000, "rows spooled while the server is down")
            assert not produced.is_set(), "the stream ended before the outage was over; make it longer"
            spooled_during_outage = writer.spooled
            server.start()
            thread.join(120)
            assert not thread.is_alive()
            _drain(writer)
            assert progress["max_buffer"] <= writer.max_rows  # memory stays bounded during the outage
        count, distinct = _count(dsn)
        assert count == distinct == total
        assert writer.written == total and writer.dropped == 0
        assert spooled_during_outage >= 1000
        assert not list((tmp_path / "spool").iterdir()), "a drained spool leaves no files"
        with psycopg.connect(dsn) as conn:
            reconnects = [r[0] for r in conn.execute("SELECT reconnects FROM camera_stats ORDER BY reconnects")]
        assert reconnects == list(range(total))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_replaying_a_committed_batch_writes_nothing_twice(db_dsn, tmp_path):
    """A batch whose commit reply was lost is in the table and in the spool: the replay must be a no-op."""
    rows = [_row(i) for i in range(120)]
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=1000, spool_dir=tmp_path)
        for row in rows[:100]:
            writer.add(row)
        writer.flush()
        assert writer.spool is not None
        writer.spool.append(rows[:100])  # as if that write had failed after COMMIT reached the server
        for row in rows[100:]:
            writer.add(row)
        writer.flush()
    assert _count(db_dsn) == (120, 120)
    assert writer.written == 120 and writer.duplicates == 100


def test_spool_survives_a_restart_and_a_torn_frame(db_dsn, tmp_path):
    """Rows spooled by one process (database unreachable) are replayed by the next, in order; a frame cut
    short by a crash is discarded, the intact frames before it are kept."""
    dead = _dead_pool()
    first = BatchWriter(dead, "camera_stats", STATS_COLUMNS, max_rows=30, spool_dir=tmp_path,
                        connect_timeout_s=0.2)
    for i in range(95):
        first.add(_row(i))
    first.flush()
    assert first.written == 0 and first.spooled == 95 and first.pending() == 95
    spool_file = tmp_path / "camera_stats.spool"
    with spool_file.open("ab") as f:  # a crash in the middle of appending the next frame
        f.write(b"JGSP\x00\x10\x00\x00garbage")

    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        second = BatchWriter(pool, "camera_stats", STATS_COLUMNS, spool_dir=tmp_path)
        assert second.pending() == 95
        second.flush()
    assert second.pending() == 0 and second.written == 95
    assert _count(db_dsn) == (95, 95)
    assert not spool_file.exists()


def test_spool_resumes_after_the_acknowledged_frame(db_dsn, tmp_path):
    """Partial replay: a restart continues after the last acknowledged frame (and replays nothing twice)."""
    dead = _dead_pool()
    first = BatchWriter(dead, "camera_stats", STATS_COLUMNS, max_rows=10, spool_dir=tmp_path)
    for i in range(50):
        first.add(_row(i))
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        partial = BatchWriter(pool, "camera_stats", STATS_COLUMNS, spool_dir=tmp_path, replay_batches=2)
        partial._flush(replay_limit=2)  # what a producer's automatic flush does
        assert partial.written == 20 and partial.pending() == 30
        resumed = BatchWriter(pool, "camera_stats", STATS_COLUMNS, spool_dir=tmp_path)
        assert resumed.pending() == 30
        resumed.flush()
    assert resumed.written == 30 and resumed.duplicates == 0
    assert _count(db_dsn) == (50, 50)


def test_full_spool_counts_dropped_rows(tmp_path):
    dead = _dead_pool()
    writer = BatchWriter(dead, "camera_stats", STATS_COLUMNS, max_rows=10, spool_dir=tmp_path, max_spool_bytes=2000)
    for i in range(100):
        writer.add(_row(i))
    assert writer.spooled > 0 and writer.dropped > 0 and writer.spooled + writer.dropped == 100
    assert (tmp_path / "camera_stats.spool").stat().st_size <= 2000


def _dead_pool() -> ConnectionPool:
    """A pool that never hands out a connection (closed): every write fails at once."""
    return ConnectionPool("host=127.0.0.1 port=1 user=x dbname=x connect_timeout=1", min_size=1, open=False)


def _wait(cond, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_batch_the_database_refuses_goes_to_dead_letters(db_dsn, tmp_path):
    """Bad data is not an outage: it must not block the spool forever, and it must not vanish."""
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=10, spool_dir=tmp_path)
        for i in range(30):
            row = _row(i)
            writer.add(row if i != 15 else (row[0], row[1], None, *row[3:]))  # online NOT NULL
        writer.flush()
    assert writer.written == 20 and writer.rejected == 10 and writer.pending() == 0
    assert _count(db_dsn) == (20, 20)
    with psycopg.connect(db_dsn) as conn:
        source, reason, payload = conn.execute("SELECT source, reason, payload FROM dead_letters").fetchone()
    assert source == "writer:camera_stats" and "null value" in reason and '"cam-3"' in payload


def test_rows_reach_the_table_on_time_without_a_full_batch(db_dsn, tmp_path):
    """A quiet camera's few rows are written within `flush_every_s`, not after max_rows of them; close()
    stops the timer and writes the rest."""
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=500, spool_dir=tmp_path,
                             flush_every_s=0.3)
        for i in range(3):
            writer.add(_row(i))
        deadline = time.monotonic() + 10
        while _count(db_dsn)[0] < 3:
            assert time.monotonic() < deadline, "rows not written on time"
            time.sleep(0.1)
        writer.add(_row(3))
        writer.close()
        assert _count(db_dsn)[0] == 4 and writer.pending() == 0
        assert writer._timer is not None and not writer._timer.is_alive()


def test_a_spool_on_a_full_disk_drops_loudly_and_the_producer_goes_on(tmp_path, caplog):
    """Database away and the spool's disk full (the spool file is /dev/full: ENOSPC on every write): add()
    never raises into the producer (the node's analysis thread); the rows are counted dropped, one critical
    line says why."""
    caplog.set_level("CRITICAL")
    dead = ConnectionPool("host=127.0.0.1 port=1 dbname=x connect_timeout=1", min_size=0, max_size=1, open=True)
    try:
        writer = BatchWriter(dead, "camera_stats", STATS_COLUMNS, max_rows=10, spool_dir=tmp_path,
                             connect_timeout_s=0.5, flush_every_s=None)
        (tmp_path / "camera_stats.spool").symlink_to("/dev/full")  # after start-up (an empty spool is removed)
        for i in range(30):
            writer.add(_row(i))
    finally:
        dead.close()
    assert writer.dropped == 30 and writer.spool is not None and writer.spool.write_errors == 3
    assert sum("disk is full or failing" in r.message for r in caplog.records) == 1
