"""Inspection-lane rules over `LaneTracker` sessions (see lane_session.py for who is the vehicle and who the
inspector). `inspector_absent` is a held condition; the others judge a whole visit when the vehicle has left,
or an inspection record against the video. Records are `ExternalEvent`s of `record_kinds` whose target is the
lane (the zone's `lane.external_id`, else the zone id). One tracker per lane zone (analytics/scene.py) follows
the visits; every rule here reads them. Visits are judged as soon as the vehicle has left, except where a rule
needs a record that may come late: `inspection_too_short` on a lane that sends records waits up to
`record_tolerance_s` for a closing record (`inspection_end` or a single record), and `vehicle_left_uninspected`
with `require_record` waits `record_grace_s` for any record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analytics.rule_config import (
    InspectionTooShortConfig,
    InspectionWithoutVehicleConfig,
    InspectorAbsentConfig,
    LaneRuleBase,
    VehicleLeftUninspectedConfig,
    WalkaroundIncompleteConfig,
    register_rule,
)
from analytics.rules.base import ExternalEvent, Incident, IncidentEvent, Observation
from analytics.rules.common import EpisodeRule, evidence
from analytics.rules.lane_session import LaneSession
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene


class _LaneRule(EpisodeRule):
    config: LaneRuleBase

    def __init__(self, config: LaneRuleBase, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.lane = self.scene.lane(config.zone)  # shared with every lane rule on the zone; only read here
        self._pending: list[LaneSession] = []

    def update(self, obs: Observation) -> list[IncidentEvent]:
        lane = obs.lanes[self.config.zone]  # the scene followed the session, through closed hours too
        active = self.hours.contains(obs.ts)
        events = self.frame(obs, lane.near, active)
        if lane.finished is not None:
            self._pending.append(lane.finished)
        while self._pending and obs.ts >= (self._pending[0].ended_at or 0.0) + self._wait(self._pending[0]):
            session = self._pending.pop(0)
            if active:
                events += self.judge(session, obs.ts)
        return events

    def _wait(self, session: LaneSession) -> float:
        """How long after the departure this rule waits for late records before judging a visit."""
        return 0.0

    def flush(self, ts: float) -> list[IncidentEvent]:
        events = super().flush(ts)
        gone = self.scene.flushed.get(self.config.zone)  # the scene flushed its lanes first
        if gone is not None:
            self._pending.append(gone)
        for session in self._pending:
            events += self.judge(session, ts)
        self._pending = []
        return events

    def frame(self, obs: Observation, near: list[int], active: bool) -> list[IncidentEvent]:
        return []

    def judge(self, session: LaneSession, now: float) -> list[IncidentEvent]:
        return []

    def visit_incident(self, session: LaneSession, now: float, measures: dict[str, float],
                       confidence: float = 1.0) -> list[IncidentEvent]:
        """An incident about a finished visit: from the vehicle's arrival to its departure, raised now."""
        inc = Incident(camera_id="", rule=self.name, zone_id=self.config.zone, severity=self.config.severity,
                       started_at=session.started_at, raised_at=now, ended_at=session.ended_at,
                       confidence=round(confidence, 3), track_ids=session.vehicle_ids + session.inspector_ids,
                       boxes=list(session.boxes),
                       measures={"visit_s": round((session.ended_at or now) - session.started_at, 2), **measures})
        return [IncidentEvent("opened", inc), IncidentEvent("closed", inc)]


@register_rule(InspectorAbsentConfig)
class InspectorAbsentRule(_LaneRule):
    """A vehicle stands in the lane and nobody is near it for `seconds` (from its arrival, or from when the
    last inspector left). Ends when an inspector is back (`inertia` frames) or the vehicle leaves."""

    config: InspectorAbsentConfig

    def frame(self, obs: Observation, near: list[int], active: bool) -> list[IncidentEvent]:
        ep = self.episode(self.config.zone, self.config.seconds, duration_key="absent_s")
        session = self.lane.session
        if session is None or not active:
            ended = self.lane.vehicle.ended_at if session is None else None
            return ep.stop(ended if ended is not None and ended <= obs.ts else obs.ts)
        ref = session.reference()
        vehicle = [(session.vehicle_ids[-1] if session.vehicle_ids else -1, ref)] if ref is not None else []
        return ep.update(obs.ts, not near, vehicle if not near else evidence(obs.detections, near))


@register_rule(InspectionTooShortConfig)
class InspectionTooShortRule(_LaneRule):
    """A visit whose inspection lasted under `min_seconds`: the recorded inspection (first to last record of
    the visit, or a record's payload `duration_s`) when records exist, else the video's inspection span (first
    to last moment an inspector was near). A visit nobody came near is `vehicle_left_uninspected`'s."""

    config: InspectionTooShortConfig

    def _wait(self, session: LaneSession) -> float:
        # Not on a video-only lane, nor once the visit has a closing record (inspection_end, or a single one).
        if not self.lane.records_seen or any(r.kind != "inspection_start" for r in self.lane.records_of(session)):
            return 0.0
        return self.lane.config.record_tolerance_s

    def judge(self, session: LaneSession, now: float) -> list[IncidentEvent]:
        records = self.lane.records_of(session)
        recorded = None
        if records:
            given = [float(r.payload["duration_s"]) for r in records if "duration_s" in r.payload]
            recorded = max(given) if given else (max(r.ts for r in records) - min(r.ts for r in records)
                                                 if len(records) > 1 else None)
        span = session.inspection_span_s
        duration = recorded if recorded is not None else span
        if duration is None or duration >= self.config.min_seconds:
            return []
        measures = {"inspection_s": round(duration, 2), "min_s": self.config.min_seconds,
                    "near_s": round(session.near_s, 2), "from_record": float(recorded is not None)}
        return self.visit_incident(session, now, measures)


@register_rule(WalkaroundIncompleteConfig)
class WalkaroundIncompleteRule(_LaneRule):
    """A visit someone inspected (near >= `min_near_s`) whose inspectors' tracks covered fewer than
    `min_degrees` around the vehicle (or fewer than `min_sides` sides, when set)."""

    config: WalkaroundIncompleteConfig

    def judge(self, session: LaneSession, now: float) -> list[IncidentEvent]:
        cfg = self.config
        if session.near_s < cfg.min_near_s:
            return []
        covered, sides = session.cover.covered(), session.cover.sides(cfg.side_share)
        complete = len(sides) >= cfg.min_sides if cfg.min_sides else covered >= cfg.min_degrees
        if complete:
            return []
        span = session.inspection_span_s or 0.0
        confidence = min(1.0, session.near_frames / max(1.0, span * self.fps))  # inspectors seen, not lost
        measures = {"coverage_deg": round(covered, 1), "sides": float(len(sides)), "near_s": round(session.near_s, 2),
                    "min_deg": cfg.min_degrees, **({"min_sides": float(cfg.min_sides)} if cfg.min_sides else {})}
        return self.visit_incident(session, now, measures, confidence)


@register_rule(VehicleLeftUninspectedConfig)
class VehicleLeftUninspectedRule(_LaneRule):
    """A vehicle stayed at least `min_vehicle_s` and left with nobody near it for `min_near_s` in all; with
    `require_record`, also one that left without any inspection record (waiting `record_grace_s` for it)."""

    config: VehicleLeftUninspectedConfig

    def _wait(self, session: LaneSession) -> float:
        return self.config.record_grace_s if self.config.require_record and not self.lane.records_of(session) else 0.0

    def judge(self, session: LaneSession, now: float) -> list[IncidentEvent]:
        cfg = self.config
        if (session.ended_at or now) - session.started_at < cfg.min_vehicle_s:
            return []
        records = len(self.lane.records_of(session))
        if session.near_s >= cfg.min_near_s and (records or not cfg.require_record):
            return []
        return self.visit_incident(session, now, {"near_s": round(session.near_s, 2), "min_near_s": cfg.min_near_s,
                                                  "records": float(records)})


@register_rule(InspectionWithoutVehicleConfig)
class InspectionWithoutVehicleRule(_LaneRule):
    """An inspection recorded while no vehicle stood in the lane. A record is an `inspection_start` ..
    `inspection_end` pair or a single record; it is fine if a confirmed vehicle visit overlaps it widened by
    `record_lead_s` before / `record_tolerance_s` after. Judged `record_lead_s` after the record starts (a
    vehicle arriving later than that makes the record suspect anyway); the incident of an open record
    ends with its `inspection_end` (or when a vehicle arrives)."""

    config: InspectionWithoutVehicleConfig

    def __init__(self, config: InspectionWithoutVehicleConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self._open: dict | None = None  # the record in progress: start, end, incident, judged
        self._singles: list[float] = []

    def on_event(self, event: ExternalEvent) -> list[IncidentEvent]:
        if not self.lane.is_record(event):  # the scene keeps the record; this rule judges it
            return []
        if event.kind == "inspection_start":
            events = self._finish(event.ts)
            self._open = {"start": event.ts, "incident": None, "judged": False}
            return events
        if event.kind == "inspection_end" and self._open is not None:
            return self._finish(event.ts)
        self._singles.append(event.ts)
        return []

    def frame(self, obs: Observation, near: list[int], active: bool) -> list[IncidentEvent]:
        return self._judge_records(obs.ts, active)

    def _judge_records(self, now: float, active: bool, raised: float | None = None) -> list[IncidentEvent]:
        back, lead, events = self.lane.config.record_tolerance_s, self.lane.config.record_lead_s, []
        if self.lane.session is not None and not self.lane.session.confirmed and raised is None:
            return []  # a vehicle is arriving: wait until it counts (or proves a flicker) before judging
        rec = self._open
        if rec is not None and not rec["judged"]:
            if self.lane.vehicle_during(rec["start"] - back, now):
                rec["judged"] = True
            elif now >= rec["start"] + lead:
                rec["judged"] = True
                if active:
                    rec["incident"] = self._incident(rec["start"], now if raised is None else raised)
                    events.append(IncidentEvent("opened", rec["incident"]))
        elif rec is not None and rec["incident"] is not None and self.lane.session and self.lane.session.confirmed:
            events += self._finish(self.lane.session.started_at)
        for ts in [t for t in self._singles if now >= t + lead]:
            self._singles.remove(ts)
            if active and not self.lane.vehicle_during(ts - back, ts + lead):
                inc = self._incident(ts, now if raised is None else raised)
                inc.ended_at = ts
                events += [IncidentEvent("opened", inc), IncidentEvent("closed", inc)]
        return events

    def flush(self, ts: float) -> list[IncidentEvent]:
        # Nothing more will be seen: judge what is pending as if its tolerance had passed.
        events = self._judge_records(ts + self.lane.config.record_lead_s, self.hours.contains(ts), raised=ts)
        if self._open is not None and self._open["incident"] is not None:
            self._open["incident"].measures["closed_by_end_of_observation"] = 1.0
        return events + self._finish(ts)

    def _finish(self, ts: float) -> list[IncidentEvent]:
        rec, self._open = self._open, None
        if rec is None or rec["incident"] is None:
            return []
        inc: Incident = rec["incident"]
        inc.ended_at = max(ts, inc.started_at)
        inc.measures["recorded_s"] = round(inc.ended_at - inc.started_at, 2)
        return [IncidentEvent("closed", inc)]

    def _incident(self, start: float, now: float) -> Incident:
        return Incident(camera_id="", rule=self.name, zone_id=self.config.zone, severity=self.config.severity,
                        started_at=start, raised_at=now, confidence=1.0,
                        measures={"lead_s": self.lane.config.record_lead_s,
                                  "lookback_s": self.lane.config.record_tolerance_s, "vehicle_seen": 0.0})

