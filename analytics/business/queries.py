"""What the business rules read from the store, for one site and period (plain SQL, psycopg 3)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import psycopg

from analytics.business.rows import BusinessEvent, Inspection, LineDay
from analytics.business.staff import WORK_INSPECTION, WORK_TESTING, WORK_TYPES

_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_AREA_KIND = {"outlet": "outlet", "self_service": "self_service"}


def source_kinds(conn: psycopg.Connection, site_id: str) -> dict[str, str]:
    """Window id -> window | outlet | self_service: from unit membership, else from the camera of that id."""
    kinds = {cid: _AREA_KIND.get(area, "window") for cid, area in
             conn.execute("SELECT id, area FROM cameras WHERE site_id = %s", (site_id,))}
    for member_id, kind in conn.execute("SELECT member_id, member_kind FROM unit_members WHERE site_id = %s"
                                        " AND member_kind IN ('window', 'outlet')", (site_id,)):
        if kinds.get(member_id) != "self_service":
            kinds[member_id] = kind
    return kinds


def hourly_counts(conn: psycopg.Connection, site_id: str, start: datetime, end: datetime, kinds: dict[str, str]
                  ) -> tuple[dict[tuple[str, str], dict[datetime, int]], dict[tuple[str, str], datetime]]:
    """Hourly counts per (kind, source) in [start, end), and when each source first recorded anything."""
    counts: dict[tuple[str, str], dict[datetime, int]] = defaultdict(dict)
    first: dict[tuple[str, str], datetime] = {}
    specs = (("transactions", "window_id", "queued_at", None), ("inspections", "lane_id", "started_at", "lane"),
             ("testing_results", "line_id", "tested_at", "testing_line"))
    for table, col, ts, kind in specs:
        for source, hour, n in conn.execute(
                f"SELECT {col}, date_bin('1 hour', {ts}, {_ORIGIN}), count(*) FROM {table}"
                f" WHERE site_id = %s AND {ts} >= %s AND {ts} < %s GROUP BY 1, 2", (site_id, start, end)):
            counts[(kind or kinds.get(source, "window"), source)][hour] = n
        for source, t0 in conn.execute(f"SELECT {col}, min({ts}) FROM {table} WHERE site_id = %s GROUP BY 1",
                                       (site_id,)):
            first[(kind or kinds.get(source, "window"), source)] = t0
    return counts, first


def business_events(conn: psycopg.Connection, site_id: str, start: datetime, end: datetime,
                    kinds: dict[str, str]) -> list[BusinessEvent]:
    out = [BusinessEvent(kinds.get(w, "window"), w, m, t, s, b) for m, w, t, s, b in conn.execute(
        "SELECT message_id, window_id, queued_at, staff_id, business_type FROM transactions"
        " WHERE site_id = %s AND queued_at >= %s AND queued_at < %s", (site_id, start, end))]
    out += [BusinessEvent("lane", lane, str(i), t, s, p or "") for i, lane, t, s, p in conn.execute(
        "SELECT id, lane_id, started_at, inspector_id, plate FROM inspections"
        " WHERE site_id = %s AND started_at >= %s AND started_at < %s", (site_id, start, end))]
    out += [BusinessEvent("testing_line", line, m, t, s, p or "") for m, line, t, s, p in conn.execute(
        "SELECT message_id, line_id, tested_at, inspector_id, plate FROM testing_results"
        " WHERE site_id = %s AND tested_at >= %s AND tested_at < %s", (site_id, start, end))]
    return out


def work_of_sources(conn: psycopg.Connection, site_id: str, start: datetime, end: datetime) -> dict[str, str]:
    """Source id -> what work it does: windows by the business types they handled, lanes and lines by kind."""
    work = {w: WORK_TYPES + "/".join(types) for w, types in conn.execute(
        "SELECT window_id, array_agg(DISTINCT business_type ORDER BY business_type) FROM transactions"
        " WHERE site_id = %s AND queued_at >= %s AND queued_at < %s GROUP BY 1", (site_id, start, end))}
    for (lane,) in conn.execute("SELECT DISTINCT lane_id FROM inspections WHERE site_id = %s AND started_at >= %s"
                                " AND started_at < %s", (site_id, start, end)):
        work[lane] = WORK_INSPECTION
    for (line,) in conn.execute("SELECT DISTINCT line_id FROM testing_results WHERE site_id = %s"
                                " AND tested_at >= %s AND tested_at < %s", (site_id, start, end)):
        work[line] = WORK_TESTING
    return work


def inspections(conn: psycopg.Connection, site_id: str, start: datetime, end: datetime) -> list[Inspection]:
    return [Inspection(*r) for r in conn.execute(
        "SELECT id, site_id, lane_id, plate, inspector_id, started_at, finished_at FROM inspections"
        " WHERE site_id = %s AND started_at >= %s AND started_at < %s ORDER BY started_at", (site_id, start, end))]


def lane_coverage(conn: psycopg.Connection, site_id: str, start: datetime, end: datetime,
                  cams_of: dict[str, list[str]], zone: str) -> dict[int, tuple[int, int]]:
    """Inspection id -> (occupancy samples of its lane cameras' `zone` during it, most people in one)."""
    pairs = [(lane, cam) for lane, cams in cams_of.items() for cam in cams]
    if not pairs:
        return {}
    # LATERAL: one primary-key range scan per (inspection, camera) instead of a join over all samples.
    rows = conn.execute(
        "WITH lc AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS t (lane_id, camera_id))"
        " SELECT i.id, sum(o.n)::int, coalesce(max(o.most), -1) FROM inspections i"
        " JOIN lc ON lc.lane_id = i.lane_id"
        " CROSS JOIN LATERAL (SELECT count(*) AS n, max(s.people) AS most FROM occupancy_samples s"
        "   WHERE s.camera_id = lc.camera_id AND s.zone_id = %s AND s.ts >= i.started_at"
        "   AND s.ts <= i.finished_at) o"
        " WHERE i.site_id = %s AND i.started_at >= %s AND i.started_at < %s AND i.finished_at IS NOT NULL"
        " GROUP BY i.id", ([p[0] for p in pairs], [p[1] for p in pairs], zone, site_id, start, end))
    return {i: (n, most) for i, n, most in rows}


def vision_no_vehicle(conn: psycopg.Connection, start: datetime, end: datetime, cams_of: dict[str, list[str]]
                      ) -> list[tuple[str, datetime, int]]:
    """(lane, started_at, incident id) of the video rule `inspection_without_vehicle`, where it runs."""
    lane_of = {cam: lane for lane, cams in cams_of.items() for cam in cams}
    if not lane_of:
        return []
    return [(lane_of[c], t, i) for i, c, t in conn.execute(
        "SELECT id, camera_id, started_at FROM incidents WHERE rule = 'inspection_without_vehicle'"
        " AND camera_id = ANY(%s) AND started_at >= %s AND started_at < %s", (list(lane_of), start, end))]


def test_days(conn: psycopg.Connection, site_id: str, timezone: str, start: datetime, end: datetime) -> list[LineDay]:
    return [LineDay(line, day.isoformat(), n, ok) for line, day, n, ok in conn.execute(
        "SELECT line_id, (tested_at AT TIME ZONE %s)::date, count(*), count(*) FILTER (WHERE passed)"
        " FROM testing_results WHERE site_id = %s AND tested_at >= %s AND tested_at < %s GROUP BY 1, 2",
        (timezone, site_id, start, end))]


def lane_ids_and_cameras(conn: psycopg.Connection, site_id: str) -> tuple[list[str], list[str]]:
    lanes = [r[0] for r in conn.execute("SELECT DISTINCT lane_id FROM inspections WHERE site_id = %s ORDER BY 1",
                                        (site_id,))]
    cams = [r[0] for r in conn.execute("SELECT id FROM cameras WHERE site_id = %s AND area = 'inspection_lane'"
                                       " ORDER BY 1", (site_id,))]
    return lanes, cams
