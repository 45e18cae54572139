"""Panel SQL that reads the hourly rollups (migration 0009) where that loses nothing, raw rows elsewhere.

- Time series: Grafana's `$__interval` picks the source. Below an hour the raw rows answer (full
  resolution, real-time tail); from an hour up every point is a whole number of hours, so the hourly
  rollup gives the same figures from ~60x fewer rows. Both branches are in the SQL; the one whose
  `$__interval_ms` condition is false is a constant-false qual that PostgreSQL's planner removes, so it
  costs nothing. Rollups keep sums and counts, so means regroup exactly: avg = sum(sum_x) / sum(samples).
- Whole-range tables: the whole hours inside the range come from the rollup, the partial hours at either
  edge from raw rows: exact for any range, and at most two hours of raw rows per camera are read.

The rollup names are the same on plain PostgreSQL (views over rollup tables plus a live tail) and on
TimescaleDB (continuous aggregates, real time), so these queries run on both.

    >>> "$__interval_ms >= 3600000" in per_camera_series("round(avg(s.lag_s)::numeric, 2)",
    ...                                                  "round(max(h.max_lag_s)::numeric, 2)", "lag_s")
    True
"""

from __future__ import annotations

ROLLUP_INTERVAL_MS = 3_600_000  # the rollups' bucket: one hour
_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
# The first whole hour at or after the range start, and the start of the hour holding the range end.
HOUR_CEIL_FROM = (f"date_bin('1 hour', $__timeFrom()::timestamptz - interval '1 microsecond', {_ORIGIN})"
                  " + interval '1 hour'")
HOUR_FLOOR_TO = f"date_bin('1 hour', $__timeTo()::timestamptz, {_ORIGIN})"


def per_camera_series(raw_expr: str, rollup_expr: str, column: str) -> str:
    """One series per camera from camera_stats (alias `s`) or camera_stats_hourly (alias `h`)."""
    return f"""
SELECT $__timeGroupAlias(s.ts, $__interval), c.name AS metric, {raw_expr} AS {column}
FROM camera_stats s JOIN cameras c ON c.id = s.camera_id
WHERE $__interval_ms < {ROLLUP_INTERVAL_MS} AND $__timeFilter(s.ts)
  AND c.site_id IN ($site) AND s.camera_id IN ($camera)
GROUP BY 1, 2
UNION ALL
SELECT $__timeGroupAlias(h.bucket, $__interval), c.name AS metric, {rollup_expr} AS {column}
FROM camera_stats_hourly h JOIN cameras c ON c.id = h.camera_id
WHERE $__interval_ms >= {ROLLUP_INTERVAL_MS} AND $__timeFilter(h.bucket)
  AND c.site_id IN ($site) AND h.camera_id IN ($camera)
GROUP BY 1, 2
ORDER BY 1
"""


def people_per_zone_sql(area_condition: str) -> str:
    """Mean people per zone: occupancy_samples (`o`) below an hour, occupancy_hourly (`h`) from an hour up."""
    return f"""
SELECT $__timeGroupAlias(o.ts, $__interval), c.name || ' / ' || o.zone_id AS metric,
       round(avg(o.people), 2) AS people
FROM occupancy_samples o JOIN cameras c ON c.id = o.camera_id
WHERE $__interval_ms < {ROLLUP_INTERVAL_MS} AND $__timeFilter(o.ts)
  AND c.site_id IN ($site) AND o.camera_id IN ($camera){area_condition}
GROUP BY 1, 2
UNION ALL
SELECT $__timeGroupAlias(h.bucket, $__interval), c.name || ' / ' || h.zone_id AS metric,
       round(sum(h.sum_people)::numeric / sum(h.samples), 2) AS people
FROM occupancy_hourly h JOIN cameras c ON c.id = h.camera_id
WHERE $__interval_ms >= {ROLLUP_INTERVAL_MS} AND $__timeFilter(h.bucket)
  AND c.site_id IN ($site) AND h.camera_id IN ($camera){area_condition}
GROUP BY 1, 2
ORDER BY 1
"""


def stream_problems_sql() -> str:
    """Per camera over the range: samples, offline samples, reconnects, mean decode time, worst lag, mean
    skipped fps. Whole hours from camera_stats_hourly, the edges from camera_stats: exact for any range."""
    return f"""
SELECT c.name AS camera, sum(p.samples) AS samples,
       sum(p.samples - p.online_samples) AS offline_samples,
       max(p.max_reconnects) - min(p.min_reconnects) AS reconnects,
       round((sum(p.sum_decode_ms) / sum(p.samples))::numeric, 1) AS avg_decode_ms,
       round(max(p.max_lag_s)::numeric, 1) AS max_lag_s,
       round((sum(p.sum_skipped_fps) / sum(p.samples))::numeric, 2) AS avg_skipped_fps
FROM (
    SELECT h.camera_id, h.samples, h.online_samples, h.sum_decode_ms, h.sum_skipped_fps, h.max_lag_s,
           h.min_reconnects, h.max_reconnects
    FROM camera_stats_hourly h
    WHERE h.bucket >= {HOUR_CEIL_FROM} AND h.bucket < {HOUR_FLOOR_TO} AND h.camera_id IN ($camera)
    UNION ALL
    SELECT s.camera_id, 1, s.online::int, s.decode_ms::float8, s.skipped_fps::float8, s.lag_s,
           s.reconnects, s.reconnects
    FROM camera_stats s
    WHERE $__timeFilter(s.ts) AND (s.ts < {HOUR_CEIL_FROM} OR s.ts >= {HOUR_FLOOR_TO}) AND s.camera_id IN ($camera)
) p JOIN cameras c ON c.id = p.camera_id
WHERE c.site_id IN ($site)
GROUP BY c.name
ORDER BY offline_samples DESC, reconnects DESC, c.name
"""
