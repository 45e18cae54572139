"""The store at office scale: ingest speed (COPY) and every dashboard query over a seeded office.

Run: .venv/bin/python bench/bench_store.py [--days 90] [--stats-every 60] [--occupancy-every 60] [--runs 5]

1. seeds the 112-camera office (`devkit.seed`, the `jianguan seed` generator) for --days into a throwaway
   embedded PostgreSQL (or a new database on $JIANGUAN_DSN's server, dropped afterwards) and reports the
   rows per second of the whole seed (generation in Python + COPY, one transaction per day);
2. times the two writer paths the node uses for 200,000 camera_stats rows in batches of 500: plain COPY
   (`BatchWriter` in memory mode) and the durable path (`BatchWriter(spool_dir=..)`: COPY into a temp
   table + INSERT .. ON CONFLICT DO NOTHING);
3. runs every dashboard panel query (site = All, camera = All, macros expanded as Grafana does) over the
   last 24 h, 7 days and the whole period, and prints p50/p95 in ms per panel.

Server settings are PostgreSQL's defaults (shared_buffers 128 MB, fsync on). Asserts nothing; note the
machine beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from _scratch import scratch_database
from psycopg_pool import ConnectionPool

from dashboards import all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s
from devkit.seed import seed
from storage import BatchWriter

STATS_COLUMNS = ["ts", "camera_id", "online", "camera_fps", "process_fps", "skipped_fps", "detection_fps",
                 "decode_ms", "lag_s", "reconnects"]


def bench_writers(dsn: str, rows: int = 200_000, batch: int = 500) -> None:
    base = datetime(2030, 1, 1, tzinfo=UTC)  # after the seeded period: no conflicts with seeded rows
    with ConnectionPool(dsn, min_size=1, max_size=2, open=True) as pool:
        for label, spool, offset in (("COPY (BatchWriter, in memory)", None, 0),
                                     ("COPY -> temp + ON CONFLICT DO NOTHING (durable)", "spool", 1)):
            spool_dir = Path(tempfile.mkdtemp(prefix="jianguan-bench-spool-")) if spool else None
            writer = BatchWriter(pool, "camera_stats", STATS_COLUMNS, max_rows=batch, spool_dir=spool_dir)
            t = time.perf_counter()
            for i in range(rows):
                writer.add((base + timedelta(days=offset, seconds=i // 112), f"bench-{i % 112}", True, 25.0, 5.0,
                            20.0, 4.0, 3.2, 0.2, 0))
            writer.flush()
            elapsed = time.perf_counter() - t
            rate = writer.written / elapsed
            print(f"  {label:52s} {writer.written:>9,} rows in {elapsed:6.2f} s = {rate:>9,.0f} rows/s")
            if spool_dir:
                shutil.rmtree(spool_dir, ignore_errors=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM camera_stats WHERE camera_id LIKE 'bench-%'")


def bench_queries(dsn: str, end: datetime, days: int, runs: int) -> None:
    dashboards = all_dashboards()
    ranges = {"24h": (end - timedelta(hours=24), end), "7d": (end - timedelta(days=7), end),
              f"{days}d": (end - timedelta(days=days), end)}
    print(f"{'panel (ms)':64s} " + " ".join(f"{name + ' p50':>9s} {name + ' p95':>9s}" for name in ranges))
    worst: list[tuple[float, str]] = []
    with psycopg.connect(dsn) as conn:
        for uid, model in dashboard_models().items():
            for panel in model.panels:
                for target in panel.targets:
                    cells = []
                    name = (uid.removeprefix("jianguan-") + " / " + panel.title)[:64]
                    for label, (time_from, time_to) in ranges.items():
                        selected, options = variable_options(conn, dashboards[uid], {}, time_from, time_to)
                        sql = expand_macros(target.sql, time_from=time_from, time_to=time_to,
                                            interval_s=auto_interval_s(time_from, time_to, panel.max_data_points),
                                            variables=selected,
                                            all_values=options)
                        times = []
                        for _ in range(runs + 1):
                            t = time.perf_counter()
                            conn.execute(sql).fetchall()
                            times.append((time.perf_counter() - t) * 1000)
                        times = sorted(times[1:])  # the first run warms the cache
                        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                        cells.append(f"{statistics.median(times):9.1f} {p95:9.1f}")
                        worst.append((statistics.median(times), f"{name} [{label}]"))
                    print(f"{name:64s} " + " ".join(cells), flush=True)
    worst.sort(reverse=True)
    print("slowest (p50): " + "; ".join(f"{n} {ms:,.0f} ms" for ms, n in worst[:5]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--stats-every", type=int, default=60)
    parser.add_argument("--occupancy-every", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    end = datetime(2024, 6, 28, 10, 0, tzinfo=UTC)  # fixed: identical data on every run (Friday 18:00 local)
    with scratch_database("jianguan-bench-store-") as dsn:
        with psycopg.connect(dsn) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version}; seeding 112 cameras x {args.days} days (stats every {args.stats_every} s, "
              f"occupancy every {args.occupancy_every} s)")
        report = seed(dsn, days=args.days, end=end, seed=1, stats_every_s=args.stats_every,
                      occupancy_every_s=args.occupancy_every,
                      progress=lambda line: print("  " + line, flush=True))
        with psycopg.connect(dsn) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"ingest (seed, generation + COPY): {report.total_rows:,} rows in {report.seconds:.1f} s = "
              f"{report.total_rows / report.seconds:,.0f} rows/s; database {size}")
        print("ingest (writers, 200,000 camera_stats rows, batches of 500):")
        bench_writers(dsn)
        bench_queries(dsn, end, args.days, args.runs)


if __name__ == "__main__":
    main()
