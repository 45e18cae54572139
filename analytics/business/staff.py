"""One clerk or inspector handling far more than the peers doing the same work on the same day."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import StaffRule
from analytics.business.model import Finding
from analytics.business.rows import BusinessEvent
from analytics.business.stats import mad, median, robust_scale
from analytics.business.texts import Text, text
from analytics.business.volume import COUNTED, OTHER, UNIT_KIND, counted
from i18n import N_

# The work peers share (`work_of`'s values, written by analytics.business.queries.work_of_sources), and a source
# nobody named the work of: grouping keys, read as words by `work_words`.
WORK_INSPECTION = "vehicle inspection"
WORK_TESTING = "vehicle testing"
WORK_TYPES = "business types: "  # then the window's business types, "/"-joined
WORK_SOURCE = "source: "  # then the source id


def staff_findings(events: Sequence[BusinessEvent], work_of: Mapping[str, str], *, site_id: str, since: datetime,
                   until: datetime, timezone: str, cfg: StaffRule) -> list[Finding]:
    """Per complete local day: a staff member whose count is far above the median of the peers.

    Peers are the staff whose main source that day does the same work: `work_of[source_id]` names it (for
    windows, the set of business types they handled in the lookback; for lanes, "inspection"), so a clerk at
    a licence window is compared with licence clerks, not with vehicle-registration clerks who take 25 min.
    """
    tz = ZoneInfo(timezone)
    per_day: dict[object, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for e in events:
        if e.staff_id and since <= e.at < until:
            per_day[e.at.astimezone(tz).date()][e.staff_id][(e.kind, e.source_id)] += 1
    out: list[Finding] = []
    for day, staff in sorted(per_day.items(), key=lambda kv: str(kv[0])):
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        if day_start < since.astimezone(tz) - timedelta(seconds=1) or day_start + timedelta(days=1) > until:
            continue  # judge whole days only
        groups: dict[str, dict[str, tuple[int, tuple[str, str]]]] = defaultdict(dict)
        for person, sources in staff.items():
            main = sources.most_common(1)[0][0]
            groups[work_of.get(main[1], f"{WORK_SOURCE}{main[1]}")][person] = (sum(sources.values()), main)
        for work, members in sorted(groups.items()):
            if len(members) < cfg.min_peers + 1:
                continue
            for person, (count, main) in sorted(members.items()):
                peers = [c for p, (c, _) in members.items() if p != person]
                base = median(peers)
                scale = robust_scale(peers)
                z = (count - base) / scale
                if z >= cfg.z and count >= cfg.min_ratio * base:
                    out.append(_finding(person, count, main, peers, base, scale, z, day, day_start, work, site_id,
                                        members, tz))
    return out


def _finding(person: str, count: int, main: tuple[str, str], peers: list[int], base: float, scale: float,
             z: float, day: object, day_start: datetime, work: str, site_id: str,
             members: Mapping[str, tuple[int, tuple[str, str]]], tz: ZoneInfo) -> Finding:
    kind, source = main
    why = (text(N_("{person} recorded {amount} on {day} (mostly at {source})"), person=person,
                amount=counted(kind, count), day=str(day), source=source),
           text(N_("the {peers} peers doing the same work ({work}) recorded a median of {median} (MAD {mad})"),
                peers=len(peers), work=work_words(work), median=f"{base:g}", mad=f"{mad(peers):g}"),
           text(N_("{ratio}x the median, robust z {z}"), ratio=f"{count / base:.1f}" if base else "∞", z=f"{z:.1f}"))
    rows = tuple(sorted(((p, c, s[1]) for p, (c, s) in members.items()), key=lambda r: -r[1]))
    return Finding(
        rule="business_staff_outlier", site_id=site_id, source_kind="staff", source_id=person,
        started_at=day_start.astimezone(tz), ended_at=(day_start + timedelta(days=1)).astimezone(tz),
        severity="minor", value=float(count), baseline=base, why=why,
        unit_member=(UNIT_KIND.get(kind, kind), source),
        measures={"count": float(count), "peer_median": base, "peer_mad": mad(peers), "z": round(z, 2),
                  "peers": float(len(peers)), "scale": round(scale, 2)},
        columns=(N_("Staff"), COUNTED.get(kind, OTHER)[0], N_("Main source")), rows=rows)


def work_words(work: str) -> Text | str:
    """The work peers share, in words; a key nobody wrote here (a caller's own) as it is."""
    if work == WORK_INSPECTION:
        return text(N_("vehicle inspection"))
    if work == WORK_TESTING:
        return text(N_("vehicle testing"))
    if work.startswith(WORK_TYPES):
        return text(N_("business types {types}"), types=work.removeprefix(WORK_TYPES))
    if work.startswith(WORK_SOURCE):
        return text(N_("the work at {source}"), source=work.removeprefix(WORK_SOURCE))
    return work
