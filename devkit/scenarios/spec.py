"""What a labelled scenario is: a scripted scene, the camera's zones and rules, and the ground truth.

Positions are relative to the frame (0..1) and name where an actor's feet stand (the bottom-centre of its
sprite), the same anchor the zones use. Ground truth is written by the scenario's author from the script
(e.g. "the clerk is away from 12 s to 41 s"), never computed by the rules being judged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, model_validator

from analytics.config import ZoneConfig
from common.model import Strict

Point = tuple[float, float]


class Segment(Strict):
    """An actor shown from `t0` to `t1`, moving in a straight line from `start` to `end` (or standing)."""

    t0: float = Field(ge=0)
    t1: float
    sprite: str
    start: Point
    end: Point | None = None
    height: float = Field(gt=0, le=1, description="sprite height relative to the frame height")
    flip: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.t1 <= self.t0:
            raise ValueError(f"segment ends ({self.t1}) before it starts ({self.t0})")
        return self

    def position(self, t: float) -> Point:
        if self.end is None:
            return self.start
        f = (t - self.t0) / (self.t1 - self.t0)
        return (self.start[0] + f * (self.end[0] - self.start[0]), self.start[1] + f * (self.end[1] - self.start[1]))


class Actor(Strict):
    id: str
    role: str  # staff, customer, inspector, candidate, examiner, vehicle, ... (for the reader of the script)
    segments: list[Segment] = Field(min_length=1)


class Prop(Strict):
    """A static rectangle drawn in front of actors (a desk hiding a seated candidate's legs, a counter)."""

    box: tuple[float, float, float, float]  # relative x0, y0, x1, y1
    color: tuple[int, int, int] = (60, 90, 130)  # BGR


class ExternalEventSpec(Strict):
    """A lane-sensor or business record arriving at `t` seconds into the scenario."""

    t: float = Field(ge=0)
    kind: str
    zone: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class Truth(Strict):
    """One ground-truth incident: rule, zone and the interval in which the violation really happens."""

    rule: str
    zone: str | None = None
    start: float = Field(ge=0)
    end: float


class Scenario(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    scene: Literal["window", "lane", "exam"]
    kind: Literal["violation", "normal"]  # normal = a look-alike that must not alert
    duration_s: float = Field(gt=0, le=600)
    fps: float = 5.0
    size: tuple[int, int] = (768, 576)
    background: str = "opencv:vtest.avi"
    actors: list[Actor] = Field(default_factory=list)
    props: list[Prop] = Field(default_factory=list)
    zones: list[ZoneConfig]
    rules: list[dict[str, Any]] = Field(min_length=1)
    events: list[ExternalEventSpec] = Field(default_factory=list)
    truth: list[Truth] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.kind == "normal" and self.truth:
            raise ValueError("a normal (look-alike) scenario has no ground-truth incidents")
        if self.kind == "violation" and not self.truth:
            raise ValueError("a violation scenario needs at least one ground-truth incident")
        zones = {z.id for z in self.zones}
        for t in self.truth:
            if t.zone is not None and t.zone not in zones:
                raise ValueError(f"truth names zone {t.zone!r}, which the scenario lacks")
        return self

    @property
    def rule_names(self) -> set[str]:
        return {r["type"] for r in self.rules}

    def digest(self) -> str:
        """Identifies the rendered video: same script, same pixels."""
        script = self.model_dump(include={"duration_s", "fps", "size", "background", "actors", "props"})
        return hashlib.sha256(json.dumps(script, sort_keys=True).encode()).hexdigest()[:16]
