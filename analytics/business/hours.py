"""Business recorded outside a source's opening hours."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics.business.config import WEEKDAYS, OpeningHours, OutsideHoursRule
from analytics.business.model import Finding
from analytics.business.rows import BusinessEvent
from analytics.business.texts import EXPECTED_NONE, Text, text, weekday
from analytics.business.volume import UNIT_KIND
from i18n import N_


def outside(hours: OpeningHours, local: datetime, grace: timedelta) -> bool:
    """True when `local` lies outside the opening hours by more than `grace`.

    >>> from datetime import time
    >>> h = OpeningHours(days={"mon": "08:30-17:30"})
    >>> d = datetime(2024, 3, 4, 17, 40)   # a Monday
    >>> outside(h, d, timedelta(minutes=15)), outside(h, d, timedelta(minutes=5))
    (False, True)
    """
    if hours.always:
        return False
    win = hours.window(local.weekday())
    if win is None:
        return True
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    open_at = day + timedelta(hours=win[0].hour, minutes=win[0].minute) - grace
    close_at = day + timedelta(hours=win[1].hour, minutes=win[1].minute) + grace
    naive = local.replace(tzinfo=None)
    return not (open_at <= naive < close_at)


def outside_hours_findings(events: Sequence[BusinessEvent], hours_of: Mapping[str, OpeningHours], *,
                           site_id: str, since: datetime, until: datetime, timezone: str,
                           cfg: OutsideHoursRule) -> list[Finding]:
    """One finding per source and local hour in which business was recorded while the source was closed."""
    tz = ZoneInfo(timezone)
    grace = timedelta(minutes=cfg.grace_min)
    groups: dict[tuple[str, str, datetime], list[BusinessEvent]] = defaultdict(list)
    for e in events:
        hours = hours_of.get(e.kind)
        if hours is None or not since <= e.at < until:
            continue
        local = e.at.astimezone(tz)
        if outside(hours, local, grace):
            hour = e.at.replace(minute=0, second=0, microsecond=0)
            groups[(e.kind, e.source_id, hour)].append(e)
    out: list[Finding] = []
    for (kind, source, hour), items in sorted(groups.items()):
        if hour + timedelta(hours=1) > until:
            continue  # the hour is not over yet: judge it complete, once
        items.sort(key=lambda e: e.at)
        local = hour.astimezone(tz)
        hours = hours_of[kind]
        win = hours.window(local.weekday())
        today = f"{win[0]:%H:%M}-{win[1]:%H:%M}" if win else text(N_("closed all day"))
        why = (text(N_("{count} record(s) at {source} between {weekday} {start} and {end}"), count=len(items),
                    source=source, weekday=weekday(local.weekday()), start=f"{local:%Y-%m-%d %H:00}",
                    end=f"{local:%H}:59"),
               text(N_("opening hours that day: {today} (tolerance {grace} min; all week: {week})"), today=today,
                    grace=f"{cfg.grace_min:g}", week=week_words(hours)),
               text(EXPECTED_NONE))
        out.append(Finding(
            rule="business_outside_hours", site_id=site_id, source_kind=kind, source_id=source,
            started_at=items[0].at, ended_at=items[-1].at, severity="major", value=float(len(items)), baseline=0.0,
            why=why, unit_member=(UNIT_KIND.get(kind, kind), source),
            measures={"records": float(len(items))},
            columns=(N_("Record no."), N_("Time"), N_("Staff"), N_("Business or plate")),
            rows=tuple((e.ref, f"{e.at.astimezone(tz):%Y-%m-%d %H:%M:%S}", e.staff_id, e.detail) for e in items)))
    return out


def week_words(hours: OpeningHours) -> Text | list[Text]:
    """A week's opening hours in words: "Mon 08:30-17:30, Sat 08:30-12:00" ("周一08:30-17:30，周六08:30-12:00")."""
    if hours.always:
        return text(N_("open around the clock"))
    if not hours.days:
        return text(N_("closed all week"))
    return [text(N_("{weekday} {hours}"), weekday=weekday(WEEKDAYS.index(d)), hours=spec)
            for d, spec in hours.days.items()]
