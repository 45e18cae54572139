"""The figures of one report, read from the store with plain SQL (the tests recompute them independently)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from reports.periods import Period

_KIND = ("CASE WHEN c.area = 'outlet' OR m.member_kind = 'outlet' THEN 'outlet'"
         " WHEN c.area = 'self_service' THEN 'self_service' ELSE 'window' END")


@dataclass
class ReportData:
    site_id: str
    site_name: str
    timezone: str
    kind: str
    label: str
    start: str
    end: str
    totals: dict[str, Any] = field(default_factory=dict)
    volume_by_day: list[tuple[str, int, int, int]] = field(default_factory=list)   # day, windows, outlets, kiosks
    volume_by_hour: list[tuple[int, int]] = field(default_factory=list)             # local hour, transactions
    times_by_day: list[tuple[str, float | None, float | None, float | None]] = field(default_factory=list)
    alerts_by_rule: list[dict[str, Any]] = field(default_factory=list)
    alerts_by_unit: list[dict[str, Any]] = field(default_factory=list)
    uptime_by_area: list[tuple[str, int, float]] = field(default_factory=list)      # area, cameras, uptime
    worst_cameras: list[tuple[str, str, float]] = field(default_factory=list)       # id, name, uptime
    rectifications: dict[str, int] = field(default_factory=dict)
    rectifications_by_unit: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """What the `reports` row keeps (JSON): the totals and tables, not the charts."""
        return asdict(self)


def load(conn: psycopg.Connection, site_id: str, p: Period) -> ReportData:
    row = conn.execute("SELECT name, timezone FROM sites WHERE id = %s", (site_id,)).fetchone()
    if row is None:
        raise LookupError(f"no site {site_id!r} in the database")
    name, tz = row
    d = ReportData(site_id, name, tz, p.kind, p.label, p.start.isoformat(), p.end.isoformat())
    args = {"site": site_id, "start": p.start, "end": p.end, "tz": tz}
    _volume(conn, d, args, p)
    _alerts(conn, d, args)
    _uptime(conn, d, args)
    _rectifications(conn, d, args)
    return d


def _volume(conn: psycopg.Connection, d: ReportData, a: dict[str, Any], p: Period) -> None:
    tx = ("FROM transactions t LEFT JOIN cameras c ON c.id = t.window_id"
          " LEFT JOIN unit_members m ON m.site_id = t.site_id AND m.member_id = t.window_id"
          " AND m.member_kind IN ('window', 'outlet')"
          " WHERE t.site_id = %(site)s AND t.queued_at >= %(start)s AND t.queued_at < %(end)s")
    per_day = {r[0]: r[1:] for r in conn.execute(
        f"SELECT (t.queued_at AT TIME ZONE %(tz)s)::date, count(*) FILTER (WHERE {_KIND} = 'window'),"
        f" count(*) FILTER (WHERE {_KIND} = 'outlet'), count(*) FILTER (WHERE {_KIND} = 'self_service') {tx}"
        " GROUP BY 1", a)}
    d.volume_by_day = [(day.isoformat(), *per_day.get(day, (0, 0, 0))) for day in p.dates]
    d.volume_by_hour = [(int(h), n) for h, n in conn.execute(
        f"SELECT extract(hour FROM t.queued_at AT TIME ZONE %(tz)s), count(*) {tx} GROUP BY 1 ORDER BY 1", a)]
    times = {r[0]: r[1:] for r in conn.execute(
        "SELECT (queued_at AT TIME ZONE %(tz)s)::date, avg(wait_s) / 60, avg(handle_s) / 60,"
        " (count(*) FILTER (WHERE finished_at IS NOT NULL AND wait_s + handle_s <= 1800))::float8 / count(*)"
        " FROM transactions WHERE site_id = %(site)s AND queued_at >= %(start)s AND queued_at < %(end)s"
        " GROUP BY 1", a)}
    d.times_by_day = [(day.isoformat(), *times.get(day, (None, None, None))) for day in p.dates]
    n, waited, handled, p90, within = conn.execute(
        "SELECT count(*), avg(wait_s) / 60, avg(handle_s) / 60,"
        " percentile_cont(0.9) WITHIN GROUP (ORDER BY wait_s) / 60,"
        " (count(*) FILTER (WHERE finished_at IS NOT NULL AND wait_s + handle_s <= 1800))::float8"
        "   / NULLIF(count(*), 0)"
        " FROM transactions WHERE site_id = %(site)s AND queued_at >= %(start)s AND queued_at < %(end)s", a).fetchone()
    inspections, short = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE finished_at - started_at < interval '5 min') FROM inspections"
        " WHERE site_id = %(site)s AND started_at >= %(start)s AND started_at < %(end)s", a).fetchone()
    tests, passed = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE passed) FROM testing_results"
        " WHERE site_id = %(site)s AND tested_at >= %(start)s AND tested_at < %(end)s", a).fetchone()
    d.totals = {"transactions": n, "avg_wait_min": waited, "avg_handle_min": handled, "p90_wait_min": p90,
                "within_30_min_share": within, "inspections": inspections, "inspections_under_5_min": short,
                "vehicle_tests": tests, "pass_rate": passed / tests if tests else None,
                "transactions_windows": sum(r[1] for r in d.volume_by_day),
                "transactions_outlets": sum(r[2] for r in d.volume_by_day),
                "transactions_kiosks": sum(r[3] for r in d.volume_by_day)}


def _alerts(conn: psycopg.Connection, d: ReportData, a: dict[str, Any]) -> None:
    cols = ("alerts", "confirmed", "false_alarm", "needs_follow_up", "pending")
    counts = (" count(*), count(*) FILTER (WHERE a.verdict = 'confirmed'), count(*) FILTER (WHERE a.verdict ="
              " 'false_alarm'), count(*) FILTER (WHERE a.verdict = 'needs_follow_up'), count(*) FILTER (WHERE"
              " a.verdict IS NULL)")
    where = " WHERE a.site_id = %(site)s AND a.started_at >= %(start)s AND a.started_at < %(end)s"
    d.alerts_by_rule = [_rates({"rule": r[0], **dict(zip(cols, r[1:], strict=True))}) for r in conn.execute(
        f"SELECT a.rule,{counts} FROM alerts a{where} GROUP BY 1 ORDER BY 2 DESC, 1", a)]
    # The responsible unit: the alert's own (business alerts), else the unit of its camera or of the window
    # the camera watches, else the site's.
    unit = ("COALESCE(a.unit_id, mc.unit_id, mw.unit_id, ms.unit_id)")
    d.alerts_by_unit = [_rates({"unit": r[0] or "(no unit)", "name": r[1] or "", **dict(zip(cols, r[2:], strict=True))})
                        for r in conn.execute(
        f"SELECT {unit}, min(u.name),{counts} FROM alerts a"
        " LEFT JOIN unit_members mc ON mc.site_id = a.site_id AND mc.member_kind = 'camera'"
        "  AND mc.member_id = a.camera_id"
        " LEFT JOIN unit_members mw ON mw.site_id = a.site_id AND mw.member_kind IN ('window', 'outlet')"
        "  AND mw.member_id = a.camera_id"
        " LEFT JOIN unit_members ms ON ms.site_id = a.site_id AND ms.member_kind = 'site' AND ms.member_id = a.site_id"
        f" LEFT JOIN units u ON u.id = {unit}{where} GROUP BY 1 ORDER BY 3 DESC, 1", a)]
    d.totals["alerts"] = sum(r["alerts"] for r in d.alerts_by_rule)
    d.totals["alerts_reviewed"] = sum(r["alerts"] - r["pending"] for r in d.alerts_by_rule)
    d.totals["alerts_confirmed"] = sum(r["confirmed"] for r in d.alerts_by_rule)


def _rates(r: dict[str, Any]) -> dict[str, Any]:
    reviewed = r["alerts"] - r["pending"]
    r["reviewed_share"] = reviewed / r["alerts"] if r["alerts"] else None
    r["confirmed_share"] = r["confirmed"] / reviewed if reviewed else None
    return r


def _uptime(conn: psycopg.Connection, d: ReportData, a: dict[str, Any]) -> None:
    per_camera = conn.execute(
        "SELECT c.id, c.area, count(*), count(*) FILTER (WHERE s.online), min(c.name) FROM camera_stats s"
        " JOIN cameras c ON c.id = s.camera_id WHERE c.site_id = %(site)s AND s.ts >= %(start)s AND s.ts < %(end)s"
        " GROUP BY 1, 2", a).fetchall()
    areas: dict[str, list[int]] = {}
    for _cid, area, n, up, _name in per_camera:
        acc = areas.setdefault(area, [0, 0, 0])
        acc[0] += 1
        acc[1] += n
        acc[2] += up
    d.uptime_by_area = [(area, v[0], v[2] / v[1]) for area, v in sorted(areas.items())]
    d.worst_cameras = sorted(((cid, name, up / n) for cid, _a, n, up, name in per_camera),
                             key=lambda x: (x[2], x[0]))[:5]
    samples = sum(v[1] for v in areas.values())
    d.totals["camera_uptime"] = sum(v[2] for v in areas.values()) / samples if samples else None
    d.totals["cameras_reporting"] = len(per_camera)


def _rectifications(conn: psycopg.Connection, d: ReportData, a: dict[str, Any]) -> None:
    """Rectifications of alerts that started in the period, by their state now."""
    rows = conn.execute(
        "SELECT r.unit_id, min(u.name), count(*), count(*) FILTER (WHERE r.status = 'open'),"
        " count(*) FILTER (WHERE r.status = 'rectified'), count(*) FILTER (WHERE r.status = 'verified')"
        " FROM rectifications r JOIN alerts a ON a.id = r.alert_id LEFT JOIN units u ON u.id = r.unit_id"
        " WHERE a.site_id = %(site)s AND a.started_at >= %(start)s AND a.started_at < %(end)s"
        " GROUP BY 1 ORDER BY 3 DESC, 1", a).fetchall()
    d.rectifications_by_unit = [{"unit": r[0] or "(no unit)", "name": r[1] or "", "total": r[2], "open": r[3],
                                 "rectified": r[4], "verified": r[5]} for r in rows]
    d.rectifications = {k: sum(r[k] for r in d.rectifications_by_unit)
                        for k in ("total", "open", "rectified", "verified")}

