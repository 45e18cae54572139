"""Report periods in the site's local calendar.

>>> from zoneinfo import ZoneInfo
>>> p = period("weekly", date(2024, 4, 10), ZoneInfo("Asia/Shanghai"))
>>> p.label, p.start.isoformat(), p.end.isoformat()
('2024-W15', '2024-04-08T00:00:00+08:00', '2024-04-15T00:00:00+08:00')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

KINDS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Period:
    kind: str
    label: str
    first_day: date
    days: int
    start: datetime
    end: datetime

    @property
    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=k) for k in range(self.days)]


def period(kind: str, day: date, tz: ZoneInfo) -> Period:
    """The daily, weekly (ISO, Monday first) or monthly period containing `day`."""
    if kind == "daily":
        first, n, label = day, 1, day.isoformat()
    elif kind == "weekly":
        first = day - timedelta(days=day.weekday())
        iso = first.isocalendar()
        n, label = 7, f"{iso.year}-W{iso.week:02d}"
    elif kind == "monthly":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        n, label = (following - first).days, f"{first:%Y-%m}"
    else:
        raise ValueError(f"unknown report kind {kind!r}; use {', '.join(KINDS)}")
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(first + timedelta(days=n), datetime.min.time(), tzinfo=tz)
    return Period(kind, label, first, n, start, end)


def default_day(kind: str, today: date) -> date:
    """The last complete period: yesterday, last week, last month."""
    if kind == "daily":
        return today - timedelta(days=1)
    if kind == "weekly":
        return today - timedelta(days=today.weekday() + 1)
    return today.replace(day=1) - timedelta(days=1)
