"""Configuration of the business early-warning rules (composed into the site config as `business:`)."""

from __future__ import annotations

from datetime import time

from pydantic import Field, field_validator

from common.model import Strict
from i18n import N_, TranslatableError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hours(spec: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(p.strip()) for p in spec.split("-"))
    except ValueError:
        raise TranslatableError(N_("hours must look like '08:30-17:30', got {spec!r}"), spec=spec) from None
    if end <= start:
        raise TranslatableError(N_("opening hours must end after they start: {spec!r}"), spec=spec)
    return start, end


class OpeningHours(Strict):
    """Opening hours per weekday, e.g. `{mon: "08:30-17:30", sat: "08:30-12:00"}`; a missing day is closed.

    >>> OpeningHours(days={"mon": "08:30-17:30"}).is_open(0, time(9, 0))
    True
    >>> OpeningHours(days={"mon": "08:30-17:30"}).is_open(6, time(9, 0))
    False
    """

    days: dict[str, str] = Field(default_factory=dict)
    always: bool = Field(False, description="open around the clock (24-hour self-service): never outside hours")

    @field_validator("days")
    @classmethod
    def _check(cls, days: dict[str, str]) -> dict[str, str]:
        for day, spec in days.items():
            if day not in WEEKDAYS:
                raise TranslatableError(N_("unknown weekday {day!r}; use {days}"), day=day, days=", ".join(WEEKDAYS))
            _hours(spec)
        return days

    def window(self, weekday: int) -> tuple[time, time] | None:
        spec = self.days.get(WEEKDAYS[weekday])
        return _hours(spec) if spec else None

    def is_open(self, weekday: int, at: time) -> bool:
        if self.always:
            return True
        win = self.window(weekday)
        return win is not None and win[0] <= at < win[1]

    def describe(self) -> str:
        if self.always:
            return "24 h"
        return ", ".join(f"{d} {s}" for d, s in self.days.items()) or "closed"


_OFFICE = {d: "08:30-17:30" for d in WEEKDAYS[:5]} | {"sat": "08:30-12:00"}


def _default_hours() -> dict[str, OpeningHours]:
    return {
        "window": OpeningHours(days=_OFFICE),
        "lane": OpeningHours(days=_OFFICE),
        "outlet": OpeningHours(days={d: "09:00-17:00" for d in WEEKDAYS[:6]}),
        "testing_line": OpeningHours(days={d: "08:00-18:00" for d in WEEKDAYS[:6]}),
        "self_service": OpeningHours(always=True),
    }


class VolumeRule(Strict):
    """Hourly volume against the same hour of the week in the previous `weeks` weeks (median / MAD)."""

    enabled: bool = True
    weeks: int = Field(6, ge=2, le=26)
    min_weeks: int = Field(3, ge=2, le=26, description="history needed before an hour is judged")
    z: float = Field(6.0, gt=0, description="robust z-score beyond which an hour is abnormal")
    min_delta: float = Field(8.0, ge=0, description="and at least this many transactions away from the median")


class ShortInspectionRule(Strict):
    enabled: bool = True
    lookback_days: int = Field(28, ge=3, le=365)
    min_history: int = Field(20, ge=5)
    k_mad: float = Field(3.5, gt=0, description="shorter than median - k * 1.4826 * MAD ...")
    max_ratio: float = Field(0.5, gt=0, le=1, description="... and than this share of the lane's median")


class OutsideHoursRule(Strict):
    enabled: bool = True
    grace_min: float = Field(15.0, ge=0, le=240, description="tolerance around opening and closing")


class StaffRule(Strict):
    enabled: bool = True
    lookback_days: int = Field(28, ge=1, le=365, description="to learn which windows handle which business")
    min_peers: int = Field(4, ge=2)
    z: float = Field(5.0, gt=0)
    min_ratio: float = Field(1.8, ge=1, description="and at least this multiple of the peers' median")


class NoVehicleRule(Strict):
    enabled: bool = True
    zone: str = Field("lane", description="zone id of the lane cameras' lane zone")
    min_samples: int = Field(2, ge=1, description="occupancy samples needed to judge an inspection")
    lane_cameras: dict[str, list[str]] = Field(
        default_factory=dict, description="lane id -> camera ids; default: cameras named '<lane id>-*'")


class PassRateRule(Strict):
    enabled: bool = True
    window_days: int = Field(7, ge=1, le=60)
    baseline_days: int = Field(28, ge=7, le=365)
    min_baseline_days: int = Field(10, ge=3)
    z: float = Field(4.0, gt=0)
    min_delta: float = Field(0.05, gt=0, lt=1, description="absolute change in pass rate (0.05 = 5 points)")


class BusinessConfig(Strict):
    """Business early warning: rules over transactions, inspections and testing results."""

    check_every_min: float = Field(60.0, gt=0, le=24 * 60, description="how often `business run` checks")
    recheck_days: float = Field(2.0, gt=0, le=60, description="each check re-reads this much (idempotent)")
    opening_hours: dict[str, OpeningHours] = Field(default_factory=_default_hours)
    volume: VolumeRule = Field(default_factory=VolumeRule)
    short_inspection: ShortInspectionRule = Field(default_factory=ShortInspectionRule)
    outside_hours: OutsideHoursRule = Field(default_factory=OutsideHoursRule)
    staff: StaffRule = Field(default_factory=StaffRule)
    no_vehicle: NoVehicleRule = Field(default_factory=NoVehicleRule)
    pass_rate: PassRateRule = Field(default_factory=PassRateRule)
    max_evidence_rows: int = Field(50, ge=1, le=1000)

    def hours_for(self, kind: str) -> OpeningHours | None:
        return self.opening_hours.get(kind)
