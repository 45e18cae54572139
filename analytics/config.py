"""Configuration models owned by the analytics package (composed into the site config by `jianguan`)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


DEFAULT_MODELS = {"yolo": "yolo11n-pose.pt", "nanodet": "nanodet-m"}


class DetectorConfig(_Strict):
    """Which detector, weights and classes. `kind: yolo` runs Ultralytics on a `.pt`, an `.onnx` export or an
    `_openvino_model` folder (default: the built-in `yolo11n-pose.pt`: people + pose); `kind: nanodet` runs
    the COCO NanoDet built by scripts/build_nanodet.sh (`nanodet-m`, or a path) for phones and vehicles.
    `crops` says what it looks at: the camera's `roi`, one crop around each zone (small objects such as
    phones), or the full frame."""

    kind: Literal["yolo", "nanodet"] = "yolo"
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="label in logs; defaults to kind")
    model: str | None = Field(None, description="weights; default per kind (yolo11n-pose.pt, nanodet-m)")
    imgsz: int = Field(640, ge=64, le=2048, description="model input size in pixels")
    confidence: float = Field(0.3, gt=0.0, lt=1.0)
    iou: float | None = Field(None, gt=0.0, le=1.0, description="NMS IoU threshold; default 0.7 yolo, 0.6 nanodet")
    classes: list[int] = Field(default_factory=lambda: [0], description="COCO class ids to keep (0..79)")
    crops: Literal["roi", "zones", "full"] = "roi"
    zone_margin: float = Field(0.05, ge=0, le=0.5, description="crops=zones: margin around a zone, of the frame")
    device: str = "cpu"
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads for inference (torch for .pt "
                                "weights, onnxruntime for NanoDet; an exported YOLO model runs in its runtime's "
                                "own pool); default: every core this process may use")

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"must be a multiple of 32 (YOLO strides), got {v}")
        return v

    @field_validator("classes")
    @classmethod
    def _coco_ids(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if not 0 <= c < 80]
        if bad:
            raise ValueError(f"COCO class ids are 0..79, got {bad}")
        return v

    @model_validator(mode="after")
    def _default_model(self) -> DetectorConfig:
        if self.model is None:
            self.model = DEFAULT_MODELS[self.kind]
        if self.name is None:
            self.name = self.kind
        if self.iou is None:  # each model's own default (Ultralytics 0.7, NanoDet 0.6)
            self.iou = 0.7 if self.kind == "yolo" else 0.6
        return self


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


# The rule configs live in analytics/rule_config.py (one model per rule type, listed once in RULE_CONFIGS);
# their discriminated union is the config surface.
from analytics.rule_config import RULE_CONFIGS  # noqa: E402

RuleConfig = Annotated[Union[RULE_CONFIGS], Field(discriminator="type")]  # noqa: UP007 - built from a tuple


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
