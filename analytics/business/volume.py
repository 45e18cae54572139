"""Hourly volume at a window, outlet, lane or testing line against the same hour of the week before."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import VolumeRule
from analytics.business.model import Finding
from analytics.business.stats import MAD_TO_SD, mad, median, robust_scale

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
UNIT_KIND = {"window": "window", "outlet": "outlet", "self_service": "window", "lane": "lane",
             "testing_line": "testing_line"}
WHAT = {"window": "transactions", "outlet": "transactions", "self_service": "transactions", "lane": "inspections",
        "testing_line": "vehicle tests"}


def volume_findings(counts: Mapping[tuple[str, str], Mapping[datetime, int]], first_seen: Mapping[tuple[str, str],
                    datetime], *, site_id: str, since: datetime, until: datetime, timezone: str,
                    cfg: VolumeRule) -> list[Finding]:
    """One finding per abnormal (source, hour) in [since, until).

    `counts[(kind, source)][hour_start_utc]` holds the hourly counts, history included; a missing hour is a
    zero once the source has started (`first_seen`). The baseline of an hour is the same hour of the week
    in the previous `cfg.weeks` weeks (fixed-offset zones such as Asia/Shanghai: UTC arithmetic is local).
    """
    tz = ZoneInfo(timezone)
    out: list[Finding] = []
    start_hour = since.replace(minute=0, second=0, microsecond=0)
    if start_hour < since:
        start_hour += HOUR
    for (kind, source), series in sorted(counts.items()):
        begun = first_seen.get((kind, source))
        if begun is None:
            continue
        begun = begun.replace(minute=0, second=0, microsecond=0)
        h = max(start_hour, begun)
        while h + HOUR <= until:
            history = [series.get(h - k * WEEK, 0) for k in range(1, cfg.weeks + 1) if h - k * WEEK >= begun]
            if len(history) >= cfg.min_weeks:
                value = series.get(h, 0)
                base = median(history)
                scale = robust_scale(history)
                z = (value - base) / scale
                if abs(z) >= cfg.z and abs(value - base) >= cfg.min_delta:
                    out.append(_finding(kind, source, site_id, h, value, base, history, z, scale, tz))
            h += HOUR
    return out


def _finding(kind: str, source: str, site_id: str, hour: datetime, value: int, base: float, history: list[int],
             z: float, scale: float, tz: ZoneInfo) -> Finding:
    local = hour.astimezone(tz)
    what = WHAT.get(kind, "records")
    direction = "above" if value > base else "below"
    explanation = (f"{value} {what} at {source} on {local:%a %Y-%m-%d %H:00}-{(local + HOUR):%H:00}; the same hour "
                   f"in the previous {len(history)} weeks had {', '.join(map(str, history))} (median {base:g}, "
                   f"MAD {mad(history):g}); {abs(z):.1f} robust standard deviations {direction} (scale "
                   f"{scale:.2f} = max(1.4826 x MAD, sqrt(median), 1))")
    rows = [(f"{local:%Y-%m-%d %H:00}", "this week", value)]
    rows += [(f"{(local - (k + 1) * WEEK):%Y-%m-%d %H:00}", f"{k + 1} week(s) before", v)
             for k, v in enumerate(history)]
    return Finding(
        rule="business_volume_anomaly", site_id=site_id, source_kind=kind, source_id=source, started_at=hour,
        ended_at=hour + HOUR, severity="major" if abs(z) >= 10 else "minor", value=float(value), baseline=base,
        explanation=explanation, unit_member=(UNIT_KIND.get(kind, kind), source),
        measures={"value": float(value), "median": base, "mad": mad(history), "z": round(z, 2),
                  "sd_estimate": MAD_TO_SD * mad(history)},
        columns=("hour (local)", "week", what), rows=tuple(rows))
