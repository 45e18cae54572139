"""Latency of every dashboard panel query over the seeded 112-camera office (plain PostgreSQL or TimescaleDB).

Run: .venv/bin/python bench/bench_dashboards.py [--days 7] [--runs 5] [--match REGEX]
     JIANGUAN_BENCH_DSN=... .venv/bin/python bench/bench_dashboards.py --existing --days 90 --end 2024-06-28T10:00

Without --existing: seeds the office (`storage.seed`, what `jianguan seed` writes: stats and occupancy every
minute) for --days into a throwaway database (embedded, or a new one on $JIANGUAN_DSN's server, dropped
afterwards), refreshes the rollups, then benchmarks. A 90-day seed takes minutes: seed once with
`JIANGUAN_DSN=... jianguan seed --days 90 --end 2024-06-28T10:00` and use --existing (the database is
only read, apart from `refresh_rollups`, which it runs first unless --no-refresh).

Each panel query (site = All, camera = All, macros expanded as Grafana does, Grafana's auto interval) is
timed over the last 24 h, 7 days and the whole period: one warm-up run, then --runs timed runs; prints
p50/p95 in ms. Asserts nothing; note the machine beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import scratch_database

from dashboards import all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s
from storage.rollups import refresh_rollups
from storage.seed import seed


def bench(dsn: str, end: datetime, days: int, runs: int, match: str | None) -> None:
    dashboards = all_dashboards()
    ranges = {"24h": (end - timedelta(hours=24), end), "7d": (end - timedelta(days=7), end),
              f"{days}d": (end - timedelta(days=days), end)}
    print(f"{'panel (ms)':64s} " + " ".join(f"{name + ' p50':>9s} {name + ' p95':>9s}" for name in ranges))
    worst: list[tuple[float, str]] = []
    with psycopg.connect(dsn) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for uid, model in dashboard_models().items():
            for panel in model.panels:
                name = (uid.removeprefix("jianguan-") + " / " + panel.title)[:64]
                if match and not re.search(match, name):
                    continue
                for target in panel.targets:
                    cells = []
                    for label, (time_from, time_to) in ranges.items():
                        selected, options = variable_options(conn, dashboards[uid], {}, time_from, time_to)
                        sql = expand_macros(target.sql, time_from=time_from, time_to=time_to,
                                            interval_s=auto_interval_s(time_from, time_to), variables=selected,
                                            all_values=options)
                        times = []
                        for _ in range(runs + 1):
                            t = time.perf_counter()
                            conn.execute(sql).fetchall()  # type: ignore[arg-type]  # the dashboard's own SQL
                            times.append((time.perf_counter() - t) * 1000)
                        times = sorted(times[1:])  # the first run warms the cache
                        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                        cells.append(f"{statistics.median(times):9.1f} {p95:9.1f}")
                        worst.append((p95, f"{name} [{label}]"))
                    print(f"{name:64s} " + " ".join(cells), flush=True)
    worst.sort(reverse=True)
    print("slowest (p95): " + "; ".join(f"{n} {ms:,.0f} ms" for ms, n in worst[:5]))


def refresh(dsn: str) -> None:
    t = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = refresh_rollups(conn)
    summary = ", ".join(f"{r.rollup} {r.buckets:,} buckets" for r in done)
    print(f"refresh_rollups: {summary or 'nothing to do'} in {time.perf_counter() - t:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--end", type=datetime.fromisoformat, default=datetime(2024, 6, 28, 10, 0),
                        help="end of the seeded data, UTC (fixed: identical data on every run)")
    parser.add_argument("--existing", action="store_true",
                        help="benchmark the already seeded database at $JIANGUAN_BENCH_DSN")
    parser.add_argument("--no-refresh", action="store_true", help="do not run refresh_rollups first")
    parser.add_argument("--match", help="only panels whose 'dashboard / title' matches this regex")
    args = parser.parse_args()
    end = args.end.replace(tzinfo=UTC)
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    if args.existing:
        dsn = os.environ.get("JIANGUAN_BENCH_DSN", "").strip()
        if not dsn:
            parser.error("--existing needs $JIANGUAN_BENCH_DSN (kept out of argv: it holds a password)")
        if not args.no_refresh:
            refresh(dsn)
        bench(dsn, end, args.days, args.runs, args.match)
        return
    with scratch_database("jianguan-bench-dash-") as dsn:
        report = seed(dsn, days=args.days, end=end, seed=1)
        print(f"seeded 112 cameras x {args.days} days: {report.total_rows:,} rows in {report.seconds:.1f} s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        if not args.no_refresh:
            refresh(dsn)
        bench(dsn, end, args.days, args.runs, args.match)


if __name__ == "__main__":
    main()
