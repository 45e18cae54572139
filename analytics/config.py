"""Configuration models owned by the analytics package (composed into the site config by `jianguan`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from common.model import Strict
from common.registry import Registry
from i18n import N_, TranslatableError


def _coco_ids(v: list[int]) -> list[int]:
    bad = [c for c in v if not 0 <= c < 80]
    if bad:
        raise TranslatableError(N_("COCO class ids are 0..79, got {bad}"), bad=bad)
    return v


CocoIds = Annotated[list[int], AfterValidator(_coco_ids)]  # class ids of the COCO set the detectors know

# Every detector kind, by its config's `kind` (Frigate's detector plugins): analytics/detectors/ registers the
# built-in ones, each with its config class below. A detector without `kind` is YOLO.
DETECTOR_KINDS: Registry[type] = Registry("kind", builtins="analytics.detectors", default="yolo")


class DetectorBase(Strict):
    """What every detector kind is configured by: which weights, classes and part of the frame. `crops` says
    what it looks at: `zones` tiles the region around each zone at the scale that brings a person there to
    `person_px` pixels of model input (analytics/detectors/regions.py); `roi` the camera's `roi`; `full` the
    whole frame. Each kind (YoloConfig, NanoDetConfig) sets its own defaults and adds its own options."""

    kind: str
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="label in logs; defaults to kind")
    model: str = Field(description="weights: a name the kind knows or a path")
    imgsz: int = Field(640, ge=64, le=2048, description="model input size in pixels")
    confidence: float = Field(0.3, gt=0.0, lt=1.0)
    iou: float = Field(gt=0.0, le=1.0, description="NMS IoU threshold")
    classes: CocoIds = Field(default_factory=lambda: [0], description="COCO class ids to keep (0..79)")
    crops: Literal["roi", "zones", "full"] = Field(
        description="zones: tiles around the camera's zones at the scale people need; roi: the camera's roi, "
        "else the full frame; full: the whole frame")
    person_px: int = Field(112, ge=32, le=1024, description="crops=zones: the height in model pixels a person "
                           "is brought to (yolo11n-pose finds few people under ~100 px; at 80 the real clip's "
                           "counts were right 55 % of the time, at 112 see docs/evaluation.md)")
    person_height: float = Field(0.14, gt=0, le=1, description="crops=zones: expected height of a standing "
                                 "person, relative to the frame height, until the camera's detections have "
                                 "shown it per zone (a zone's own person_height wins); ceiling cameras: "
                                 "0.06-0.19")
    min_scale: float | None = Field(None, gt=0, le=8, description="crops=zones: never shrink a region more than "
                                    "this; default: as much as the whole frame at imgsz (crops never see people "
                                    "smaller than the full frame would)")
    max_scale: float = Field(3.0, gt=0, le=8, description="crops=zones: never enlarge a region more than this")
    device: str = "cpu"
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads for inference (torch for .pt "
                                "weights, onnxruntime for NanoDet; an exported YOLO model runs in its runtime's "
                                "own pool); default: every core this process may use")

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise TranslatableError(N_("must be a multiple of 32 (YOLO strides), got {value}"), value=v)
        return v

    def __init__(self, **data: object) -> None:
        if type(self) is DetectorBase:
            raise TypeError("DetectorBase is abstract: use a kind's config (YoloConfig, NanoDetConfig) or "
                            "validate a mapping as DetectorConfig")
        super().__init__(**data)

    @model_validator(mode="after")
    def _defaults(self) -> DetectorBase:
        if self.name is None:
            self.name = self.kind
        if self.min_scale is not None and self.min_scale > self.max_scale:
            raise TranslatableError(N_("min_scale ({min}) is above max_scale ({max})"), min=self.min_scale,
                                    max=self.max_scale)
        return self


class YoloConfig(DetectorBase):
    """Ultralytics YOLO on a `.pt`, an `.onnx` export or an `_openvino_model` folder (default: the built-in
    `yolo11n-pose.pt`: people + pose). People are small on ceiling cameras, so it looks at zone crops."""

    kind: Literal["yolo"] = "yolo"
    model: str = Field("yolo11n-pose.pt", description="weights: a built-in name, a .pt, .onnx or OpenVINO folder")
    iou: float = Field(0.7, gt=0.0, le=1.0, description="NMS IoU threshold (Ultralytics' own default)")
    crops: Literal["roi", "zones", "full"] = "zones"
    max_input: int = Field(1280, ge=64, le=4096, description="crops=zones: a region is run as one input of the "
                           "size its scale needs up to this many pixels (long side), beyond it in tiles of this "
                           "size")
    pack: bool = Field(True, description="inputs of several shapes share one canvas (a mosaic) when that "
                       "costs fewer model pixels than one call per shape, counting each call's fixed cost "
                       "(analytics/detectors/packing.py)")
    runtime: Literal["auto", "torch"] = Field("auto", description="with a .pt: auto runs the export that "
                                              "`jianguan models export --best` measured fastest on this machine "
                                              "(if any); torch always runs the .pt")


class NanoDetConfig(DetectorBase):
    """The COCO NanoDet built by scripts/build_nanodet.sh (`nanodet-m`, or a path), on onnxruntime, for phones
    and vehicles. Vehicles are large, so it looks at the camera's roi; it takes tiles of `imgsz`."""

    kind: Literal["nanodet"] = "nanodet"
    model: str = Field("nanodet-m", description="weights: nanodet-m or a path to its .onnx")
    iou: float = Field(0.6, gt=0.0, le=1.0, description="NMS IoU threshold (NanoDet's own default)")
    crops: Literal["roi", "zones", "full"] = "roi"


# A detector in the site config: validated by its `kind` (default yolo) with the registered config class.
DetectorConfig = DETECTOR_KINDS.field(DetectorBase)


Point = tuple[float, float]
SEATED_KINDS = ("seat", "room", "patrol")  # zones of exam rooms, where people sit behind desks


class LaneConfig(Strict):
    """How an inspection lane is watched: which boxes are its vehicle, when a visit starts and ends, who counts
    as its inspector, and which external records belong to it. One lane tracker per lane zone follows this,
    and every lane rule on the zone reads the same visits (analytics/scene.py; docs/rules.md)."""

    vehicle_classes: CocoIds = Field(default_factory=lambda: [2, 5, 7], description="COCO car, bus, truck")
    vehicle_confirm_s: float = Field(2.0, ge=0, description="a vehicle counts once seen this long (flicker)")
    vehicle_gap_s: float = Field(6.0, gt=0, description="a vehicle moving when last seen (or whose place another "
                                 "vehicle took) has left after this long unseen; seen driving out: at once")
    vehicle_lost_s: float = Field(20.0, gt=0, description="a vehicle last seen standing at its place has left "
                                  "only after this long unseen: inspectors hide parked cars and detectors drop "
                                  "them for seconds; seen again at its place, the visit goes on")
    near_margin: float = Field(0.5, ge=0, le=3, description="inspector area: the vehicle box grown by this "
                               "share of its width/height on each side")
    anchor_y: float = Field(0.5, ge=0, le=1, description="height of the reference point in the vehicle box "
                            "(0 top, 1 bottom); raise it for low cameras where the footprint is the box's foot")
    max_step_deg: float = Field(120.0, gt=0, lt=180, description="walk-round: larger jumps between an "
                                "inspector's positions are not joined")
    inspector_zones: list[str] = Field(default_factory=list, description="if set, an inspector must stand "
                                       "(bottom-centre) in one of these zones, e.g. the lane's staff walkway")
    external_id: str | None = Field(None, description="this lane's id in lane-sensor / business events; "
                                    "defaults to the zone id")
    record_kinds: list[str] = Field(default_factory=lambda: ["inspection_start", "inspection_end", "inspection"],
                                    description="external event kinds that record an inspection")
    record_tolerance_s: float = Field(30.0, ge=0, description="a record may be entered this long after the "
                                      "vehicle left (records are often typed after the inspection)")
    record_lead_s: float = Field(2.0, ge=0, description="a record may precede the vehicle's arrival by this much "
                                 "(clock skew); also how long a record waits for a vehicle before it alerts")


class SeatingConfig(Strict):
    """How an exam-room camera places people at its seats, once per frame for all its exam rules
    (analytics/scene.py): at the seat holding the largest share of their box, unless they stand in a walkway."""

    min_overlap: float = Field(0.3, gt=0, le=1, description="share of a person's box inside a seat that places "
                               "them there (seated people's feet are hidden)")
    walkways: list[str] | None = Field(None, description="people whose feet stand in these zones are passing by, "
                                       "never at a seat; default: every zone of kind 'patrol'")


class ZoneConfig(Strict):
    """A polygon in coordinates relative to the frame (0..1), so it survives a change of resolution."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = Field(None, max_length=40, description="what people call it (1号窗口, 3号查验道, A12座); "
                             "alert titles and pushes use it, else the id")
    kind: Literal["staff", "waiting", "lane", "seat", "room", "patrol", "custom"] = "custom"
    polygon: list[Point] = Field(min_length=3)
    person_height: float | None = Field(None, gt=0, le=1, description="height of a person standing in the "
                                        "zone, relative to the frame height; default: learnt from detections")
    anchor: Literal["pose", "box"] | None = Field(None, description="where a person stands: pose (ankles, else "
                                                  "knees or hips projected down, for people whose feet a counter "
                                                  "hides) or box (its bottom-centre); default box for seat, room "
                                                  "and patrol zones (people sit there: a projection would put a "
                                                  "seated candidate in the aisle), pose elsewhere")
    occluders: list[list[Point]] = Field(default_factory=list, description="polygons of what hides people in "
                                         "or near the zone (a pole, a counter, a sign): someone lost behind one "
                                         "is still counted for tracking.occluded_hold_s")
    lane: LaneConfig | None = Field(None, description="kind lane: how its vehicle and inspector are followed "
                                   "(defaults when unset)")

    @field_validator("polygon")
    @classmethod
    def _relative(cls, pts: list[Point]) -> list[Point]:
        return _relative_points(pts)

    @model_validator(mode="after")
    def _default_anchor(self) -> ZoneConfig:
        if self.anchor is None:
            self.anchor = "box" if self.kind in SEATED_KINDS else "pose"
        if self.lane is not None and self.kind != "lane":
            raise TranslatableError(N_("`lane` settings belong to zones of kind lane"))
        if self.kind == "lane" and self.lane is None:
            self.lane = LaneConfig()
        return self

    @field_validator("occluders")
    @classmethod
    def _relative_occluders(cls, polys: list[list[Point]]) -> list[list[Point]]:
        for pts in polys:
            if len(pts) < 3:
                raise TranslatableError(N_("an occluder needs at least 3 points"))
            _relative_points(pts)
        return polys


def _relative_points(pts: list[Point]) -> list[Point]:
    for x, y in pts:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise TranslatableError(N_("point ({x}, {y}) is outside 0..1; zone points are relative to the frame"),
                                    x=x, y=y)
    return pts


class TrackingConfig(Strict):
    """How long people stay counted when the detector loses them (a frame of flicker, a group that merges,
    someone standing behind a pole)."""

    memory_s: float = Field(1.0, ge=0, le=30, description="a person lost by the detector still counts, where "
                            "they were last seen, for this long")
    occluded_hold_s: float = Field(30.0, ge=0, le=600, description="... and for this long when they were last "
                                   "seen touching one of their zone's occluders")
    lost_track_s: float = Field(3.0, gt=0, le=60, description="ByteTrack keeps a lost track this long, so a "
                                "person found again keeps their id")


# The rule configs live in analytics/rule_config.py (one model per rule type, registered with its rule).


class RegionOfInterest(Strict):
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
            raise TranslatableError(N_("needs x0 < x1 and y0 < y1"))
        return self
