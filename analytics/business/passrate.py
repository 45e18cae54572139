"""Testing lines whose pass rate drifts away from the line's own history."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import PassRateRule
from analytics.business.model import Finding
from analytics.business.rows import LineDay
from analytics.business.stats import MAD_TO_SD, mad, median
from analytics.business.texts import text
from i18n import N_


def pass_rate_findings(days: Sequence[LineDay], *, site_id: str, since: datetime, until: datetime, timezone: str,
                       cfg: PassRateRule) -> list[Finding]:
    """Per line and complete local day D in [since, until): the pass rate of the `window_days` ending with D
    against the line's baseline, the median of its daily pass rates in the `baseline_days` before the window.

    The drift is abnormal when it is at least `min_delta` and `z` standard errors away, the standard error
    being the larger of the binomial one and what the daily rates' own spread (MAD) implies for a window.
    """
    tz = ZoneInfo(timezone)
    by_line: dict[str, dict[date, LineDay]] = defaultdict(dict)
    for d in days:
        by_line[d.line_id][date.fromisoformat(d.day)] = d
    first = since.astimezone(tz).date()
    if datetime.combine(first, datetime.min.time(), tzinfo=tz) < since:
        first += timedelta(days=1)
    out: list[Finding] = []
    for line, series in sorted(by_line.items()):
        day = first
        while datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz) <= until:
            f = _judge(line, series, day, site_id, tz, cfg)
            if f is not None:
                out.append(f)
            day += timedelta(days=1)
    return out


def _judge(line: str, series: dict[date, LineDay], day: date, site_id: str, tz: ZoneInfo,
           cfg: PassRateRule) -> Finding | None:
    window = [series[d] for k in range(cfg.window_days) if (d := day - timedelta(days=k)) in series]
    base_start = day - timedelta(days=cfg.window_days + cfg.baseline_days - 1)
    baseline = [series[d] for k in range(cfg.baseline_days) if (d := base_start + timedelta(days=k)) in series
                and series[d].tests > 0]
    n = sum(d.tests for d in window)
    if n == 0 or len(baseline) < cfg.min_baseline_days:
        return None
    p = sum(d.passed for d in window) / n
    rates = [d.passed / d.tests for d in baseline]
    p0 = median(rates)
    # Daily rates already carry their binomial noise; averaged over the window their spread shrinks by sqrt(days).
    se = max(math.sqrt(max(p0 * (1 - p0), 1e-4) / n), MAD_TO_SD * mad(rates) / math.sqrt(len(window)))
    z = (p - p0) / se
    if abs(z) < cfg.z or abs(p - p0) < cfg.min_delta:
        return None
    w0 = day - timedelta(days=cfg.window_days - 1)
    why = (text(N_("Testing line {line}: {rate} of {tests} vehicles passed in the {days} days {start}..{end}"),
                line=line, rate=f"{p:.1%}", tests=n, days=cfg.window_days, start=str(w0), end=str(day)),
           text(N_("its baseline is {baseline} (median daily pass rate of {count} days {start}..{end}, MAD {mad})"),
                baseline=f"{p0:.1%}", count=len(baseline), start=str(base_start), end=str(w0 - timedelta(days=1)),
                mad=f"{mad(rates):.1%}"),
           text(N_("{delta} is {z} standard errors away (more passes than usual)") if p > p0 else
                N_("{delta} is {z} standard errors away (fewer passes than usual)"), delta=f"{p - p0:+.1%}",
                z=f"{abs(z):.1f}"))
    in_window, in_baseline = text(N_("judged window")), text(N_("baseline period"))
    rows = tuple((d.day, d.tests, d.passed, round(d.passed / d.tests, 3) if d.tests else None, in_window)
                 for d in sorted(window, key=lambda d: d.day))
    rows += tuple((d.day, d.tests, d.passed, round(d.passed / d.tests, 3), in_baseline)
                  for d in sorted(baseline, key=lambda d: d.day))
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    return Finding(
        rule="business_pass_rate_drift", site_id=site_id, source_kind="testing_line", source_id=line,
        started_at=start, ended_at=start + timedelta(days=1), severity="major", value=round(p, 4),
        baseline=round(p0, 4), why=why, unit_member=("testing_line", line),
        measures={"pass_rate": round(p, 4), "baseline": round(p0, 4), "tests": float(n), "z": round(z, 2),
                  "se": round(se, 4)},
        columns=(N_("Day"), N_("Tests"), N_("Passed"), N_("Pass rate"), N_("Period")), rows=rows)
