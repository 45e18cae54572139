"""The hourly rollups the long-range dashboards read, on both servers, from one definition.

`ROLLUPS` is the one place a rollup is defined: its source table, its keys and its measures (sums and
counts, never averages, so any coarser grouping is exact: avg = sum(sum_x) / sum(samples)). Two backends
build the same relations by the same names from it, chosen by what the database has:

- `PlainRollups` (plain PostgreSQL): a table `rollup_<name>` of the hours before the rollup's watermark, a
  function `<name>_between(lo, hi)` aggregating raw rows, and a view `<name>` = materialised hours UNION ALL
  the live tail; 0009's `refresh_rollups(from, to)` materialises closed hours and re-aggregates the hours
  late rows landed in (an AFTER INSERT statement trigger logs them).
- `TimescaleRollups` (TimescaleDB, 0002's hypertables present): continuous aggregates, real time
  (`materialized_only = false`), refreshed by a 15-minute policy over the last 3 days and by
  `refresh_continuous_aggregate` here, over every continuous aggregate of the schema (0004's too).

`install` (called by `migrate`, under its lock) makes the database hold the backend it should, at
`ROLLUP_VERSION`: it drops what another backend or an older version left (a database migrated on plain
PostgreSQL that later gains TimescaleDB is converted here, one path) and fully refreshes afterwards.
`refresh_rollups` is the one refresh entry point (`jianguan db refresh-rollups`, the node's refresher, the
seed, CSV imports): refreshes serialise on an advisory lock, and on TimescaleDB never reach back past the
raw tables' retention horizon, since refreshing hours whose raw rows were dropped would empty them.

    >>> [r.name for r in ROLLUPS]
    ['camera_stats_hourly', 'occupancy_hourly']
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from i18n import N_
from storage.dsn import connect
from storage.errors import StorageError

log = logging.getLogger(__name__)

ROLLUP_VERSION = 2  # bump when ROLLUPS changes: `install` rebuilds and re-aggregates
ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # UTC-aligned hours: date_bin here = time_bucket's buckets
REFRESH_LOCK_KEY = 0x6A67726F6C6C7570  # "jgrollup": every refresher of every process serialises on it
CONCURRENT_TRIES = 8  # TimescaleDB's own policy job may be refreshing the same aggregate: wait and retry


@dataclass(frozen=True)
class Measure:
    name: str
    expr: str           # an aggregate over the source row alias `r`
    type: str           # its SQL type (the plain table's column type; the aggregate yields the same)
    nullable: bool = False  # sums of nullable columns are NULL for an hour without any value


@dataclass(frozen=True)
class Rollup:
    name: str
    source: str
    keys: tuple[str, ...]  # text columns of the source, grouped by beside the hour
    measures: tuple[Measure, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return ("bucket", *self.keys, *(m.name for m in self.measures))


def _sum(name: str, column: str, nullable: bool = False) -> Measure:
    # float4 values summed as float8: exact in any order (24-bit mantissas, far fewer than 2^29 terms).
    return Measure(name, f"sum(r.{column}::float8)", "double precision", nullable)


def _count(name: str, column: str) -> Measure:
    return Measure(name, f"count(r.{column})", "bigint")


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("camera_stats_hourly", "camera_stats", ("camera_id",), (
        Measure("samples", "count(*)", "bigint"),
        Measure("online_samples", "count(*) FILTER (WHERE r.online)", "bigint"),
        _sum("sum_camera_fps", "camera_fps"), _sum("sum_process_fps", "process_fps"),
        _sum("sum_skipped_fps", "skipped_fps"), _sum("sum_detection_fps", "detection_fps"),
        _sum("sum_decode_ms", "decode_ms"),
        Measure("max_lag_s", "max(r.lag_s)", "real"),
        Measure("min_reconnects", "min(r.reconnects)", "integer"),
        Measure("max_reconnects", "max(r.reconnects)", "integer"),
        # The picture measures of 0008 (NULL while offline or the baseline is learned): each has its count.
        _count("luma_samples", "luma_mean"), _sum("sum_luma_mean", "luma_mean", True),
        _count("sharpness_samples", "sharpness_ratio"), _sum("sum_sharpness_ratio", "sharpness_ratio", True),
        _count("changed_samples", "changed"), _sum("sum_changed", "changed", True),
        Measure("max_scene_shift", "max(r.scene_shift)", "real", True),
        # 0010's analysis rate against need (NULL in rows written before it).
        Measure("analysed_share_samples", "count(r.analysed_fps / nullif(r.needed_fps, 0))", "bigint"),
        Measure("sum_analysed_share", "sum((r.analysed_fps / nullif(r.needed_fps, 0))::float8)",
                "double precision", True),
    )),
    Rollup("occupancy_hourly", "occupancy_samples", ("camera_id", "zone_id"), (
        Measure("samples", "count(*)", "bigint"),
        Measure("sum_people", "sum(r.people)::bigint", "bigint"),
        Measure("max_people", "max(r.people)", "integer"),
    )),
)
BY_NAME = {r.name: r for r in ROLLUPS}

# 0003's view, same columns and types, over the rollup on plain PostgreSQL (0004 makes it a continuous
# aggregate of its own on TimescaleDB). It depends on camera_stats_hourly, so it is rebuilt with it.
UPTIME_VIEW = """
CREATE VIEW camera_uptime_hourly AS
SELECT h.bucket, h.camera_id, h.samples, h.online_samples,
       h.online_samples::float8 / h.samples AS uptime_share,
       h.sum_process_fps / h.samples AS avg_process_fps,
       h.max_lag_s,
       h.max_reconnects - h.min_reconnects AS reconnects
FROM camera_stats_hourly h"""


@dataclass(frozen=True)
class RollupRefresh:
    rollup: str
    ranges: int | None       # contiguous runs of hours re-aggregated (plain PostgreSQL; None on TimescaleDB)
    buckets: int | None      # rollup rows written (plain PostgreSQL; None on TimescaleDB, which does not say)
    watermark: datetime | None



def _select(rollup: Rollup, bucket: str) -> str:
    keys = ", ".join(f"r.{k}" for k in rollup.keys)
    measures = ", ".join(f"{m.expr} AS {m.name}" for m in rollup.measures)
    return (f"SELECT {bucket} AS bucket, {keys}, {measures} FROM {rollup.source} r")


class PlainRollups:
    name = "plain"

    def install(self, conn: psycopg.Connection) -> None:
        conn.execute("DROP VIEW IF EXISTS camera_uptime_hourly")
        for r in ROLLUPS:
            columns = ",\n".join([
                "bucket timestamptz NOT NULL", *(f"{k} text NOT NULL" for k in r.keys),
                *(f"{m.name} {m.type}{'' if m.nullable else ' NOT NULL'}" for m in r.measures)])
            body = _select(r, f"date_bin('1 hour', r.ts, {ORIGIN})") + \
                " WHERE r.ts >= $1 AND r.ts < $2 GROUP BY " + ", ".join(str(i + 1) for i in range(len(r.keys) + 1))
            conn.execute(f"""
DROP VIEW IF EXISTS {r.name};
DROP FUNCTION IF EXISTS {r.name}_between(timestamptz, timestamptz);
DROP TABLE IF EXISTS rollup_{r.name};
CREATE TABLE rollup_{r.name} ({columns}, PRIMARY KEY (bucket, {", ".join(r.keys)}));
-- Dynamic SQL, so each call is planned with the actual bounds (a generic plan would guess a third of the
-- table for "ts >= $1" and scan all of it).
CREATE FUNCTION {r.name}_between(lo timestamptz, hi timestamptz)
RETURNS SETOF rollup_{r.name} LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN QUERY EXECUTE $q${body}$q$ USING lo, hi;
END
$fn$;
CREATE VIEW {r.name} AS
SELECT m.* FROM rollup_{r.name} m WHERE m.bucket < rollup_watermark('{r.name}')
UNION ALL
SELECT t.* FROM {r.name}_between(rollup_watermark('{r.name}'), 'infinity') t;
INSERT INTO rollup_watermarks (rollup, source) VALUES ('{r.name}', '{r.source}')
    ON CONFLICT (rollup) DO UPDATE SET watermark = NULL, refreshed_at = NULL;
DELETE FROM rollup_invalidations WHERE source = '{r.source}';
DROP TRIGGER IF EXISTS {r.source}_rollup_invalidate ON {r.source};
CREATE TRIGGER {r.source}_rollup_invalidate AFTER INSERT ON {r.source}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_invalidate();
""")  # type: ignore[arg-type]  # built from ROLLUPS only, never from input
        conn.execute(UPTIME_VIEW)

    def refresh(self, conn: psycopg.Connection, start: datetime | None, end: datetime | None
                ) -> list[RollupRefresh]:
        rows = conn.execute("SELECT rollup, ranges, buckets, watermark FROM refresh_rollups(%s::timestamptz,"
                            " %s::timestamptz)", (start, end)).fetchall()
        return [RollupRefresh(*row) for row in rows]


class TimescaleRollups:
    name = "timescaledb"

    def install(self, conn: psycopg.Connection) -> None:
        caggs = _caggs(conn)
        for r in ROLLUPS:
            if r.name in caggs:
                conn.execute(f"DROP MATERIALIZED VIEW {r.name}")  # type: ignore[arg-type]
            # What plain PostgreSQL's 0009 left, on a database that gained TimescaleDB later.
            conn.execute(f"""
DROP VIEW IF EXISTS {r.name};
DROP FUNCTION IF EXISTS {r.name}_between(timestamptz, timestamptz);
DROP TABLE IF EXISTS rollup_{r.name};
DROP TRIGGER IF EXISTS {r.source}_rollup_invalidate ON {r.source};
""")  # type: ignore[arg-type]
            keys = ", ".join(f"r.{k}" for k in r.keys)
            conn.execute(f"""
CREATE MATERIALIZED VIEW {r.name}
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
{_select(r, "time_bucket(INTERVAL '1 hour', r.ts)")}
GROUP BY time_bucket(INTERVAL '1 hour', r.ts), {keys}
WITH NO DATA""")  # type: ignore[arg-type]
            conn.execute("SELECT add_continuous_aggregate_policy(%s, start_offset => INTERVAL '3 days',"
                         " end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes')", (r.name,))
        conn.execute("""
DROP FUNCTION IF EXISTS refresh_rollups(timestamptz, timestamptz);
DROP TABLE IF EXISTS rollup_watermarks, rollup_invalidations;
DROP FUNCTION IF EXISTS rollup_invalidate() CASCADE;
DROP FUNCTION IF EXISTS rollup_watermark(text);
""")

    def refresh(self, conn: psycopg.Connection, start: datetime | None, end: datetime | None
                ) -> list[RollupRefresh]:
        out = []
        for view, horizon, owned in conn.execute("""
SELECT ca.view_name, now() - (j.config ->> 'drop_after')::interval + INTERVAL '1 hour',
       pg_has_role(ca.view_owner, 'USAGE')
FROM timescaledb_information.continuous_aggregates ca
LEFT JOIN timescaledb_information.jobs j
       ON j.proc_name = 'policy_retention' AND j.hypertable_schema = ca.hypertable_schema
      AND j.hypertable_name = ca.hypertable_name
WHERE ca.view_schema = current_schema()
ORDER BY ca.view_name""").fetchall():
            if not owned:
                # Only the owner may refresh an aggregate; a process kind's role (storage/roles.py) leaves it to
                # the policies, which run as the owner.
                log.debug("rollups: %s is refreshed by its policy (not owned by %s)", view, conn.info.user)
                continue
            # Hours whose raw rows retention dropped must never be refreshed: that would empty them.
            lo = start if horizon is None or (start is not None and start > horizon) else horizon
            _refresh_cagg(conn, view, lo, end)
            out.append(RollupRefresh(view, None, None, None))
        return out


def _refresh_cagg(conn: psycopg.Connection, view: str, start: datetime | None, end: datetime | None) -> None:
    for attempt in range(CONCURRENT_TRIES):
        try:
            conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
                         (view, start, end))
            return
        except psycopg.Error as exc:
            # The policy job of the same aggregate holds it: TimescaleDB refuses instead of waiting (or, with
            # a rebuild or another refresh in between, the server picks one of them as a deadlock victim).
            busy = "concurrent refresh" in str(exc) or isinstance(exc, psycopg.errors.DeadlockDetected)
            if not busy or attempt + 1 == CONCURRENT_TRIES:
                raise
            time.sleep(0.5 * (attempt + 1))


def _caggs(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema()")}


def backend_of(conn: psycopg.Connection) -> PlainRollups | TimescaleRollups:
    """TimescaleDB's backend where 0002 made camera_stats a hypertable, else plain PostgreSQL's."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
        return PlainRollups()
    hyper = conn.execute("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'camera_stats'"
                         " AND hypertable_schema = current_schema()").fetchone()
    return TimescaleRollups() if hyper else PlainRollups()


def is_current(conn: psycopg.Connection) -> bool:
    """Whether the rollups are those `install` would make now (reads only: any role may ask)."""
    if conn.execute("SELECT to_regclass('rollup_state')").fetchone()[0] is None:
        return False
    state = conn.execute("SELECT backend, version FROM rollup_state").fetchone()
    return state == (backend_of(conn).name, ROLLUP_VERSION)


def install(conn: psycopg.Connection, *, changed: bool = False) -> bool:
    """Make the rollups those of the database's backend at ROLLUP_VERSION (autocommit `conn`); True when
    rebuilt. Rebuilt, or `changed` (migrations were applied), every aggregate is then fully refreshed."""
    backend = backend_of(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS rollup_state (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
                 " backend text NOT NULL, version integer NOT NULL, installed_at timestamptz NOT NULL)")
    state = conn.execute("SELECT backend, version FROM rollup_state").fetchone()
    rebuild = state != (backend.name, ROLLUP_VERSION)
    if rebuild:
        was = f"{state[0]} v{state[1]}" if state else "0009's"
        log.info("rollups: building the %s rollups v%d (replacing %s)", backend.name, ROLLUP_VERSION, was)
        for attempt in range(CONCURRENT_TRIES):
            try:
                with conn.transaction():
                    backend.install(conn)
                    conn.execute("INSERT INTO rollup_state (backend, version, installed_at) VALUES (%s, %s, now())"
                                 " ON CONFLICT (one) DO UPDATE SET backend = excluded.backend, version ="
                                 " excluded.version, installed_at = excluded.installed_at",
                                 (backend.name, ROLLUP_VERSION))
                break
            except psycopg.errors.DeadlockDetected:  # a TimescaleDB policy job on an aggregate being rebuilt
                if attempt + 1 == CONCURRENT_TRIES:
                    raise
                time.sleep(0.5 * (attempt + 1))
    # Plain PostgreSQL without rows: nothing to materialise, and the watermark stays unset (all live).
    empty = backend.name == "plain" and not any(
        conn.execute(f"SELECT EXISTS (SELECT 1 FROM {r.source})").fetchone()[0]  # type: ignore[arg-type]
        for r in ROLLUPS)
    if (rebuild or changed) and not empty:
        started = time.monotonic()
        refresh_rollups(conn)
        log.info("rollups: full refresh in %.1f s", time.monotonic() - started)
    return rebuild


def refresh_rollups(target: str | psycopg.Connection, start: datetime | None = None,
                    end: datetime | None = None) -> list[RollupRefresh]:
    """Refresh every rollup (and, on TimescaleDB, every continuous aggregate) up to `end` (default: now),
    re-aggregating from `start` when given. `target` is a DSN or an autocommit connection (TimescaleDB
    refuses to refresh inside a transaction block). Refreshers serialise: a second one waits."""
    if isinstance(target, str):
        with connect(target, autocommit=True) as conn:
            return _refresh(conn, start, end)
    if not target.autocommit:
        raise StorageError("refresh_rollups needs an autocommit connection")
    return _refresh(target, start, end)


def _refresh(conn: psycopg.Connection, start: datetime | None, end: datetime | None) -> list[RollupRefresh]:
    try:
        if conn.execute("SELECT to_regclass('rollup_state')").fetchone()[0] is None:
            raise StorageError(N_("no rollups in this database: run `jianguan db migrate`"))
        conn.execute("SELECT pg_advisory_lock(%s)", (REFRESH_LOCK_KEY,))
        try:
            return backend_of(conn).refresh(conn, start, end)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (REFRESH_LOCK_KEY,))
    except psycopg.Error as exc:
        raise StorageError(N_("refreshing rollups failed: {error}"), error=" ".join(str(exc).split())) from None


class RollupRefresher:
    """Calls `refresh_rollups` every `every_s` on a thread of its own (one per node is plenty; several
    nodes may run one: refreshes serialise). Failures are logged and retried at the next tick; nothing is
    lost meanwhile, the views aggregate the unmaterialised tail live."""

    def __init__(self, dsn: str, every_s: float = 300.0) -> None:
        self.dsn = dsn
        self.every_s = every_s
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                refresh_rollups(self.dsn)
                self.refreshes += 1
            except (StorageError, psycopg.Error) as exc:
                log.warning("rollups: refresh failed (%s); next try in %.0f s", exc, self.every_s)
            self._stop.wait(self.every_s)
