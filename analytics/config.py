"""Configuration models owned by the analytics package (composed into the site config by `jianguan`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectorConfig(_Strict):
    """Which weights to run and how. `model` is a path, or the built-in name `yolo11n-pose.pt`."""

    model: str = "yolo11n-pose.pt"
    imgsz: int = Field(640, ge=64, le=2048, description="model input size in pixels")
    confidence: float = Field(0.3, gt=0.0, lt=1.0)
    classes: list[int] = Field(default_factory=lambda: [0], description="COCO class ids to keep")
    device: str = "cpu"

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"must be a multiple of 32 (YOLO strides), got {v}")
        return v


Point = tuple[float, float]


class ZoneConfig(_Strict):
    """A polygon in coordinates relative to the frame (0..1), so it survives a change of resolution."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["staff", "waiting", "lane", "seat", "room", "patrol", "custom"] = "custom"
    polygon: list[Point] = Field(min_length=3)

    @field_validator("polygon")
    @classmethod
    def _relative(cls, pts: list[Point]) -> list[Point]:
        for x, y in pts:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0..1; zone points are relative to the frame")
        return pts


class ZoneUnattendedConfig(_Strict):
    """Nobody in `zone` for `seconds` (e.g. a service window whose staff zone is empty)."""

    type: Literal["zone_unattended"]
    zone: str
    seconds: float = Field(60.0, gt=0)
    inertia: int = Field(3, ge=1, le=50, description="consecutive frames needed to change presence")
    severity: Literal["info", "minor", "major", "critical"] = "major"


RuleConfig = Annotated[ZoneUnattendedConfig, Field(discriminator="type")]


class RegionOfInterest(_Strict):
    """Part of the frame the detector looks at (relative x0, y0, x1, y1). Cropping before the model
    upsamples small, distant people; on a high-angle camera it is the difference between finding
    people and not."""

    x0: float = Field(0.0, ge=0, le=1)
    y0: float = Field(0.0, ge=0, le=1)
    x1: float = Field(1.0, ge=0, le=1)
    y1: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RegionOfInterest:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("needs x0 < x1 and y0 < y1")
        return self
