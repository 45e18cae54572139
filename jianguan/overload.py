"""The node's own health: is analysis keeping up with the cameras?

Each stats interval the node hands over, per camera, how many frames its analysis took and how many live
frames it had to drop since the last interval. A camera is *behind* when at least `DROP_SHARE` of its frames
were dropped. When any camera is behind for `seconds`, one health incident opens for the node ("node
overloaded: N cameras at x fps"); `clear_s` without any camera behind closes it. An alert needs a camera, so
the node's incident is filed under its first camera (the dedup key stays one per node).

>>> watch = OverloadWatch("cam-01", {"cam-01": 5.0, "cam-02": 5.0}, seconds=10, clear_s=5)  # rates needed
>>> watch.step(0.0, {"cam-01": (0, 0), "cam-02": (0, 0)})
[]
>>> watch.step(5.0, {"cam-01": (10, 15), "cam-02": (12, 13)})   # both behind: the clock starts
[]
>>> ev = watch.step(15.0, {"cam-01": (30, 45), "cam-02": (32, 43)})
>>> ev[0].kind, ev[0].incident.rule, ev[0].incident.measures
('opened', 'node_overloaded', {'cameras': 2.0, 'fps': 2.0, 'need': 5.0})
>>> watch.rates["cam-01"]   # analysed and dropped frames/s over the last interval
(2.0, 3.0)
>>> watch.step(20.0, {"cam-01": (55, 45), "cam-02": (57, 43)})   # caught up: clearing starts
[]
>>> [e.kind for e in watch.step(25.0, {"cam-01": (80, 45), "cam-02": (82, 43)})]
['closed']
"""

from __future__ import annotations

from collections.abc import Mapping

from analytics.health import Sustained
from analytics.rules import IncidentEvent

DROP_SHARE = 0.05  # a camera losing 1 frame in 20 to a busy analysis is behind; jitter loses far fewer


class OverloadWatch:
    def __init__(self, camera_id: str, needed: Mapping[str, float], seconds: float = 30.0, clear_s: float = 15.0,
                 severity: str = "major") -> None:
        self.state = Sustained("node_overloaded", camera_id, seconds, clear_s, severity)
        self.needed = dict(needed)  # camera -> frames/s its rules need
        self._last: dict[str, tuple[float, int, int]] = {}  # camera -> (ts, analysed, dropped) at the last step
        self.rates: dict[str, tuple[float, float]] = {}  # camera -> (analysed, dropped) frames/s, last interval

    def step(self, ts: float, totals: Mapping[str, tuple[int, int]]) -> list[IncidentEvent]:
        """`totals`: camera -> (frames analysed, live frames dropped) since the node started."""
        behind: list[str] = []
        for cam in self.needed:
            analysed, dropped = totals[cam]
            last = self._last.get(cam)
            self._last[cam] = (ts, analysed, dropped)
            if last is None or ts <= last[0]:
                continue
            da, dd = analysed - last[1], dropped - last[2]
            self.rates[cam] = (round(da / (ts - last[0]), 3), round(dd / (ts - last[0]), 3))
            if dd > 0 and dd >= DROP_SHARE * (da + dd):
                behind.append(cam)
        if not self.rates:
            return []
        measures = {"cameras": float(len(behind)),
                    "fps": round(sum(self.rates[c][0] for c in behind) / max(1, len(behind)), 2),
                    "need": round(sum(self.needed[c] for c in behind) / max(1, len(behind)), 2)}
        return self.state.step(ts, bool(behind), measures)

    def flush(self, ts: float) -> list[IncidentEvent]:
        return self.state.reset(ts)
