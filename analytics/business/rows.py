"""Plain row types the rules read (what analytics.business.queries loads from the store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Inspection:
    id: int
    site_id: str
    lane_id: str
    plate: str | None
    inspector_id: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class BusinessEvent:
    """One transaction, inspection or vehicle test, reduced to what the hours and staff rules need."""

    kind: str            # source kind: window, outlet, self_service, lane, testing_line
    source_id: str       # window / outlet / lane / testing line id
    ref: str             # message id or inspection id, for the evidence rows
    at: datetime         # ticket, inspection start or test time
    staff_id: str | None
    detail: str          # business type, plate


@dataclass(frozen=True)
class LineDay:
    """One testing line's results on one local day."""

    line_id: str
    day: str             # ISO local date
    tests: int
    passed: int
