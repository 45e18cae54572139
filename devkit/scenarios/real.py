"""The real-footage set: real videos, people's positions read by eye, zones and rules, and the truth derived
from them by this script (never from a model).

A clip (`devkit/scenarios/real/<id>.clip.yaml`) names a video, its labels (`<id>.labels.yaml`: every `step_s`
seconds, one point per visible person where they stand, in pixels; a third element "?" marks an ambiguous
point) and the zones and rules to judge. Zones are written in pixels of the labelled frame and become
relative `ZoneConfig`s, so the same zones fit the degraded copies (half resolution, ...).

Truth per zone: at each labelled time the count of people standing in the zone lies between `low` (sure
points well inside: farther than `EDGE_PX` from the zone's edge) and `high` (every point inside or within
`EDGE_PX` of it, ambiguous ones too). A rule's condition is then *surely* true, *surely* false or unknown at
each time, and its incidents follow the timing of docs/rules.md (a run of true samples, lasting at least the
rule's seconds):

- a *possible* run is a run of samples that are not surely false;
- it is a **certain** incident when it holds a run of surely-true samples (single unknown ones bridged)
  lasting `seconds + SLACK_S` or more: one incident, however its ambiguous samples split it;
- else, lasting `seconds - SLACK_S` or more, an **optional** one: finding it is not required, and an
  incident found inside it is not a false alarm.

A certain incident the rules split in two counts once found and once a false alarm: a second alert.

`SLACK_S` covers what half-second labels cannot say: the run's true ends lie anywhere within a step.

>>> clip = load_clip("vtest")
>>> clip.video, len(clip.times), clip.frame_wh
('opencv:vtest.avi', 159, (768, 576))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from pydantic import Field

from analytics.config import ZoneConfig
from common.model import Strict

HERE = Path(__file__).parent / "real"
EDGE_PX = 6.0  # labels are read to ±3-5 px: a point this close to a zone's edge may be on either side
SLACK_S = 1.0


class ZoneSpec(Strict):
    id: str
    kind: str = "custom"
    polygon: list[tuple[float, float]]  # pixels of the labelled frame
    occluders: list[list[tuple[float, float]]] = Field(default_factory=list)
    note: str = ""


class ClipSpec(Strict):
    id: str
    title: str
    video: str  # a media name (scenarios.media_path), e.g. opencv:vtest.avi
    sha256: str
    zones: list[ZoneSpec]
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class RealTruth:
    rule: str
    zone: str
    start: float
    end: float
    certain: bool


@dataclass
class Clip:
    spec: ClipSpec
    frame_wh: tuple[int, int]
    step_s: float
    points: dict[float, list[tuple[float, float, bool]]]  # time -> (x, y, ambiguous)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def video(self) -> str:
        return self.spec.video

    @property
    def times(self) -> list[float]:
        return sorted(self.points)

    def zones(self) -> list[ZoneConfig]:
        """The clip's zones relative to the frame, for any resolution of the footage."""
        w, h = self.frame_wh
        rel = [[(min(1.0, max(0.0, x / w)), min(1.0, max(0.0, y / h))) for x, y in poly]
               for poly in [z.polygon for z in self.spec.zones]]
        return [ZoneConfig(id=z.id, kind=z.kind, polygon=p,
                           occluders=[[(x / w, y / h) for x, y in o] for o in z.occluders])
                for z, p in zip(self.spec.zones, rel, strict=True)]

    def counts(self, zone_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) count of people in the zone at each labelled time (see the module's docstring)."""
        poly = np.asarray(next(z.polygon for z in self.spec.zones if z.id == zone_id), dtype=np.float32)
        low, high = [], []
        for t in self.times:
            lo = hi = 0
            for x, y, ambiguous in self.points[t]:
                d = cv2.pointPolygonTest(poly, (float(x), float(y)), True)  # > 0 inside, distance to the edge
                if d >= -EDGE_PX:
                    hi += 1
                    if d > EDGE_PX and not ambiguous:
                        lo += 1
            low.append(lo)
            high.append(hi)
        return np.asarray(low), np.asarray(high)

    def truth(self) -> list[RealTruth]:
        out: list[RealTruth] = []
        for rule in self.spec.rules:
            kind, zone, seconds = rule["type"], rule["zone"], float(rule["seconds"])
            low, high = self.counts(zone)
            if kind == "zone_unattended":
                sure, maybe = high == 0, low == 0
            elif kind == "waiting_over_limit":
                sure, maybe = low > rule["limit"], high > rule["limit"]
            else:
                raise ValueError(f"the real-footage truth knows zone_unattended and waiting_over_limit, not {kind}")
            out.extend(self._incidents(kind, zone, seconds, sure, maybe))
        return out

    def _incidents(self, rule: str, zone: str, seconds: float, sure: np.ndarray, maybe: np.ndarray
                   ) -> list[RealTruth]:
        times = np.asarray(self.times)
        # An unknown sample between two surely-true ones does not break a sure run (the rules' inertia bridges
        # a frame or two); a surely-false one ends every run.
        sure = bridge(sure, maybe)
        possible = maybe
        out = []
        for a, b in runs(possible):
            long_enough = [span(times, sa, sb, self.step_s) >= seconds + SLACK_S
                           for sa, sb in runs(sure) if a <= sa and sb <= b]
            if any(long_enough) or span(times, a, b, self.step_s) >= seconds - SLACK_S:
                out.append(RealTruth(rule, zone, float(times[a]), float(times[b] + self.step_s), any(long_enough)))
        return out


def bridge(mask: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """`mask` with single False samples between two True ones set, where `allowed`.

    >>> bridge(np.array([1, 0, 1, 0, 0, 1], dtype=bool), np.ones(6, dtype=bool)).astype(int).tolist()
    [1, 1, 1, 0, 0, 1]
    """
    out = mask.copy()
    out[1:-1] |= mask[:-2] & mask[2:] & allowed[1:-1]
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges (first, last) of the runs of True.

    >>> runs(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool))
    [(0, 1), (3, 3), (6, 6)]
    """
    out, start = [], None
    for i, v in enumerate(mask):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def span(times: np.ndarray, a: int, b: int, step: float) -> float:
    return float(times[b] - times[a] + step)


def load_clip(clip_id: str, folder: Path = HERE) -> Clip:
    spec = ClipSpec.model_validate(yaml.safe_load((folder / f"{clip_id}.clip.yaml").read_text()))
    labels = yaml.safe_load((folder / f"{clip_id}.labels.yaml").read_text())
    points = {float(t): [(float(p[0]), float(p[1]), len(p) > 2) for p in pts]
              for t, pts in labels["points"].items()}
    return Clip(spec, tuple(labels["frame_wh"]), float(labels["step_s"]), points)


def clip_ids(folder: Path = HERE) -> list[str]:
    return sorted(p.name.removesuffix(".clip.yaml") for p in folder.glob("*.clip.yaml"))
