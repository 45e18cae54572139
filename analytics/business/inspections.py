"""Inspection-lane rules over inspection records: far too short, and recorded with no vehicle in the video."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import NoVehicleRule, ShortInspectionRule
from analytics.business.model import Finding
from analytics.business.rows import Inspection
from analytics.business.stats import MAD_TO_SD, mad, median
from analytics.business.texts import EXPECTED_NONE, text
from i18n import N_

# The evidence tables' columns, named when read (analytics/business/texts.py).
INSPECTION, PLATE, INSPECTOR = N_("Inspection no."), N_("Plate"), N_("Inspector")
STARTED, FINISHED = N_("Started"), N_("Finished")


def short_inspection_findings(rows: Sequence[Inspection], *, site_id: str, since: datetime, until: datetime,
                              timezone: str, cfg: ShortInspectionRule) -> list[Finding]:
    """One finding per finished inspection in [since, until) far shorter than its lane's usual.

    The lane's usual is the median (and MAD) of its finished inspections in the `lookback_days` before the
    inspection's local day, so the baseline rolls with the data and a few short ones barely move it.
    """
    tz = ZoneInfo(timezone)
    by_lane: dict[str, list[Inspection]] = defaultdict(list)
    for r in rows:
        if r.finished_at is not None and r.finished_at > r.started_at - timedelta(seconds=1):
            by_lane[r.lane_id].append(r)
    out: list[Finding] = []
    for lane, items in sorted(by_lane.items()):
        items.sort(key=lambda r: r.started_at)
        starts = [r.started_at for r in items]
        cache: dict[object, tuple[float, float, int] | None] = {}
        for r in items:
            if not (since <= r.started_at and r.finished_at is not None and r.finished_at <= until):
                continue
            day = r.started_at.astimezone(tz).date()
            if day not in cache:
                day_start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
                lo = bisect.bisect_left(starts, day_start - timedelta(days=cfg.lookback_days))
                hi = bisect.bisect_left(starts, day_start)
                hist = [x.duration_s for x in items[lo:hi]]
                cache[day] = (median(hist), mad(hist), len(hist)) if len(hist) >= cfg.min_history else None
            base = cache[day]
            if base is None:
                continue
            med, dev, n = base
            limit = min(med - cfg.k_mad * MAD_TO_SD * dev, cfg.max_ratio * med)
            dur = r.duration_s or 0.0
            if dur < limit:
                out.append(_short(r, site_id, lane, dur, med, dev, n, limit, tz, cfg))
    return out


def _short(r: Inspection, site_id: str, lane: str, dur: float, med: float, dev: float, n: int, limit: float,
           tz: ZoneInfo, cfg: ShortInspectionRule) -> Finding:
    start = r.started_at.astimezone(tz)
    why = (text(N_("Inspection {inspection} of {plate} by {inspector} at {lane} on {start} lasted {minutes} min"),
                inspection=r.id, plate=r.plate or "?", inspector=r.inspector_id or "?", lane=lane,
                start=f"{start:%Y-%m-%d %H:%M}", minutes=f"{dur / 60:.1f}"),
           text(N_("the lane's usual is {median} min (median of {count} inspections in the previous {days} days, "
                   "MAD {mad} min)"), median=f"{med / 60:.1f}", count=n, days=cfg.lookback_days,
                mad=f"{dev / 60:.1f}"),
           text(N_("abnormal below {limit} min = min(median - {k} x 1.4826 x MAD, {ratio} x median)"),
                limit=f"{limit / 60:.1f}", k=f"{cfg.k_mad:g}", ratio=f"{cfg.max_ratio:g}"))
    return Finding(
        rule="business_inspection_short", site_id=site_id, source_kind="lane", source_id=lane,
        started_at=r.started_at, ended_at=r.finished_at or r.started_at, severity="major", value=round(dur, 1),
        baseline=med, why=why, unit_member=("lane", lane),
        measures={"duration_s": round(dur, 1), "median_s": med, "mad_s": dev, "limit_s": round(limit, 1),
                  "history": float(n)},
        columns=(INSPECTION, PLATE, INSPECTOR, STARTED, FINISHED, N_("Minutes")),
        rows=((r.id, r.plate, r.inspector_id, f"{start:%Y-%m-%d %H:%M:%S}",
               f"{r.finished_at.astimezone(tz):%H:%M:%S}" if r.finished_at else None, round(dur / 60, 2)),))


def lane_cameras(lanes: Sequence[str], cameras: Sequence[str], cfg: NoVehicleRule) -> dict[str, list[str]]:
    """Lane id -> its cameras: configured, else the cameras whose id starts with '<lane id>-'.

    >>> lane_cameras(["lane-1"], ["lane-1-front", "lane-10-rear", "win-01"], NoVehicleRule())
    {'lane-1': ['lane-1-front']}
    """
    return {lane: list(cfg.lane_cameras.get(lane) or [c for c in cameras if c.startswith(f"{lane}-")])
            for lane in lanes}


def no_vehicle_findings(rows: Sequence[Inspection], coverage: Mapping[int, tuple[int, int]],
                        incidents: Sequence[tuple[str, datetime, int]], *, site_id: str, since: datetime,
                        until: datetime, timezone: str, cfg: NoVehicleRule) -> list[Finding]:
    """Per lane and complete local day: inspections recorded while the lane cameras' lane zone stayed empty.

    `coverage[inspection id]` = (occupancy samples of the lane's cameras' lane zone during the inspection,
    most people seen in any of them). An inspection is judged when it has at least `min_samples` samples;
    it is "without vehicle" when every sample shows an empty zone (the people count stands in for presence
    until a vehicle class is counted). `incidents` are the vision rule's own findings (lane, ts, incident
    id), used where present: they summarise into the same finding.
    """
    tz = ZoneInfo(timezone)
    per_day: dict[tuple[str, object], dict[str, list]] = defaultdict(lambda: {"empty": [], "judged": [], "blind": []})
    for r in rows:
        if r.finished_at is None or not (since <= r.started_at and r.finished_at <= until):
            continue
        n, most = coverage.get(r.id, (0, -1))
        bucket = per_day[(r.lane_id, r.started_at.astimezone(tz).date())]
        if n < cfg.min_samples:
            bucket["blind"].append(r)
        else:
            bucket["judged"].append(r)
            if most == 0:
                bucket["empty"].append((r, n))
    vision: dict[tuple[str, object], list[tuple[datetime, int]]] = defaultdict(list)
    for lane, ts, incident_id in incidents:
        if since <= ts < until:
            vision[(lane, ts.astimezone(tz).date())].append((ts, incident_id))
    out: list[Finding] = []
    for key in sorted(set(per_day) | set(vision), key=lambda k: (k[0], str(k[1]))):
        lane, day = key
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        if day_start + timedelta(days=1) > until:
            continue  # the day is not over: judged once, complete
        b = per_day.get(key, {"empty": [], "judged": [], "blind": []})
        inc = vision.get(key, [])
        if not b["empty"] and not inc:
            continue
        rows_out = [(r.id, r.plate, r.inspector_id, f"{r.started_at.astimezone(tz):%H:%M:%S}",
                     f"{r.finished_at.astimezone(tz):%H:%M:%S}", n, text(N_("occupancy: lane zone empty")))
                    for r, n in b["empty"]]
        rows_out += [(None, None, None, f"{ts.astimezone(tz):%H:%M:%S}", None, None,
                      text(N_("video incident {incident}"), incident=i)) for ts, i in inc]
        why = [text(N_("{empty} of {judged} inspections at {lane} on {day} that the lane cameras could judge were "
                       "recorded while the lane zone stayed empty in every sample"),
                    empty=len(b["empty"]), judged=len(b["judged"]), lane=lane, day=day.isoformat())]
        if inc:
            why.append(text(N_("{count} 'inspection with no vehicle' incidents from the video rules"), count=len(inc)))
        if b["blind"]:
            why.append(text(N_("{count} inspections had too few samples to judge"), count=len(b["blind"])))
        why.append(text(EXPECTED_NONE))
        first = min([r.started_at for r, _ in b["empty"]] + [ts for ts, _ in inc])
        last = max([r.finished_at for r, _ in b["empty"]] + [ts for ts, _ in inc])
        out.append(Finding(
            rule="business_inspection_without_vehicle", site_id=site_id, source_kind="lane", source_id=lane,
            started_at=first, ended_at=last, severity="major", value=float(len(b["empty"]) + len(inc)), baseline=0.0,
            why=tuple(why), unit_member=("lane", lane),
            measures={"without_vehicle": float(len(b["empty"])), "judged": float(len(b["judged"])),
                      "unjudged": float(len(b["blind"])), "vision_incidents": float(len(inc))},
            columns=(INSPECTION, PLATE, INSPECTOR, STARTED, FINISHED, N_("Samples"), N_("Evidence")),
            rows=tuple(rows_out)))
    return out
