"""Business rule run time over a seeded office (issue 7).

Run: .venv/bin/python bench/bench_business.py [--days 90] [--occupancy-every 300] [--runs 3]

Seeds the 112-camera office (`devkit.seed`, with the partner outlets and testing lines of
`devkit.seed_business`) for --days into a throwaway embedded PostgreSQL, plants the standard anomalies
(`devkit.seed_anomalies`) in the last full week but one, then times `analytics.business.run_checks`:

- over the whole period (a backfill: every hour, inspection and day of --days judged once), and
- over the scheduled re-check window (the last 2 days, what `jianguan business run` reads every hour),

printing per-rule seconds (p50 of --runs), findings, and whether every planted anomaly was flagged. Camera
stats are seeded hourly (the rules do not read them); lane occupancy every --occupancy-every seconds.
Asserts nothing; note the machine and its load beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from analytics.business import BusinessConfig, run_checks
from devkit.seed import seed
from devkit.seed_anomalies import inject, score, seeded_short_inspections
from storage import EmbeddedPostgres, migrate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--occupancy-every", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tz = ZoneInfo("Asia/Shanghai")
    end = datetime(2024, 6, 2, 16, 0, tzinfo=UTC)  # Monday 2024-06-03 00:00 local
    data = Path(tempfile.mkdtemp(prefix="jianguan-bench-biz-"))
    server = EmbeddedPostgres(data)
    try:
        dsn = server.start()
        migrate(dsn)
        t0 = time.perf_counter()
        rep = seed(dsn, days=args.days, end=end, seed=11, stats_every_s=3600, occupancy_every_s=args.occupancy_every)
        print(f"seeded {args.days} days: {rep.rows.get('transactions', 0):,} transactions, "
              f"{rep.rows.get('inspections', 0):,} inspections, {rep.rows.get('testing_results', 0):,} vehicle tests, "
              f"{rep.rows.get('occupancy_samples', 0):,} occupancy samples in {time.perf_counter() - t0:.0f} s")
        last = end.astimezone(tz).date()
        days = [last - timedelta(days=13 - k) for k in range(6)]  # Tuesday .. Sunday of the week before last
        with psycopg.connect(dsn) as conn:
            truth = inject(conn, "office-01", days)
            conn.commit()
            start = datetime.combine(last - timedelta(days=args.days - 1), datetime.min.time(), tzinfo=tz)
            cfg = BusinessConfig()
            for label, since in (("whole period", start), ("re-check (2 days)", end - timedelta(days=2))):
                timings: dict[str, list[float]] = {}
                walls = []
                report = None
                for _ in range(args.runs):
                    t = time.perf_counter()
                    report = run_checks(conn, cfg, since, end)
                    walls.append(time.perf_counter() - t)
                    for rule, s in report.seconds_by_rule.items():
                        timings.setdefault(rule, []).append(s)
                assert report is not None
                print(f"\n{label}: {since:%Y-%m-%d} .. {end:%Y-%m-%d}: p50 {statistics.median(walls):.2f} s "
                      f"(runs: {', '.join(f'{w:.2f}' for w in walls)}); findings {report.count_by_rule()}")
                for rule, values in timings.items():
                    print(f"  {rule:40s} {statistics.median(values):7.3f} s")
                if since == start:
                    full = truth + seeded_short_inspections(conn, "office-01", since, end)
                    s = score(report.findings, full)
                    planted = [i for i in s.flagged if i.note != "seeded"]
                    # the first days have no history yet (20 inspections per lane needed): not judged
                    early = [m for m in s.missed if m.started_at < start + timedelta(days=3)]
                    print(f"  planted {len(truth)}: flagged {len(planted)}; seed's own short inspections "
                          f"{len(full) - len(truth)}: flagged {len(s.flagged) - len(planted)}, missed "
                          f"{len(s.missed)} ({len(early)} in the first 3 days, before any baseline)")
                    fa = Counter(f.rule for f in s.false_alarms)
                    print(f"  unexplained findings {len(s.false_alarms)} ({len(s.false_alarms) / (args.days / 7):.1f}"
                          f" a week): {dict(fa)}")
                    for f in s.false_alarms:
                        print(f"    {f.started_at.astimezone(tz):%Y-%m-%d %H:%M} {f.explanation[:140]}")
        print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
