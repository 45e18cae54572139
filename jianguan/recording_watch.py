"""Is every live camera still being recorded? A camera whose recorder closed no segment for `STALL_SEGMENTS`
segment lengths (at least `MIN_STALL_S`) while its stream is read raises one `recording_stopped` health
alert; it closes, and its end is pushed, when segments come again.

Why: a full disk or a dead output volume stops ffmpeg while the picture, the analysis and the alerts go on,
so nothing else shows that the evidence behind every future alert is missing (measured: recorders died on a
full 200 MB volume and nobody was told). The recorder itself restarts ffmpeg with backoff, so recording comes
back on its own once the cause is gone; this says when it stopped and for how long.

A camera whose stream is not read (video lost, still connecting) is not judged: one cause, one incident.

>>> class Rec:
...     segment_s, until = 10.0, 100.0
...     def covered_until(self): return self.until
>>> rec = Rec()
>>> watch = RecordingWatch({"cam-1": rec})
>>> watch.step(120.0, {"cam-1": True})          # 20 s since the last segment closed: fine
[]
>>> [(e.kind, e.incident.rule, e.incident.measures) for e in watch.step(131.0, {"cam-1": True})]
[('opened', 'recording_stopped', {'stalled_s': 31.0})]
>>> rec.until = 140.0                            # a segment closed again
>>> watch.step(141.0, {"cam-1": True}), [e.kind for e in watch.step(151.0, {"cam-1": True})]
([], ['closed'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from analytics.health import Sustained
from analytics.rules import IncidentEvent

RULE = "recording_stopped"
STALL_SEGMENTS = 3  # ffmpeg closes a segment every segment_s: three missing is not jitter
MIN_STALL_S = 30.0
CLEAR_S = 5.0


class Recording(Protocol):
    segment_s: float

    def covered_until(self) -> float: ...


class RecordingWatch:
    def __init__(self, recorders: Mapping[str, Recording], severity: str = "critical") -> None:
        self.recorders = dict(recorders)
        self.states = {cam: Sustained(RULE, cam, 0.0, CLEAR_S, severity) for cam in self.recorders}

    def step(self, now: float, reading: Mapping[str, bool]) -> list[IncidentEvent]:
        """`reading`: camera -> whether its stream is being read now (only those are judged)."""
        events: list[IncidentEvent] = []
        for cam, rec in self.recorders.items():
            if not reading.get(cam, False):
                continue
            stalled_s = now - rec.covered_until()
            stall = max(MIN_STALL_S, STALL_SEGMENTS * rec.segment_s)
            events += self.states[cam].step(now, stalled_s > stall, {"stalled_s": round(stalled_s, 1)})
        return events

    def flush(self, now: float) -> list[IncidentEvent]:
        return [e for state in self.states.values() for e in state.reset(now)]
