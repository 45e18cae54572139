"""The timing machinery every rule shares: a condition held for N seconds with inertia, turned into an incident
with its evidence, and opening hours.

Semantics (the same for every rule, so thresholds mean one thing):
- a condition's run starts at the first frame it is seen true (`started_at`);
- false frames are bridged by a leaky count: each false frame adds one, each true frame takes one away
  (not below zero); when the count reaches `inertia` the run ends at the false frame where the count last
  rose from zero (`ended_at`). So `inertia` false frames in a row end it, and so does a condition that is
  false more often than true (a person the detector misses every third frame still ends an absence),
  while detector flicker, a missed frame or a box that jitters out of a zone for a moment do not;
- the incident is raised on the first true frame at least `seconds` after the start (and with at least
  `min_frames` true frames), so a one-frame false positive never raises anything and the alert delay beyond
  the threshold is at most one frame interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from analytics.rule_config import DEFAULT_TIMEZONE
from analytics.rules.base import Incident, IncidentEvent

Evidence = Iterable[tuple[int, Sequence[float]]]  # (track id, xyxy)


class Held:
    """A boolean condition over frames: when its run starts, when it has been held `seconds`, when it ends.

    >>> h = Held(seconds=2, inertia=2)
    >>> [h.update(t, on) for t, on in enumerate([0, 1, 1, 0, 1, 1, 0, 0])]   # one false frame is bridged
    [None, None, None, None, 'opened', None, None, 'closed']
    >>> h.ended_at   # the run ended at the first of the two false frames
    6
    """

    def __init__(self, seconds: float, inertia: int = 1, min_frames: int = 1) -> None:
        self.seconds, self.inertia, self.min_frames = seconds, max(1, inertia), max(1, min_frames)
        self.started_at: float | None = None
        self.raised_at: float | None = None
        self.ended_at: float | None = None
        self.frames = 0  # true frames in the current run
        self._off_count = 0
        self._off_since = 0.0

    @property
    def running(self) -> bool:
        return self.started_at is not None

    @property
    def firing(self) -> bool:
        return self.raised_at is not None

    def update(self, ts: float, on: bool) -> str | None:
        """Returns 'opened' when the hold is reached, 'closed' when a raised run ends, 'ended' for a run that
        ends before it was raised, else None."""
        if on:
            if self.started_at is None:
                self.started_at, self.frames, self.ended_at = ts, 0, None
            self._off_count = max(0, self._off_count - 1)
            self.frames += 1
            if (self.raised_at is None and ts - self.started_at >= self.seconds - 1e-9
                    and self.frames >= self.min_frames):
                self.raised_at = ts
                return "opened"
            return None
        if self.started_at is None:
            return None
        if self._off_count == 0:
            self._off_since = ts
        self._off_count += 1
        return self.stop(self._off_since) if self._off_count >= self.inertia else None

    def cut(self, ts: float) -> str | None:
        """End the run at the start of the current false streak (or at `ts`): positive evidence that the
        condition is over (a vehicle seen driving out) needs no `inertia`."""
        return self.stop(self._off_since if self._off_count else ts)

    def stop(self, ts: float) -> str | None:
        """End the run now (hours over, an external event), without waiting for inertia."""
        if self.started_at is None:
            return None
        fired = self.raised_at is not None
        self.started_at, self.raised_at, self.ended_at, self._off_count = None, None, ts, 0
        return "closed" if fired else "ended"


class Episode:
    """A `Held` condition that becomes an incident with evidence, measures and a confidence.

    Evidence passed with true frames belongs to the run; evidence passed with false frames is remembered for
    `recent_s` and joins the next run (for absence rules: who was there just before the zone emptied).
    `values` are kept as their peak over the run (counts, degrees) in the incident's measures.
    Confidence = mean per-frame confidence x share of the expected frames actually seen true during the run.
    """

    def __init__(self, rule: str, zone_id: str | None, severity: str, seconds: float, inertia: int, fps: float,
                 *, duration_key: str = "held_s", min_frames: int = 1, recent_s: float = 5.0,
                 box_every_s: float = 0.5, max_boxes: int = 120) -> None:
        self.rule, self.zone_id, self.severity, self.fps = rule, zone_id, severity, fps
        self.held = Held(seconds, inertia, min_frames)
        self.duration_key, self.recent_s = duration_key, recent_s
        self.box_every_s, self.max_boxes = box_every_s, max_boxes
        self.incident: Incident | None = None
        self._recent: dict[int, tuple[float, list[float]]] = {}
        self._reset_run()

    def _reset_run(self) -> None:
        self._boxes: list[dict] = []
        self._last_box: dict[int, float] = {}
        self._peaks: dict[str, float] = {}
        self._conf_sum = 0.0

    def update(self, ts: float, on: bool, evidence: Evidence = (), values: Mapping[str, float] | None = None,
               confidence: float = 1.0) -> list[IncidentEvent]:
        if on and not self.held.running:
            self._reset_run()
            for tid, (seen, xyxy) in sorted(self._recent.items(), key=lambda kv: kv[1][0]):
                if seen >= ts - self.recent_s:
                    self._add_box(seen, tid, xyxy)
        transition = self.held.update(ts, on)
        if on:
            for tid, xyxy in evidence:
                self._add_box(ts, tid, xyxy)
            for k, v in (values or {}).items():
                self._peaks[k] = max(self._peaks.get(k, v), v)
            self._conf_sum += confidence
        else:
            for tid, xyxy in evidence:
                self._recent[tid] = (ts, [round(float(v), 1) for v in xyxy])
            self._recent = {k: v for k, v in self._recent.items() if v[0] >= ts - self.recent_s}
        if transition == "opened":
            self.incident = self._open(ts)
            return [IncidentEvent("opened", self.incident)]
        if transition == "closed":
            return [self._close(self.held.ended_at if self.held.ended_at is not None else ts)]
        if self.incident is not None and on:
            self.incident.measures.update(self._peaks)
        return []

    def stop(self, ts: float, **measures: float) -> list[IncidentEvent]:
        """End the condition now (hours over, a seat released): closes a raised incident at `ts`."""
        if self.held.stop(ts) == "closed" and self.incident is not None:
            self.incident.measures.update(measures)
            return [self._close(ts)]
        return []

    def flush(self, ts: float) -> list[IncidentEvent]:
        return self.stop(ts, closed_by_end_of_observation=1.0)

    def _add_box(self, ts: float, tid: int, xyxy: Sequence[float]) -> None:
        if len(self._boxes) >= self.max_boxes or ts - self._last_box.get(tid, -1e18) < self.box_every_s:
            return
        self._last_box[tid] = ts
        box = {"ts": ts, "track_id": tid, "xyxy": [round(float(v), 1) for v in xyxy]}
        self._boxes.append(box)
        if self.incident is not None:
            self.incident.boxes.append(box)
            if tid >= 0 and tid not in self.incident.track_ids:
                self.incident.track_ids.append(tid)

    def _open(self, ts: float) -> Incident:
        started = self.held.started_at if self.held.started_at is not None else ts
        held_s = ts - started
        expected = max(1.0, held_s * self.fps)
        frames = self.held.frames
        confidence = (self._conf_sum / frames) * min(1.0, frames / expected) if frames else 0.0
        ids: list[int] = []
        for b in self._boxes:
            if b["track_id"] >= 0 and b["track_id"] not in ids:
                ids.append(b["track_id"])
        return Incident(
            camera_id="", rule=self.rule, zone_id=self.zone_id, severity=self.severity, started_at=started,
            raised_at=ts, confidence=round(min(1.0, confidence), 3), track_ids=ids, boxes=list(self._boxes),
            measures={"threshold_s": self.held.seconds, self.duration_key: round(held_s, 2), **self._peaks},
        )

    def _close(self, ts: float) -> IncidentEvent:
        incident = self.incident
        assert incident is not None
        incident.ended_at = ts
        incident.measures[self.duration_key] = round(ts - incident.started_at, 2)
        self.incident = None
        return IncidentEvent("closed", incident)


class ActiveHours:
    """Local opening hours: whether an epoch timestamp falls inside one of the spans ("08:30-12:00").

    >>> h = ActiveHours(["08:30-12:00", "22:00-02:00"], "Asia/Shanghai")
    >>> t = datetime(2024, 5, 6, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    >>> [h.contains(t + dt * 60) for dt in (-1, 0, 209, 210, 840, 1049, 1050)]   # 08:29 .. 02:00
    [False, True, True, False, True, True, False]
    >>> ActiveHours([], None).contains(0.0)   # no hours configured: always
    True
    """

    def __init__(self, spans: Sequence[str], tz: str | None) -> None:
        self.tz = ZoneInfo(tz or DEFAULT_TIMEZONE)
        self.spans = []
        for span in spans:
            a, b = span.split("-")
            self.spans.append((_minutes(a), _minutes(b)))

    def contains(self, ts: float) -> bool:
        if not self.spans:
            return True
        local = datetime.fromtimestamp(ts, self.tz)
        m = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any((s <= m < e) if s < e else (m >= s or m < e) for s, e in self.spans)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)
