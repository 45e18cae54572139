"""Synthetic scenes for the rule tests: a 1000x1000 frame (zone coordinates x 1000 = pixels), objects given
by hand per frame, tracker ids chosen by the test. No tracker runs here: the rules are tested on exactly the
detections (flicker, id switches, jitter) a test describes."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
import supervision as sv

from analytics import ExternalEvent, IncidentEvent, Observation, Zone
from analytics.config import LaneConfig

WH = (1000, 1000)
FPS = 5.0


@dataclass
class Obj:
    box: Sequence[float]
    cls: int = 0
    tid: int = -1
    conf: float = 0.9
    kp: np.ndarray | None = None


def person(box, tid=-1, kp=None, conf=0.9) -> Obj:
    return Obj(box, 0, tid, conf, kp)


def car(box, tid=-1) -> Obj:
    return Obj(box, 2, tid)


def phone(box, tid=-1, conf=0.6) -> Obj:
    return Obj(box, 67, tid, conf)


def standing_at(x: float, y: float, tid: int, w: float = 40, h: float = 100) -> Obj:
    """A person whose feet (bottom-centre) are at (x, y)."""
    return person([x - w / 2, y - h, x + w / 2, y], tid)


def detections(objs: Sequence[Obj]) -> sv.Detections:
    if not objs:
        return sv.Detections.empty()
    kps = np.zeros((len(objs), 17, 3))
    for i, o in enumerate(objs):
        if o.kp is not None:
            kps[i] = o.kp
    return sv.Detections(
        xyxy=np.array([o.box for o in objs], dtype=float), class_id=np.array([o.cls for o in objs]),
        tracker_id=np.array([o.tid for o in objs]), confidence=np.array([o.conf for o in objs]),
        data={"keypoints": kps, "class_name": np.array(["x"] * len(objs))})


@dataclass
class Scene:
    zones: dict[str, Zone] = field(default_factory=dict)

    def zone(self, zid: str, kind: str, x0: float, y0: float, x1: float, y1: float, **lane) -> Scene:
        """A rectangular zone; for kind lane, keyword arguments are its `lane` settings (LaneConfig)."""
        settings = LaneConfig(**lane) if kind == "lane" else None
        self.zones[zid] = Zone(zid, kind, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), lane=settings)
        return self

    def obs(self, ts: float, objs: Sequence[Obj], scene=None) -> Observation:
        det = detections(objs)
        return Observation("cam", ts, WH, det, {z.id: z.contains(det, WH) for z in self.zones.values()},
                           scene=scene)

    def run(self, rule, frames: Iterable[tuple[float, Sequence[Obj]]],
            events: Iterable[ExternalEvent] = (), flush: bool = True) -> list:
        """Feed frames (and events, each before the first frame at or after its ts); returns the
        IncidentEvents in order, with the flush at the last frame's time. Each event carries a copy of its
        incident as it was when emitted (rules keep updating a live incident until it closes)."""
        pending = sorted(events, key=lambda e: e.ts)
        out, t = [], 0.0

        def keep(evs):
            out.extend(IncidentEvent(e.kind, copy.deepcopy(e.incident)) for e in evs)

        # As CameraAnalytics does: the rule's scene (lane trackers) is updated first, the rule reads it.
        scene = rule.scene

        def event(e):
            scene.record(e)
            if hasattr(rule, "on_event"):  # rules that read records besides the scene's
                keep(rule.on_event(e))

        for t, objs in frames:
            while pending and pending[0].ts <= t:
                event(pending.pop(0))
            obs = self.obs(t, objs, scene)
            scene.update(obs)
            keep(rule.update(obs))
        for e in pending:
            event(e)
        if flush:
            scene.flush(t)
            keep(rule.flush(t))
        return out


def timeline(seconds: float, objs_at, fps: float = FPS, start: float = 0.0):
    """Frames every 1/fps from `start` for `seconds`: objs_at(t) gives each frame's objects."""
    n = int(round(seconds * fps))
    return [(round(start + i / fps, 6), objs_at(round(start + i / fps, 6))) for i in range(n)]


def summary(events) -> list[tuple]:
    """(kind, rule, zone, started, raised, ended) per event: times rounded to the millisecond."""
    r = lambda v: None if v is None else round(v, 3)  # noqa: E731
    return [(e.kind, e.incident.rule, e.incident.zone_id, r(e.incident.started_at), r(e.incident.raised_at),
             r(e.incident.ended_at)) for e in events]


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above (test modules cannot import a conftest under --import-mode=importlib)."""
    return SimpleNamespace(Scene=Scene, Obj=Obj, person=person, car=car, phone=phone, standing_at=standing_at,
                           timeline=timeline, summary=summary, ExternalEvent=ExternalEvent, FPS=FPS)
