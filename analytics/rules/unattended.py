"""Zone unattended: nobody in a zone for N seconds (a service window's staff zone, an exam patrol zone)."""

from __future__ import annotations

from analytics.config import ZoneUnattendedConfig
from analytics.rules.base import Incident, IncidentEvent, Observation


class ZoneUnattendedRule:
    """Opens an incident once the zone has been empty for `seconds`; closes it when presence returns.

    `inertia` (frames) keeps a flicker from deciding anything: a person must be seen in
    `inertia` consecutive frames before the zone counts as attended again, so one spurious box
    neither resets the empty timer nor ends an incident. The incident starts at the first empty
    frame (when the zone was left) and ends at the first frame of the confirmed presence.

    >>> import numpy as np, supervision as sv
    >>> from analytics.config import ZoneUnattendedConfig
    >>> cfg = ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=2, inertia=2)
    >>> rule = ZoneUnattendedRule(cfg, fps=1)
    >>> empty = sv.Detections.empty()
    >>> def obs(t, n):
    ...     det = sv.Detections(xyxy=np.zeros((n, 4)), tracker_id=np.arange(n)) if n else empty
    ...     return Observation("cam", float(t), (100, 100), det, {"z": np.ones(n, dtype=bool)})
    >>> [e.kind for t, n in enumerate([1, 1, 0, 0, 0, 1, 0, 1, 1]) for e in rule.update(obs(t, n))]
    ['opened', 'closed']
    """

    name = "zone_unattended"

    def __init__(self, config: ZoneUnattendedConfig, fps: float) -> None:
        self.config = config
        self.fps = fps
        self._empty_since: float | None = None
        self._empty_frames = 0
        self._present_run = 0
        self._present_run_start = 0.0
        self._last_seen: dict[int, tuple[float, list[float]]] = {}
        self._incident: Incident | None = None

    def update(self, obs: Observation) -> list[IncidentEvent]:
        mask = obs.in_zone[self.config.zone]
        events: list[IncidentEvent] = []
        if mask.any():
            if self._present_run == 0:
                self._present_run_start = obs.ts
            self._present_run += 1
            self._remember(obs, mask)
            if self._present_run >= self.config.inertia:
                if self._incident is not None:
                    events.append(self._close(self._present_run_start))
                self._empty_since = None
                self._empty_frames = 0
                return events
        else:
            self._present_run = 0
        # Empty, or presence not yet confirmed: the empty run goes on.
        if self._empty_since is None:
            self._empty_since = obs.ts
            self._empty_frames = 0
        self._empty_frames += 1
        empty_s = obs.ts - self._empty_since
        if self._incident is None and empty_s >= self.config.seconds:
            self._incident = self._open(obs.ts, empty_s)
            events.append(IncidentEvent("opened", self._incident))
        return events

    def flush(self, ts: float) -> list[IncidentEvent]:
        if self._incident is None:
            return []
        self._incident.measures["closed_by_end_of_observation"] = 1.0
        return [self._close(ts)]

    def _remember(self, obs: Observation, mask) -> None:
        ids = obs.detections.tracker_id
        for i in mask.nonzero()[0]:
            tid = int(ids[i]) if ids is not None else -1
            self._last_seen[tid] = (obs.ts, [round(float(v), 1) for v in obs.detections.xyxy[i]])
        # Only the people seen around the moment the zone was left are evidence.
        horizon = obs.ts - 5.0
        self._last_seen = {k: v for k, v in self._last_seen.items() if v[0] >= horizon}

    def _open(self, ts: float, empty_s: float) -> Incident:
        started = self._empty_since if self._empty_since is not None else ts
        # Confidence: the share of expected frames actually analysed while the zone looked empty;
        # a stalled stream makes "nobody seen" weaker evidence.
        expected = max(1.0, empty_s * self.fps)
        confidence = round(min(1.0, self._empty_frames / expected), 3)
        left = sorted(self._last_seen.items(), key=lambda kv: kv[1][0])
        return Incident(
            camera_id="",
            rule=self.name,
            zone_id=self.config.zone,
            severity=self.config.severity,
            started_at=started,
            raised_at=ts,
            confidence=confidence,
            track_ids=[tid for tid, _ in left if tid >= 0],
            boxes=[{"ts": seen, "track_id": tid, "xyxy": xyxy} for tid, (seen, xyxy) in left],
            measures={"threshold_s": self.config.seconds, "empty_s": round(empty_s, 2)},
        )

    def _close(self, ts: float) -> IncidentEvent:
        incident = self._incident
        assert incident is not None
        incident.ended_at = ts
        incident.measures["empty_s"] = round(ts - incident.started_at, 2)
        self._incident = None
        return IncidentEvent("closed", incident)
