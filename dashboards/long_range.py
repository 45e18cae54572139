"""Panel SQL that reads the hourly rollups (migration 0009) for ranges over 24 h, raw rows up to 24 h.

- Time series: the range picks the source. Up to 24 h the raw rows answer at Grafana's `$__interval`
  (full resolution, real-time tail). Over 24 h the hourly rollup answers, with points of `$__interval`
  rounded up to whole hours (at least one hour), so every point is a whole number of hours and equals
  the raw figure, from ~60x fewer rows. Both branches are in the SQL, guarded by a condition on the range
  Grafana substitutes as literals (`$__timeTo()::timestamptz - $__timeFrom()::timestamptz <= interval
  '24 hours'`): a constant the planner folds, so the false branch is removed from the plan and costs
  nothing. Rollups keep sums and counts, so means regroup exactly: avg = sum(sum_x) / sum(samples).
- Whole-range tables: the whole hours inside the range come from the rollup, the partial hours at either
  edge from raw rows: exact for any range, and at most two hours of raw rows per camera are read.

The rollup branch groups its hours with `date_bin` (epoch origin, the alignment of Grafana's
`$__timeGroup`) in a subquery and labels them with `$__timeGroupAlias(r.hour, 1h)`, an identity on whole
hours, so its `time` column has the type the datasource gives the raw branch's `$__timeGroupAlias` (epoch
seconds, or a timestamptz with the datasource's TimescaleDB toggle on) and the UNION ALL holds either way.
Both branches group by camera id (and zone), and the points are joined to `cameras` afterwards for the
series names and the site filter: the join sees one row per point instead of one per sample (at 90 days x
112 cameras, 80 k points of 240 k hourly rows; at 24 h, 80 k points of 160 k samples).

The rollup names are the same on plain PostgreSQL (views over rollup tables plus a live tail) and on
TimescaleDB (continuous aggregates, real time), so these queries run on both.

    >>> sql = per_camera_series("round(max(s.lag_s)::numeric, 2)", "round(max(h.max_lag_s)::numeric, 2)", "lag_s")
    >>> RAW_BRANCH in sql and ROLLUP_BRANCH in sql
    True
"""

from __future__ import annotations

ROLLUP_INTERVAL_MS = 3_600_000  # the rollups' bucket: one hour
LONG_RANGE = "interval '24 hours'"  # ranges longer than this read the rollups
_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
# The range, from the two literals Grafana writes for $__timeFrom()/$__timeTo(): a constant expression.
_RANGE = "$__timeTo()::timestamptz - $__timeFrom()::timestamptz"
RAW_BRANCH = f"{_RANGE} <= {LONG_RANGE}"
ROLLUP_BRANCH = f"{_RANGE} > {LONG_RANGE}"
# The rollup branch's point: $__interval rounded up to whole hours (never more points than Grafana asked
# for), at least one hour; aligned on the epoch like $__timeGroup's floor(epoch / interval) * interval.
HOURS_PER_POINT = f"greatest(1, ($__interval_ms + {ROLLUP_INTERVAL_MS - 1}) / {ROLLUP_INTERVAL_MS})"
# The first whole hour at or after the range start, and the start of the hour holding the range end.
HOUR_CEIL_FROM = (f"date_bin('1 hour', $__timeFrom()::timestamptz - interval '1 microsecond', {_ORIGIN})"
                  " + interval '1 hour'")
HOUR_FLOOR_TO = f"date_bin('1 hour', $__timeTo()::timestamptz, {_ORIGIN})"


def hour_point(column: str) -> str:
    """The start of the rollup-branch point holding the hour bucket `column` (a timestamptz)."""
    return f"date_bin(interval '1 hour' * {HOURS_PER_POINT}, {column}, {_EPOCH})"


def _series(column: str, raw_table: str, a: str, keys: tuple[str, ...], raw_value: str, raw_where: str,
            rollup_table: str, rollup_value: str, rollup_where: str, metric: str, camera_where: str = "") -> str:
    """Series per `keys` (camera_id first) of `column`: the raw rows of `raw_table` (alias `a`)
    grouped by `$__interval` up to 24 h, the hourly rows of `rollup_table` (alias `h`) grouped by whole hours
    over 24 h. Grouped by camera id, then joined to `cameras` (alias `c`) for the `metric` label (over `c`
    and the keys as `g.<key>`) and `camera_where`: the join and the site filter see the points, not the rows."""
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return f"""
SELECT g."time", {metric} AS metric, g.{column}
FROM (
    SELECT $__timeGroupAlias({a}.ts, $__interval), {", ".join(f"{a}.{k}" for k in keys)}, {raw_value} AS {column}
    FROM {raw_table} {a}
    WHERE {RAW_BRANCH} AND $__timeFilter({a}.ts) AND {a}.camera_id IN ($camera){raw_where}
    GROUP BY {group}
    UNION ALL
    SELECT $__timeGroupAlias(r.hour, 1h), {", ".join(f"r.{k}" for k in keys)}, r.{column}
    FROM (
        SELECT {hour_point("h.bucket")} AS hour, {", ".join(f"h.{k}" for k in keys)},
               {rollup_value} AS {column}
        FROM {rollup_table} h
        WHERE {ROLLUP_BRANCH} AND $__timeFilter(h.bucket) AND h.camera_id IN ($camera){rollup_where}
        GROUP BY {group}
    ) r
) g JOIN cameras c ON c.id = g.camera_id
WHERE c.site_id IN ($site){camera_where}
ORDER BY 1
"""


def per_camera_series(raw_expr: str, rollup_expr: str, column: str, raw_where: str = "",
                      rollup_where: str = "") -> str:
    """One series per camera from camera_stats (alias `s`) up to 24 h, camera_stats_hourly (alias `h`)
    over 24 h. `raw_where`/`rollup_where`: extra conditions (` AND ...`) selecting the same samples."""
    return _series(column, "camera_stats", "s", ("camera_id",), raw_expr, raw_where, "camera_stats_hourly", rollup_expr,
                   rollup_where, "c.name")


def people_per_zone_sql(area_condition: str) -> str:
    """Mean people per zone: occupancy_samples (`o`) up to 24 h, occupancy_hourly (`h`) over 24 h."""
    return _series("people", "occupancy_samples", "o", ("camera_id", "zone_id"), "round(avg(o.people), 2)", "",
                   "occupancy_hourly", "round(sum(h.sum_people)::numeric / sum(h.samples), 2)", "",
                   "c.name || ' / ' || g.zone_id", area_condition)


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
