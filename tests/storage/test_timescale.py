"""TimescaleDB for real: what only a TimescaleDB server can show. Every test here skips on plain PostgreSQL,
saying why; run them against a TimescaleDB server with JIANGUAN_TEST_DSN (docs/store.md gives the procedure),
and the embedded-server ones with JIANGUAN_TEST_TIMESCALE_BINDIR (a PostgreSQL bin folder whose installation
has TimescaleDB's files)."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import storage.embedded as embedded
from storage import EmbeddedPostgres, migrate
from storage.rollups import ROLLUPS, backend_of, refresh_rollups
from tests.testkit.pg import empty_database

migrate_module = importlib.import_module("storage.migrate")  # `storage.migrate` is also the function
BINDIR_ENV = "JIANGUAN_TEST_TIMESCALE_BINDIR"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _has_timescale(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone() is not None


@pytest.fixture
def tsdb_admin(pg_admin_dsn):
    if not _has_timescale(pg_admin_dsn):
        pytest.skip("needs a TimescaleDB server: this one is plain PostgreSQL (set JIANGUAN_TEST_DSN, docs/store.md)")
    return pg_admin_dsn


@pytest.fixture
def fresh(tsdb_admin):
    """An empty database on the TimescaleDB server (not the migrated template: these tests migrate)."""
    with empty_database(tsdb_admin, "jianguan_ts") as dsn:
        yield dsn


def _stats(conn: psycopg.Connection, start: datetime, hours: int, cameras=("cam-a", "cam-b"), every_s=600) -> None:
    with conn.cursor().copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps,"
                            " detection_fps, decode_ms, lag_s, reconnects, luma_mean) FROM STDIN") as copy:
        for cam in cameras:
            for k in range(0, hours * 3600, every_s):
                copy.write_row((start + timedelta(seconds=k), cam, k % 7 != 0, 25.0, 5.0, 0.1, 4.0, 3.0, 0.5,
                                k // 7200, 100.0))


def _transactions(conn: psycopg.Connection, start: datetime, n: int, prefix: str) -> None:
    conn.cursor().executemany(
        "INSERT INTO transactions (message_id, site_id, window_id, business_type, queued_at, called_at, finished_at,"
        " wait_s, handle_s) VALUES (%s, 's1', 'W1', 'registration', %s, %s, %s, 60, 300)",
        [(f"{prefix}{i}", start + timedelta(minutes=37 * i), start + timedelta(minutes=37 * i, seconds=60),
          start + timedelta(minutes=37 * i, seconds=360)) for i in range(n)])


def _hours(conn: psycopg.Connection, view: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {view}").fetchone()[0]  # type: ignore[arg-type]


def _run_jobs(conn: psycopg.Connection, proc: str) -> None:
    for (job,) in conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s", (proc,)):
        conn.execute("CALL run_job(%s)", (job,))


def test_history_older_than_the_policy_windows_is_kept_by_every_aggregate(fresh):
    """0004's aggregates refresh 7 days and the rollups 3 days by policy: a bulk load of older history must be
    in them after the refresh that follows it, and stay there after the policies ran."""
    migrate(fresh)
    with psycopg.connect(fresh, autocommit=True) as conn:
        _stats(conn, NOW - timedelta(days=20), 24)
        _transactions(conn, NOW - timedelta(days=20), 30, "old")
        refresh_rollups(conn)  # what `jianguan seed`, CSV imports and `db refresh-rollups` call
        before = {v: _hours(conn, v) for v in ("camera_stats_hourly", "camera_uptime_hourly",
                                               "business_volume_hourly")}
        busy_hours = conn.execute("SELECT count(DISTINCT time_bucket('1 hour', queued_at)) FROM transactions"
                                  ).fetchone()[0]
        assert before == {"camera_stats_hourly": 48, "camera_uptime_hourly": 48, "business_volume_hourly": busy_hours}
        _run_jobs(conn, "policy_refresh_continuous_aggregate")
        assert {v: _hours(conn, v) for v in before} == before
        # Materialised, not only computed live: the aggregates' own hypertables hold the hours.
        done = conn.execute("SELECT count(*) FROM camera_stats_hourly WHERE bucket < %s", (NOW - timedelta(days=3),)
                            ).fetchone()[0]
        assert done == 48


def test_retention_never_empties_the_rollups(fresh):
    migrate(fresh)
    with psycopg.connect(fresh, autocommit=True) as conn:
        _stats(conn, NOW - timedelta(days=170), 6)  # within the 180 days kept: aggregated
        _stats(conn, NOW - timedelta(days=2), 6)
        refresh_rollups(conn)
        assert _hours(conn, "camera_stats_hourly") == 24
        # Time passes (the retention window shrinks to 160 days instead): the old raw rows are dropped.
        conn.execute("SELECT remove_retention_policy('camera_stats')")
        conn.execute("SELECT add_retention_policy('camera_stats', drop_after => INTERVAL '160 days')")
        _run_jobs(conn, "policy_retention")
        assert conn.execute("SELECT count(*) FROM camera_stats WHERE ts < %s", (NOW - timedelta(days=160),)
                            ).fetchone()[0] == 0
        refresh_rollups(conn)  # a full refresh: must not reach past the retention horizon
        refresh_rollups(conn, start=NOW - timedelta(days=365))  # not even when asked to
        assert _hours(conn, "camera_stats_hourly") == 24


def test_a_late_timescaledb_converts_the_plain_rollups(fresh, monkeypatch):
    """Migrated on plain PostgreSQL first (TimescaleDB refused), then with TimescaleDB: one path converts."""
    real = migrate_module._ensure_extension
    monkeypatch.setattr(migrate_module, "_ensure_extension", lambda conn, name: False)
    migrate(fresh)
    with psycopg.connect(fresh, autocommit=True) as conn:
        assert backend_of(conn).name == "plain"
        _stats(conn, NOW - timedelta(days=10), 12)
        refresh_rollups(conn)
        plain_view = conn.execute("SELECT * FROM camera_stats_hourly ORDER BY 1, 2").fetchall()
    monkeypatch.setattr(migrate_module, "_ensure_extension", real)
    applied = migrate(fresh)
    assert {"0002_timescale", "0004_timescale_aggregates"} <= set(applied)
    with psycopg.connect(fresh, autocommit=True) as conn:
        assert backend_of(conn).name == "timescaledb"
        assert conn.execute("SELECT backend FROM rollup_state").fetchone()[0] == "timescaledb"
        caggs = {r[0] for r in conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates")}
        assert caggs == {"business_volume_hourly", "camera_uptime_hourly", *(r.name for r in ROLLUPS)}
        assert conn.execute("SELECT to_regclass('rollup_camera_stats_hourly'), to_regclass('rollup_watermarks'),"
                            " to_regprocedure('refresh_rollups(timestamptz, timestamptz)')").fetchone() == (None,) * 3
        assert conn.execute("SELECT * FROM camera_stats_hourly ORDER BY 1, 2").fetchall() == plain_view
        assert _hours(conn, "camera_uptime_hourly") == 24  # refreshed fully at the upgrade
    assert migrate(fresh) == []  # and nothing left to do


# -- the embedded server (a PostgreSQL installation with TimescaleDB's files) -------------------------------
@pytest.fixture
def tsdb_bindir(monkeypatch):
    value = os.environ.get(BINDIR_ENV, "").strip()
    if not value or not embedded.timescaledb_installed(Path(value)):
        pytest.skip(f"needs PostgreSQL binaries with TimescaleDB installed: set {BINDIR_ENV} (docs/store.md)")
    monkeypatch.setattr(embedded, "find_bindir", lambda major=None: Path(value))
    data_dir = Path(tempfile.mkdtemp(prefix="jianguan-embedded-ts-"))
    yield data_dir
    EmbeddedPostgres(data_dir).stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_the_embedded_server_preloads_timescaledb_where_installed(tsdb_bindir):
    with EmbeddedPostgres(tsdb_bindir) as server:
        dsn = server.dsn(server.running_port())
        assert "0002_timescale" in migrate(dsn)
        with psycopg.connect(dsn) as conn:
            assert "timescaledb" in conn.execute("SHOW shared_preload_libraries").fetchone()[0]
            assert backend_of(conn).name == "timescaledb"


def test_installed_but_not_preloaded_is_one_clear_line_and_plain_postgres(tsdb_bindir, caplog):
    with EmbeddedPostgres(tsdb_bindir, preload_timescaledb=False) as server:
        dsn = server.dsn(server.running_port())
        with caplog.at_level(logging.WARNING, logger="storage.migrate"):
            applied = migrate(dsn)
        assert "0002_timescale" not in applied and "0009_rollups" in applied
        said = [r.getMessage() for r in caplog.records if r.name == "storage.migrate"]
        assert said == ["timescaledb is installed on the server but not preloaded, so it is not used: add "
                        "shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL; "
                        "going on with plain PostgreSQL"]
        with psycopg.connect(dsn) as conn:
            assert backend_of(conn).name == "plain"


def test_a_csv_import_of_old_history_shows_in_the_hourly_business_aggregate(fresh, tmp_path):
    from click.testing import CliRunner

    from jianguan.events_cli import events

    migrate(fresh)
    with psycopg.connect(fresh, autocommit=True) as conn:  # a running office: recent hours materialised
        _transactions(conn, NOW - timedelta(days=1), 10, "live")
        refresh_rollups(conn)
    start = NOW - timedelta(days=60)  # far older than the aggregate's 7-day policy window
    lines = ["message_id,window,business_type,ticket,staff,queued_at,called_at,finished_at"]
    for i in range(24):
        queued = start + timedelta(minutes=50 * i)
        lines.append(f"csv-{i},W01,renewal,A{i:03d},s-01,{queued.isoformat()},"
                     f"{(queued + timedelta(minutes=3)).isoformat()},{(queued + timedelta(minutes=9)).isoformat()}")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(events, ["import-csv", str(path), "--site", "hq"], env={"JIANGUAN_DSN": fresh})
    assert result.exit_code == 0, result.output
    with psycopg.connect(fresh) as conn:
        got = conn.execute("SELECT sum(transactions), sum(finished) FROM business_volume_hourly").fetchone()
        materialised = conn.execute(
            "SELECT count(*) FROM business_volume_hourly WHERE bucket < now() - INTERVAL '7 days'").fetchone()[0]
    assert got == (34, 34) and materialised > 0


def test_a_spool_replay_into_compressed_chunks_stores_each_row_once(fresh, tmp_path):
    """After an outage longer than the 7-day compression window, the node's spooled stats land in chunks the
    compression policy has compressed: INSERT .. ON CONFLICT DO NOTHING must store new rows, skip replays."""
    from psycopg_pool import ConnectionPool

    from storage import BatchWriter

    migrate(fresh)
    old = NOW - timedelta(days=20)
    columns = ["ts", "camera_id", "online", "camera_fps", "process_fps", "skipped_fps", "detection_fps",
               "decode_ms", "lag_s", "reconnects"]
    rows = [(old + timedelta(minutes=m), "cam-a", True, 25.0, 5.0, 0.0, 4.0, 3.0, 0.2, 0) for m in range(60)]
    with psycopg.connect(fresh, autocommit=True) as conn:
        _stats(conn, old - timedelta(hours=1), 1, cameras=("cam-a",))
        _run_jobs(conn, "policy_compression")  # compresses chunks that ended over 7 days ago
        compressed = conn.execute("SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed"
                                  " AND hypertable_name = 'camera_stats'").fetchone()[0]
        assert compressed >= 1
    with ConnectionPool(fresh, min_size=1, max_size=2) as pool:
        writer = BatchWriter(pool, "camera_stats", columns, max_rows=1000, spool_dir=tmp_path / "spool")
        for row in rows[:40]:
            writer.add(row)
        writer.flush()
        for row in rows:  # the first 40 again (a replay after a crash), then 20 new
            writer.add(row)
        writer.flush()
        writer.close()
    assert writer.rejected == 0 and writer.pending() == 0
    with psycopg.connect(fresh) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM camera_stats WHERE ts >= %s", (old,)
                            ).fetchone() == (60, 60)
