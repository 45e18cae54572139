"""Latency of every dashboard panel query over the seeded 112-camera office, on plain PostgreSQL and/or
TimescaleDB side by side, against issue 15's targets: p95 <= 1 s on plain PostgreSQL, <= 200 ms on TimescaleDB.

Run: .venv/bin/python bench/bench_dashboards.py [--days 7] [--runs 5] [--ranges 24h,7d,90d] [--match REGEX]
     JIANGUAN_TIMESCALE_DSN=postgresql://postgres@host:55432/postgres .venv/bin/python bench/bench_dashboards.py
     JIANGUAN_BENCH_DSN=... JIANGUAN_BENCH_TIMESCALE_DSN=... .venv/bin/python bench/bench_dashboards.py \
         --existing --end 2026-12-07T06:00

Without --existing: seeds the office (`devkit.seed`, what `jianguan seed` writes: stats and occupancy every
minute) for --days into a throwaway database on plain PostgreSQL (embedded, or a new one on $JIANGUAN_DSN's
server) and, when $JIANGUAN_TIMESCALE_DSN names a TimescaleDB server, into one there too (same data); runs
VACUUM ANALYZE and `refresh_rollups`, benchmarks, and drops them afterwards. A 90-day seed takes minutes
per server: seed once with `JIANGUAN_DSN=... jianguan seed --days 90 --end ...` and use --existing with
$JIANGUAN_BENCH_DSN (plain) and/or $JIANGUAN_BENCH_TIMESCALE_DSN (TimescaleDB), the same --end (the
databases are only read, apart from `refresh_rollups`, run first unless --no-refresh). DSNs come from the
environment, never argv: they may hold a password. Each database's backend is detected, not assumed.

--every-s 3600 seeds one stats and occupancy sample an hour instead of one a minute: the hourly rollups get
the same rows as from a full seed (one per hour, camera and zone) from 60x fewer raw rows, so a 90-day seed
takes seconds and the figures of ranges over 24 h (the rollup branch) are those of a full seed; the 24 h
figures (raw rows) are not, and are marked so.

TimescaleDB refreshes continuous aggregates only within its 180-day retention (0004) and its retention job
drops older chunks, so with a TimescaleDB database the seeded period must be recent: --end defaults to the
current hour there (and to the fixed 2024-06-28T10:00 otherwise, identical data on every run).

Each panel query (site = All, camera = All, Grafana's auto interval, macros expanded as Grafana does, with the
datasource's TimescaleDB toggle on for the TimescaleDB database as `dashboards export --timescaledb` sets it)
is timed over each range ending at --end: one warm-up run, then --runs timed runs. Prints p95 in ms per panel
x range x database; `!` marks a figure over its database's target. Asserts nothing; note the machine beside
any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import scratch_database
from psycopg.conninfo import make_conninfo

from dashboards import all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s
from dashboards.macros import parse_interval
from devkit.seed import seed
from storage import migrate
from storage.rollups import backend_of, refresh_rollups

TARGET_MS = {"plain": 1000.0, "timescaledb": 200.0}  # issue 15: p95 per panel over 90 days x 112 cameras
LABEL = {"plain": "plain", "timescaledb": "tsdb"}
RETENTION = timedelta(days=180)  # 0004's retention policy on camera_stats / occupancy_samples
FIXED_END = datetime(2024, 6, 28, 10, 0, tzinfo=UTC)


@dataclass
class Database:
    dsn: str
    backend: str = ""
    conn: psycopg.Connection | None = None
    over: list[str] = field(default_factory=list)  # "panel [range] ms" over the target
    cells: int = 0

    @property
    def target_ms(self) -> float:
        return TARGET_MS[self.backend]


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def time_query(conn: psycopg.Connection, sql: str, runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        conn.execute(sql).fetchall()  # type: ignore[arg-type]  # the dashboard's own SQL
        times.append((time.perf_counter() - t) * 1000)
    return p95(times[1:])  # the first run warms the cache


def bench(databases: list[Database], end: datetime, ranges: dict[str, timedelta], runs: int,
          match: str | None) -> None:
    dashboards = all_dashboards()
    columns = [(label, db) for label in ranges for db in databases]
    print("p95 ms per panel and range; targets: " + ", ".join(
        f"{LABEL[b]} {TARGET_MS[b]:,.0f} ms" for b in dict.fromkeys(db.backend for db in databases))
        + "; '!' = over target")
    print(f"{'panel':60s} " + " ".join(f"{label + ' ' + LABEL[db.backend]:>12s}" for label, db in columns))
    worst: list[tuple[float, str]] = []
    for db in databases:
        db.conn = psycopg.connect(db.dsn)
        db.conn.execute("SET default_transaction_read_only = on")
    try:
        for uid, model in dashboard_models().items():
            for panel in model.panels:
                name = (uid.removeprefix("jianguan-") + " / " + panel.title)[:60]
                if match and not re.search(match, name):
                    continue
                for target in panel.targets:
                    cells = []
                    for label, db in columns:
                        assert db.conn is not None
                        time_from, time_to = end - ranges[label], end
                        selected, options = variable_options(db.conn, dashboards[uid], {}, time_from, time_to)
                        sql = expand_macros(target.sql, time_from=time_from, time_to=time_to,
                                            interval_s=auto_interval_s(time_from, time_to, panel.max_data_points),
                                            variables=selected,
                                            all_values=options, timescaledb=db.backend == "timescaledb")
                        ms = time_query(db.conn, sql, runs)
                        over = ms > db.target_ms
                        db.cells += 1
                        if over:
                            db.over.append(f"{name} [{label}] {ms:,.0f} ms")
                        cells.append(f"{ms:11,.1f}{'!' if over else ' '}")
                        worst.append((ms / db.target_ms, f"{name} [{label} {LABEL[db.backend]}] {ms:,.0f} ms"))
                    print(f"{name:60s} " + " ".join(cells), flush=True)
    finally:
        for db in databases:
            if db.conn is not None:
                db.conn.close()
    for db in databases:
        print(f"{LABEL[db.backend]}: {len(db.over)} of {db.cells} panel x range over {db.target_ms:,.0f} ms"
              + (": " + "; ".join(db.over) if db.over else ""))
    worst.sort(reverse=True)
    print("nearest their target (p95 / target): " + "; ".join(f"{n} ({r:.0%})" for r, n in worst[:5]))


def refresh(db: Database) -> None:
    t = time.perf_counter()
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        done = refresh_rollups(conn)
    summary = ", ".join(f"{r.rollup} {r.buckets:,} buckets" if r.buckets else r.rollup for r in done)
    print(f"{LABEL[db.backend]}: refresh_rollups ({summary or 'nothing to do'}) in {time.perf_counter() - t:.1f} s",
          flush=True)


def detect(db: Database) -> None:
    with psycopg.connect(db.dsn) as conn:
        db.backend = backend_of(conn).name
        version = conn.execute("SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension"
                               " WHERE extname = 'timescaledb')").fetchone()
    print(f"{LABEL[db.backend]}: PostgreSQL {version[0]}" + (f", TimescaleDB {version[1]}" if version[1] else ""))


@contextmanager
def database_on(admin: str, prefix: str) -> Iterator[str]:
    """A fresh migrated database on the server of `admin` (a superuser DSN), dropped afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # a name made here
    try:
        dsn = make_conninfo(admin, dbname=name)
        migrate(dsn)
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def check_retention(databases: list[Database], end: datetime, days: int) -> None:
    horizon = datetime.now(UTC) - RETENTION
    if any(db.backend == "timescaledb" for db in databases) and end - timedelta(days=days) < horizon:
        print(f"warning: the period before {horizon:%Y-%m-%d} lies past TimescaleDB's retention: its continuous "
              "aggregates are not refreshed there (the panels aggregate raw rows in real time) and its "
              "retention job drops those rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days seeded (or in the --existing databases)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--every-s", type=int, default=60, help="seconds between seeded stats and occupancy "
                        "samples (default 60, as `jianguan seed`; 3600: full-size rollups from a sparse seed)")
    parser.add_argument("--ranges", default="24h,7d,90d", help="time ranges ending at --end (default 24h,7d,90d)")
    parser.add_argument("--end", type=datetime.fromisoformat,
                        help="end of the seeded data, UTC (default: 2024-06-28T10:00, fixed: identical data on "
                             "every run; with a TimescaleDB database the current hour)")
    parser.add_argument("--existing", action="store_true", help="benchmark the already seeded databases at "
                        "$JIANGUAN_BENCH_DSN and/or $JIANGUAN_BENCH_TIMESCALE_DSN")
    parser.add_argument("--no-refresh", action="store_true", help="do not run refresh_rollups first")
    parser.add_argument("--match", help="only panels whose 'dashboard / title' matches this regex")
    args = parser.parse_args()
    ranges = {label: timedelta(seconds=parse_interval(label)) for label in args.ranges.split(",")}
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    if args.existing:
        databases = [Database(dsn) for dsn in (os.environ.get("JIANGUAN_BENCH_DSN", "").strip(),
                                                os.environ.get("JIANGUAN_BENCH_TIMESCALE_DSN", "").strip()) if dsn]
        if not databases:
            parser.error("--existing needs $JIANGUAN_BENCH_DSN and/or $JIANGUAN_BENCH_TIMESCALE_DSN "
                         "(kept out of argv: they hold passwords)")
        for db in databases:
            detect(db)
        end = (args.end.replace(tzinfo=UTC) if args.end else FIXED_END)
        check_retention(databases, end, args.days)
        for db in databases if not args.no_refresh else []:
            refresh(db)
        bench(databases, end, ranges, args.runs, args.match)
        return
    timescale_admin = os.environ.get("JIANGUAN_TIMESCALE_DSN", "").strip()
    if args.end:
        end = args.end.replace(tzinfo=UTC)
    else:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) if timescale_admin else FIXED_END
    with ExitStack() as stack:
        databases = [Database(stack.enter_context(scratch_database("jianguan-bench-dash-")))]
        if timescale_admin:
            databases.append(Database(stack.enter_context(database_on(timescale_admin, "jianguan_bench_ts_"))))
        for db in databases:
            detect(db)
        check_retention(databases, end, args.days)
        for db in databases:
            report = seed(db.dsn, days=args.days, end=end, seed=1, stats_every_s=args.every_s,
                          occupancy_every_s=args.every_s)
            print(f"{LABEL[db.backend]}: seeded 112 cameras x {args.days} days to {end:%Y-%m-%d %H:%M}Z, a sample "
                  f"every {args.every_s} s: {report.total_rows:,} rows in {report.seconds:.1f} s", flush=True)
            with psycopg.connect(db.dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            if not args.no_refresh:
                refresh(db)
        if args.every_s != 60:
            print(f"note: a sample every {args.every_s} s: the ranges up to 24 h read raw rows and are not "
                  "representative; those over 24 h read full-size rollups")
        bench(databases, end, ranges, args.runs, args.match)


if __name__ == "__main__":
    main()
