"""Inject known business anomalies into a seeded office and record the ground truth (issue 7).

`inject(conn, site_id, days)` plants one anomaly of each kind the business rules look for, each on its own
local day of `days` (cycling), and returns what it planted: rule, source, time span and the row ids. The
evaluation (`score`) then says which were flagged and which findings no injection explains (false alarms).

The seed's own "skipped checks" (inspections of 1-2.5 min; every other seeded inspection lasts at least
4 min by construction) are anomalies too: `seeded_short_inspections` lists them as ground truth.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from i18n import N_
from storage.errors import StorageError


@dataclass(frozen=True)
class Injected:
    rule: str
    site_id: str
    source_kind: str
    source_id: str
    started_at: datetime
    ended_at: datetime
    refs: tuple[str, ...] = ()          # row ids the findings must name (inspections), if any
    also: tuple[str, ...] = ()          # other sources the anomaly legitimately shows at (window of a clerk)
    note: str = ""


@dataclass
class Score:
    flagged: list[Injected] = field(default_factory=list)
    missed: list[Injected] = field(default_factory=list)
    false_alarms: list[Any] = field(default_factory=list)   # findings nothing explains
    explained: int = 0


def _local(day: date, hour: float, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=hour)


def _copy_tx(conn: psycopg.Connection, rows: list[tuple]) -> None:
    with conn.cursor().copy("COPY transactions (message_id, site_id, window_id, business_type, ticket, staff_id,"
                            " queued_at, called_at, finished_at, wait_s, handle_s) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)


def _tx(site: str, window: str, n: int, at: datetime, staff: str | None, tag: str) -> tuple:
    return (f"inj-{tag}-{n:04d}", site, window, "licence_renewal", f"X{n:03d}", staff, at, at + timedelta(seconds=20),
            at + timedelta(seconds=80), 20.0, 60.0)


def inject(conn: psycopg.Connection, site_id: str, days: Sequence[date], seed: int = 7) -> list[Injected]:
    """Plant the anomalies (in the caller's transaction). `days` must be weekdays the seed covered, each
    preceded by the history the rules need; the pass-rate drift runs from its day to the end of the data."""
    if not days:
        raise StorageError(N_("inject needs at least one day"))
    rng = random.Random(seed)
    tz = ZoneInfo(conn.execute("SELECT timezone FROM sites WHERE id = %s", (site_id,)).fetchone()[0])

    def day(k: int) -> date:
        return days[k % len(days)]

    out: list[Injected] = []
    outlets = [r[0] for r in conn.execute("SELECT DISTINCT window_id FROM transactions WHERE site_id = %s"
                                          " AND window_id LIKE 'outlet-%%' ORDER BY 1", (site_id,))]
    windows = [r[0] for r in conn.execute("SELECT DISTINCT window_id FROM transactions WHERE site_id = %s"
                                          " AND window_id LIKE 'win-%%' ORDER BY 1", (site_id,))]
    lanes = [r[0] for r in conn.execute("SELECT DISTINCT lane_id FROM inspections WHERE site_id = %s ORDER BY 1",
                                        (site_id,))]
    lines = [r[0] for r in conn.execute("SELECT DISTINCT line_id FROM testing_results WHERE site_id = %s ORDER BY 1",
                                        (site_id,))]
    if not (outlets and windows and lanes and lines):
        raise StorageError(N_("inject needs seeded outlets, windows, lanes and testing lines"))

    # 1. Volume surge: a burst of 30 tickets in one hour at an outlet that normally sees 3-5.
    d, src = day(0), outlets[len(outlets) // 2]
    t0 = _local(d, 10, tz)
    _copy_tx(conn, [_tx(site_id, src, k, t0 + timedelta(seconds=110 * k), f"{src}-clerk", f"vol-{d}")
                    for k in range(30)])
    out.append(Injected("business_volume_anomaly", site_id, "outlet", src, t0, t0 + timedelta(hours=1),
                        also=(f"{src}-clerk",), note="30 extra tickets in one hour"))

    # 2. Inspections far too short: four of one lane's inspections end after 3 minutes.
    d, lane = day(1), lanes[0]
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM inspections WHERE lane_id = %s AND started_at >= %s AND started_at < %s"
        " AND finished_at IS NOT NULL ORDER BY started_at", (lane, _local(d, 0, tz), _local(d, 24, tz)))]
    picked = sorted(rng.sample(ids, 4))
    conn.execute("UPDATE inspections SET finished_at = started_at + interval '3 min' WHERE id = ANY(%s)", (picked,))
    span = conn.execute("SELECT min(started_at), max(finished_at) FROM inspections WHERE id = ANY(%s)",
                        (picked,)).fetchone()
    out.append(Injected("business_inspection_short", site_id, "lane", lane, span[0], span[1],
                        refs=tuple(map(str, picked)), note="4 inspections cut to 3 min"))

    # 3. Business outside opening hours: five tickets at a window at 20:00-20:50.
    d, src = day(2), windows[-1]
    t0 = _local(d, 20, tz)
    _copy_tx(conn, [_tx(site_id, src, k, t0 + timedelta(minutes=10 * k), f"{src.replace('win', 'staff')}b",
                        f"hours-{d}") for k in range(5)])
    out.append(Injected("business_outside_hours", site_id, "window", src, t0, t0 + timedelta(minutes=41),
                        note="5 tickets at 20:00-20:40"))

    # 4. One clerk far above the peers: twice the clerk's own count added as one-minute transactions.
    d, src = day(3), windows[0]
    staff = conn.execute("SELECT staff_id, count(*) FROM transactions WHERE window_id = %s AND queued_at >= %s"
                         " AND queued_at < %s AND staff_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
                         (src, _local(d, 0, tz), _local(d, 24, tz))).fetchone()
    if staff is None:
        raise StorageError(N_("no transactions at {window} on {day} to build a staff anomaly on"), window=src, day=d)
    extra = 2 * staff[1]
    t0 = _local(d, 9, tz)
    step = 3.5 * 3600 / extra
    _copy_tx(conn, [_tx(site_id, src, k, t0 + timedelta(seconds=step * k), staff[0], f"staff-{d}")
                    for k in range(extra)])
    out.append(Injected("business_staff_outlier", site_id, "staff", staff[0], _local(d, 0, tz), _local(d, 24, tz),
                        also=(src,), note=f"{extra} extra one-minute transactions"))

    # 5. Inspections recorded with no vehicle in the video: the lane zone emptied during three of them.
    d, lane = day(4), lanes[-1]
    rows = conn.execute(
        "SELECT id, started_at, finished_at FROM inspections WHERE lane_id = %s AND started_at >= %s"
        " AND started_at < %s AND finished_at - started_at > interval '8 min' ORDER BY started_at",
        (lane, _local(d, 0, tz), _local(d, 24, tz))).fetchall()
    picked_rows = sorted(rng.sample(rows, 3))
    for _i, s, f in picked_rows:
        conn.execute("UPDATE occupancy_samples SET people = 0 WHERE camera_id LIKE %s AND zone_id = 'lane'"
                     " AND ts >= %s AND ts <= %s", (f"{lane}-%", s, f))
    out.append(Injected("business_inspection_without_vehicle", site_id, "lane", lane, picked_rows[0][1],
                        picked_rows[-1][2], refs=tuple(str(r[0]) for r in picked_rows),
                        note="lane zone empty during 3 inspections"))

    # 6. A testing line drifts towards passing everything: failures turn into passes, ramping over 4 days.
    d, line = day(5), lines[len(lines) // 2]
    start = _local(d, 0, tz)
    fails = conn.execute("SELECT message_id, tested_at FROM testing_results WHERE line_id = %s AND tested_at >= %s"
                         " AND NOT passed ORDER BY tested_at", (line, start)).fetchall()
    flip = [m for m, t in fails if rng.random() < min(1.0, 0.25 * (1 + (t - start).days)) * 0.9]
    conn.execute("UPDATE testing_results SET passed = true WHERE message_id = ANY(%s)", (flip,))
    last = conn.execute("SELECT max(tested_at) FROM testing_results WHERE line_id = %s", (line,)).fetchone()[0]
    out.append(Injected("business_pass_rate_drift", site_id, "testing_line", line, start, last,
                        note=f"{len(flip)} of {len(fails)} failures turned into passes from {d}"))
    return out


def seeded_short_inspections(conn: psycopg.Connection, site_id: str, since: datetime, until: datetime
                             ) -> list[Injected]:
    """The seed's own skipped checks (1-2.5 min; normal seeded inspections last >= 4 min by construction)."""
    return [Injected("business_inspection_short", site_id, "lane", lane, s, f, refs=(str(i),), note="seeded")
            for i, lane, s, f in conn.execute(
                "SELECT id, lane_id, started_at, finished_at FROM inspections WHERE site_id = %s"
                " AND started_at >= %s AND started_at < %s AND finished_at - started_at <= interval '150 s'",
                (site_id, since, until))]


def _overlaps(f: Any, i: Injected, slack: timedelta) -> bool:
    return f.started_at <= i.ended_at + slack and f.ended_at >= i.started_at - slack


def _names(f: Any) -> set[str]:
    return {str(r[0]) for r in getattr(f, "rows", ()) if r and r[0] is not None}


def score(findings: Iterable[Any], truth: Sequence[Injected], slack: timedelta = timedelta(hours=1),
          drift_days: int = 14) -> Score:
    """Which injections a set of findings flags, and which findings no injection explains.

    An injection is flagged by a finding of its rule at its source overlapping its span (a drift: within
    `drift_days` of its start), naming every injected row id where it has some. A finding is explained by
    any injection at the same source (or a source the anomaly also shows at) overlapping in time.
    """
    findings = list(findings)
    result = Score()
    for i in truth:
        span_end = i.started_at + timedelta(days=drift_days) if i.rule == "business_pass_rate_drift" else i.ended_at
        window = Injected(i.rule, i.site_id, i.source_kind, i.source_id, i.started_at, span_end)
        hits = [f for f in findings if f.rule == i.rule and f.source_id == i.source_id and _overlaps(f, window, slack)]
        named = set().union(*(_names(f) for f in hits)) if hits else set()
        ok = bool(hits) and set(i.refs) <= named
        (result.flagged if ok else result.missed).append(i)
    for f in findings:
        if any(f.source_id in {i.source_id, *i.also} and _overlaps(f, Injected(
                i.rule, i.site_id, i.source_kind, i.source_id, i.started_at,
                i.started_at + timedelta(days=drift_days) if i.rule == "business_pass_rate_drift" else i.ended_at),
                slack) for i in truth):
            result.explained += 1
        else:
            result.false_alarms.append(f)
    return result


def write_truth(path: Path, injected: Sequence[Injected]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{**asdict(i), "started_at": i.started_at.isoformat(),
                                 "ended_at": i.ended_at.isoformat()} for i in injected], indent=2, ensure_ascii=False))


def read_truth(path: Path) -> list[Injected]:
    raw = json.loads(path.read_text())
    return [Injected(**{**r, "started_at": datetime.fromisoformat(r["started_at"]),
                        "ended_at": datetime.fromisoformat(r["ended_at"]), "refs": tuple(r["refs"]),
                        "also": tuple(r["also"])}) for r in raw]
