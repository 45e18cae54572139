"""Service-window rules: a phone in the staff zone, too many people waiting. (An empty staff zone is
`zone_unattended`.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analytics.rule_config import StaffPhoneConfig, WaitingOverLimitConfig, register_rule
from analytics.rules.base import IncidentEvent, Observation
from analytics.rules.common import PERSON, EpisodeRule, assign_people, confidences, evidence, of_class, phones_in
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene


@register_rule(StaffPhoneConfig)
class StaffPhoneRule(EpisodeRule):
    """A phone seen in the staff zone (its centre inside, or lying on a clerk placed in the zone) for `seconds`
    with at least `min_frames` frames: the clerk and the phone are the evidence, the phone's detection
    confidence the frame's confidence."""


    def __init__(self, config: StaffPhoneConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: StaffPhoneConfig = config
        self._ep = self.episode(config.zone, config.seconds, min_frames=config.min_frames, duration_key="phone_s")

    def step(self, obs: Observation) -> list[IncidentEvent]:
        det, zone = obs.detections, self.config.zone
        polygons = self.polygons([zone], obs.frame_wh)
        placed = assign_people(det, of_class(det, [PERSON]), polygons, self.config.min_overlap)
        phones = phones_in(det, polygons, placed, self.config.phone_overlap)[zone]
        conf = float(confidences(det)[phones].max()) if phones else 1.0
        return self._ep.update(obs.ts, bool(phones), evidence(det, phones + placed[zone]),
                               {"phones": float(len(phones))}, confidence=conf)


@register_rule(WaitingOverLimitConfig)
class WaitingOverLimitRule(EpisodeRule):
    """More than `limit` people (bottom-centre) in the waiting zone for `seconds`; the peak count is measured.
    A dip under the limit shorter than `inertia` frames (someone hidden behind another) does not restart
    the timer."""


    def __init__(self, config: WaitingOverLimitConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: WaitingOverLimitConfig = config
        self._ep = self.episode(config.zone, config.seconds, duration_key="over_s")

    def step(self, obs: Observation) -> list[IncidentEvent]:
        det = obs.detections
        people = [i for i in of_class(det, [PERSON]) if obs.in_zone[self.config.zone][i]]
        events = self._ep.update(obs.ts, len(people) > self.config.limit, evidence(det, people),
                                 {"count": float(len(people))})
        for e in events:
            e.incident.measures["limit"] = float(self.config.limit)
        return events
