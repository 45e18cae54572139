"""Zone unattended: nobody in a zone for N seconds (a service window's staff zone, an exam patrol zone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analytics.rule_config import ZoneUnattendedConfig, register_rule
from analytics.rules.base import IncidentEvent, Observation
from analytics.rules.common import EpisodeRule, evidence
from analytics.rules.timing import Episode
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene


@register_rule(ZoneUnattendedConfig)
class ZoneUnattendedRule(EpisodeRule):
    """Opens an incident once the zone has been empty for `seconds`; closes it when presence returns.

    `inertia` (frames) keeps a flicker from deciding anything: a person must be seen in
    `inertia` more frames than missed (see `Held`) before the zone counts as attended again, so one
    spurious box neither resets the empty timer nor ends an incident. The incident starts at the first empty
    frame (when the zone was left) and ends at the first frame of the confirmed presence. The people
    seen in the zone during the 5 s before it emptied are the evidence. With `active_hours`, only time
    inside them counts: the timer starts at opening time and an incident closes when hours end.

    >>> import numpy as np, supervision as sv
    >>> from analytics.rule_config import ZoneUnattendedConfig
    >>> cfg = ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=2, inertia=2)
    >>> rule = ZoneUnattendedRule(cfg, fps=1)
    >>> empty = sv.Detections.empty()
    >>> def obs(t, n):
    ...     det = sv.Detections(xyxy=np.zeros((n, 4)), tracker_id=np.arange(n)) if n else empty
    ...     return Observation("cam", float(t), (100, 100), det, {"z": np.ones(n, dtype=bool)})
    >>> [e.kind for t, n in enumerate([1, 1, 0, 0, 0, 1, 0, 1, 1]) for e in rule.update(obs(t, n))]
    ['opened', 'closed']
    """


    def __init__(self, config: ZoneUnattendedConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: ZoneUnattendedConfig = config
        self._episode: Episode = self.episode(config.zone, config.seconds, duration_key="empty_s")

    def step(self, obs: Observation) -> list[IncidentEvent]:
        mask = obs.in_zone[self.config.zone]
        return self._episode.update(obs.ts, not mask.any(), evidence(obs.detections, mask.nonzero()[0]))
