"""Hourly volume at a window, outlet, lane or testing line against the same hour of the week before."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import VolumeRule
from analytics.business.model import Finding
from analytics.business.stats import MAD_TO_SD, mad, median, robust_scale
from analytics.business.texts import Text, text, weekday
from i18n import N_

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
UNIT_KIND = {"window": "window", "outlet": "outlet", "self_service": "window", "lane": "lane",
             "testing_line": "testing_line"}
# What a source's count counts: the evidence column's name and the count in words, by source kind.
_TRANSACTIONS = (N_("Transactions"), N_("{count} transactions"))
COUNTED = {"window": _TRANSACTIONS, "outlet": _TRANSACTIONS, "self_service": _TRANSACTIONS,
           "lane": (N_("Inspections"), N_("{count} inspections")),
           "testing_line": (N_("Vehicle tests"), N_("{count} vehicle tests"))}
OTHER = (N_("Records"), N_("{count} records"))
ABOVE = N_("{z} robust standard deviations above the median (scale {scale} = max(1.4826 x MAD, sqrt(median), 1))")
BELOW = N_("{z} robust standard deviations below the median (scale {scale} = max(1.4826 x MAD, sqrt(median), 1))")


def counted(kind: str, count: int) -> Text:
    """`count` of what a source of `kind` does, in words: "41 transactions", "办理业务 41 笔"."""
    return text(COUNTED.get(kind, OTHER)[1], count=count)


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
    why = (text(N_("{amount} at {source} on {weekday} {hour}"), amount=counted(kind, value), source=source,
                weekday=weekday(local.weekday()), hour=f"{local:%Y-%m-%d %H:00}-{(local + HOUR):%H:00}"),
           text(N_("the same hour in the previous {weeks} weeks had {history} (median {median}, MAD {mad})"),
                weeks=len(history), history=list(history), median=f"{base:g}", mad=f"{mad(history):g}"),
           text(ABOVE if value > base else BELOW, z=f"{abs(z):.1f}", scale=f"{scale:.2f}"))
    rows = [(f"{local:%Y-%m-%d %H:00}", text(N_("this week")), value)]
    rows += [(f"{(local - (k + 1) * WEEK):%Y-%m-%d %H:00}", text(N_("{weeks} week(s) before"), weeks=k + 1), v)
             for k, v in enumerate(history)]
    return Finding(
        rule="business_volume_anomaly", site_id=site_id, source_kind=kind, source_id=source, started_at=hour,
        ended_at=hour + HOUR, severity="major" if abs(z) >= 10 else "minor", value=float(value), baseline=base,
        why=why, unit_member=(UNIT_KIND.get(kind, kind), source),
        measures={"value": float(value), "median": base, "mad": mad(history), "z": round(z, 2),
                  "sd_estimate": MAD_TO_SD * mad(history)},
        columns=(N_("Hour (local)"), N_("Week"), COUNTED.get(kind, OTHER)[0]), rows=tuple(rows))
