"""Latency of every dashboard panel query on a realistically sized database (plain PostgreSQL).

Run: .venv/bin/python bench/bench_dashboards.py [--cameras 40] [--hours 24] [--runs 7]
Seeds a throwaway embedded PostgreSQL (or $JIANGUAN_DSN's server, in a new database that is dropped
afterwards) with occupancy and camera stats at 1 sample / 10 s per camera, alerts, transactions and lane
events, then times each panel query (site = All, camera = All) over the last 6 h and the whole period.
Prints p50/p95 in ms per panel; asserts nothing. Note the machine beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from _scratch import scratch_database

from dashboards import all_dashboards, dashboard_models, expand_macros, variable_options
from dashboards.check import auto_interval_s

AREAS = ["window", "window", "window", "inspection_lane", "exam_room", "hall"]
RULES = ["zone_unattended", "extra_person", "loitering", "video_loss"]


def seed(dsn: str, cameras: int, hours: int, end: datetime) -> dict[str, int]:
    rng = random.Random(7)
    start = end - timedelta(hours=hours)
    step = 10
    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO sites (id, name) VALUES (%s, %s)", [("s1", "Site 1"), ("s2", "Site 2")])
        cams = [(f"c{i:03d}", "s1" if i % 2 else "s2", f"Camera {i}", AREAS[i % len(AREAS)]) for i in range(cameras)]
        cur.executemany("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES (%s, %s, %s, %s, 5)", cams)
        n = hours * 3600 // step
        with cur.copy("COPY occupancy_samples (ts, camera_id, zone_id, people) FROM STDIN") as copy:
            for cam, *_ in cams:
                for k in range(n):
                    copy.write_row((start + timedelta(seconds=k * step), cam, "staff", rng.randint(0, 3)))
        counts["occupancy_samples"] = cameras * n
        with cur.copy("COPY camera_stats (ts, camera_id, online, camera_fps, process_fps, skipped_fps, detection_fps,"
                      " decode_ms, lag_s, reconnects) FROM STDIN") as copy:
            for cam, *_ in cams:
                for k in range(n):
                    copy.write_row((start + timedelta(seconds=k * step), cam, rng.random() > 0.01, 25.0, 5.0, 0.1,
                                    4.9, 3.0 + rng.random(), rng.random(), k // 2000))
        counts["camera_stats"] = cameras * n
        with cur.copy("COPY alerts (dedup_key, site_id, camera_id, rule, zone_id, severity, status, verdict, title,"
                      " started_at) FROM STDIN") as copy:
            alerts = cameras * hours * 2
            for i in range(alerts):
                cam, site, *_ = cams[i % cameras]
                rule = RULES[i % len(RULES)]
                copy.write_row((f"{cam}:{rule}:{i}", site, cam, rule, "staff", "major", "closed",
                                rng.choice([None, "confirmed", "false_alarm"]), rule,
                                start + timedelta(seconds=rng.randint(0, hours * 3600))))
        counts["alerts"] = alerts
        with cur.copy("COPY transactions (message_id, site_id, window_id, business_type, staff_id, queued_at,"
                      " wait_s, handle_s) FROM STDIN") as copy:
            tx = hours * 200
            for i in range(tx):
                copy.write_row((f"m{i}", "s1" if i % 2 else "s2", f"W{i % 12}", f"type{i % 5}", f"staff{i % 20}",
                                start + timedelta(seconds=rng.randint(0, hours * 3600)), rng.uniform(30, 1800),
                                rng.uniform(60, 900)))
        counts["transactions"] = tx
        with cur.copy("COPY lane_events (ts, message_id, site_id, lane_id, kind) FROM STDIN") as copy:
            for i in range(hours * 120):
                copy.write_row((start + timedelta(seconds=rng.randint(0, hours * 3600)), f"e{i}", "s1",
                                f"L{i % 4}", ["vehicle_in", "vehicle_out"][i % 2]))
        with cur.copy("COPY inspections (site_id, lane_id, inspector_id, started_at, finished_at) FROM STDIN") as copy:
            for i in range(hours * 30):
                t = start + timedelta(seconds=rng.randint(0, hours * 3600))
                copy.write_row(("s1", f"L{i % 4}", f"insp{i % 6}", t, t + timedelta(minutes=rng.randint(2, 20))))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def bench(dsn: str, end: datetime, hours: int, runs: int) -> None:
    dashboards = all_dashboards()
    ranges = {"6h": (end - timedelta(hours=6), end), f"{hours}h": (end - timedelta(hours=hours), end)}
    print(f"{'panel':70s} " + " ".join(f"{name + ' p50':>9s} {name + ' p95':>9s}" for name in ranges))
    with psycopg.connect(dsn) as conn:
        for uid, model in dashboard_models().items():
            for panel in model.panels:
                for target in panel.targets:
                    cells = []
                    for time_from, time_to in ranges.values():
                        selected, options = variable_options(conn, dashboards[uid], {}, time_from, time_to)
                        sql = expand_macros(target.sql, time_from=time_from, time_to=time_to,
                                            interval_s=auto_interval_s(time_from, time_to), variables=selected,
                                            all_values=options)
                        conn.execute(sql).fetchall()  # warm the cache
                        times = []
                        for _ in range(runs):
                            t = time.perf_counter()
                            conn.execute(sql).fetchall()
                            times.append((time.perf_counter() - t) * 1000)
                        times.sort()
                        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                        cells.append(f"{statistics.median(times):9.1f} {p95:9.1f}")
                    print(f"{(uid.removeprefix('jianguan-') + ' / ' + panel.title)[:70]:70s} " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=40)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}")
    end = datetime.now(UTC).replace(microsecond=0)
    with scratch_database() as dsn:
        t = time.perf_counter()
        counts = seed(dsn, args.cameras, args.hours, end)
        print(f"seeded in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        bench(dsn, end, args.hours, args.runs)


if __name__ == "__main__":
    main()
