"""Keep the hourly rollups (migration 0009) up to date: `camera_stats_hourly` and `occupancy_hourly`.

Plain PostgreSQL: the SQL function `refresh_rollups(from, to)` materialises the closed hours from each
rollup's watermark on, and re-aggregates the hours that late rows landed in. TimescaleDB: the same names
are continuous aggregates; their policies refresh them, and this calls `refresh_continuous_aggregate`
for an explicit refresh (after a bulk load, say).

    >>> from storage.rollups import ROLLUPS
    >>> ROLLUPS
    ('camera_stats_hourly', 'occupancy_hourly')
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import psycopg

from storage.dsn import connect
from storage.errors import StorageError

log = logging.getLogger(__name__)

ROLLUPS = ("camera_stats_hourly", "occupancy_hourly")


@dataclass(frozen=True)
class RollupRefresh:
    rollup: str
    ranges: int              # contiguous runs of hours re-aggregated (plain PostgreSQL; 0 on TimescaleDB)
    buckets: int             # rollup rows written
    watermark: datetime | None


def refresh_rollups(target: str | psycopg.Connection, start: datetime | None = None,
                    end: datetime | None = None) -> list[RollupRefresh]:
    """Refresh every rollup up to `end` (default: now; only closed hours), re-aggregating from `start`
    when given. `target` is a DSN or an autocommit connection (TimescaleDB refuses to refresh inside a
    transaction block)."""
    if isinstance(target, str):
        with connect(target, autocommit=True) as conn:
            return _refresh(conn, start, end)
    if not target.autocommit:
        raise StorageError("refresh_rollups needs an autocommit connection")
    return _refresh(target, start, end)


def _refresh(conn: psycopg.Connection, start: datetime | None, end: datetime | None) -> list[RollupRefresh]:
    plain = conn.execute("SELECT to_regprocedure('refresh_rollups(timestamptz, timestamptz)') IS NOT NULL"
                         ).fetchone()[0]
    try:
        if plain:
            rows = conn.execute("SELECT rollup, ranges, buckets, watermark FROM refresh_rollups(%s, %s)",
                                (start, end)).fetchall()
            return [RollupRefresh(*row) for row in rows]
        caggs = {r[0] for r in conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_name = ANY(%s)",
            (list(ROLLUPS),))} if _has_timescale(conn) else set()
        if not caggs:
            raise StorageError("no rollups in this database: run `jianguan db migrate` (migration 0009)")
        out = []
        for name in ROLLUPS:
            if name in caggs:
                conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s, %s)", (name, start, end))
                out.append(RollupRefresh(name, 0, 0, None))
        return out
    except psycopg.Error as exc:
        raise StorageError(f"refreshing rollups failed: {' '.join(str(exc).split())}") from None


def _has_timescale(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is not None


class RollupRefresher:
    """Calls `refresh_rollups` every `every_s` on a thread of its own (one per node is plenty; several
    nodes may run one: refreshes are serialised in the database). Failures are logged and retried at the
    next tick; nothing is lost meanwhile, the views aggregate the unmaterialised tail live."""

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
