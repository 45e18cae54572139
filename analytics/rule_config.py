"""Configuration of the vision rules: one model per rule `type`, each registered once with the rule class that
judges it (`register_rule` on the class in analytics/rules/). `RuleConfig`, the config surface, validates a
rule by its `type` through that registry, so a new rule needs no other edit: titles, error paths, the
analysis rate and the evaluation's detectors all follow from its config class.

Every rule has a severity, an `inertia` (consecutive frames needed to change a condition's state, so one
flickering box decides nothing) and optional `active_hours` in the site's local time. Thresholds are in
seconds of video time; see docs/rules.md for what each one measures exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from analytics.config import LaneConfig, SeatingConfig
from common.model import Severity, Strict, TimeZone
from common.registry import Registry, key_of
from i18n import N_, TranslatableError

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
DEFAULT_TIMEZONE = "Asia/Shanghai"  # the site config's default, for rules built outside a site config
# Rules that judge how long a zone is empty, full or crowded (thresholds of 5 s and more) need no more than this:
# a person is placed in 0.5 s steps, and `inertia` frames bridge 1.5 s of detector flicker at this rate.
DWELL_FPS = 2.0
RuleT = TypeVar("RuleT", bound="RuleBase")


class RuleBase(Strict):
    # What a person reads (analytics/texts.py gathers them into the one catalogue; i18n translates them):
    # `label`, the rule's short name, and `title`, an alert's title with the zone's name as {zone}, the
    # threshold as {seconds} and the incident's measures by key.
    label: ClassVar[str]
    title: ClassVar[str]
    # True where the rule reads COCO objects (vehicles, phones), not only people: such a camera needs an
    # object detector besides the pose model (`jianguan evaluate` picks its detectors by this).
    needs_objects: ClassVar[bool] = False
    # The analysis rate (frames/s) the rule needs; None: every frame of the camera's `detect.fps`. A camera is
    # analysed at the highest rate its rules need (jianguan.config.CameraConfig.analysis_fps), so a window
    # camera that only watches dwell times costs 2 frames/s, not 5.
    needs_fps: ClassVar[float | None] = None

    severity: Severity = "major"
    inertia: int = Field(3, ge=1, le=50, description="consecutive frames needed to change a condition's state, "
                         "counted at the camera's detect.fps (scaled when its rules need fewer frames/s)")
    active_hours: list[str] = Field(
        default_factory=list, description='local times the rule counts, e.g. ["08:30-12:00", "13:30-17:30"]; '
        "empty: always. Spans over midnight (22:00-06:00) are allowed")
    timezone: TimeZone | None = Field(None, description="IANA time zone of active_hours; the site's when unset")

    @field_validator("active_hours")
    @classmethod
    def _hours(cls, spans: list[str]) -> list[str]:
        for span in spans:
            m = _HOURS.match(span)
            if not m:
                raise TranslatableError(N_("{span!r} is not HH:MM-HH:MM (24 h clock)"), span=span)
            if m.group(1, 2) == m.group(3, 4):
                raise TranslatableError(N_("{span!r} is empty: start equals end"), span=span)
        return spans

    def zone_ids(self) -> list[str]:
        """Every zone id this rule names explicitly (the camera must have them)."""
        ids: list[str] = []
        for name in ("zone", "seats", "zones"):
            value = getattr(self, name, None)
            ids += [value] if isinstance(value, str) else list(value or [])
        return ids


def _moved(data: object, home: type[Strict], message: str) -> object:
    """Refuse rule settings that moved to the scene (one lane tracker per zone, one seat placement per camera:
    issue 19), saying where they went instead of "unknown field"."""
    moved = sorted(set(data) & set(home.model_fields)) if isinstance(data, dict) else []
    if moved:
        raise TranslatableError(message, fields=", ".join(moved), first=moved[0])
    return data


class ZoneUnattendedConfig(RuleBase):
    """Nobody in `zone` for `seconds` (e.g. a service window whose staff zone is empty)."""
    label: ClassVar[str] = N_("Post unattended")
    title: ClassVar[str] = N_("{zone}: nobody at the post for {seconds:.0f} s")
    needs_fps: ClassVar[float | None] = DWELL_FPS

    type: Literal["zone_unattended"]
    zone: str
    seconds: float = Field(60.0, gt=0)


# --- inspection lanes ---------------------------------------------------------------------------------


class LaneRuleBase(RuleBase):
    """A rule over the visits of one lane zone. How the lane is watched (vehicle classes, gaps, inspector
    area, records) is the zone's `lane` block, shared by every rule on the zone."""

    needs_objects: ClassVar[bool] = True  # the vehicle in the lane

    zone: str = Field(description="the lane zone (kind lane): a vehicle whose bottom-centre is inside is in the lane")

    @model_validator(mode="before")
    @classmethod
    def _moved_to_the_zone(cls, data: object) -> object:
        return _moved(data, LaneConfig, N_("{fields} now belong to the lane zone: write them under the zone's "
                                           "`lane:` (zones[].lane.{first})"))


class InspectorAbsentConfig(LaneRuleBase):
    """A vehicle stands in the lane and no inspector is near it for `seconds`."""
    label: ClassVar[str] = N_("Inspector away from the vehicle")
    title: ClassVar[str] = N_("Lane {zone}: no inspector near the vehicle for {seconds:.0f} s")

    type: Literal["inspector_absent"]
    seconds: float = Field(60.0, gt=0)


class InspectionTooShortConfig(LaneRuleBase):
    """The inspection of a vehicle (record, else first to last inspector presence) lasted under `min_seconds`."""
    label: ClassVar[str] = N_("Inspection too short")
    title: ClassVar[str] = N_("Lane {zone}: inspection shorter than the minimum")

    type: Literal["inspection_too_short"]
    min_seconds: float = Field(120.0, gt=0)


class WalkaroundIncompleteConfig(LaneRuleBase):
    """The inspector's track did not go round the vehicle: covered degrees (or sides) under the threshold."""
    label: ClassVar[str] = N_("No walk round the vehicle")
    title: ClassVar[str] = N_("Lane {zone}: the inspector did not walk round the vehicle")

    type: Literal["walkaround_incomplete"]
    min_degrees: float = Field(270.0, gt=0, le=360)
    min_sides: int | None = Field(None, ge=1, le=4, description="if set, judge by sides visited instead")
    side_share: float = Field(1 / 3, gt=0, le=1, description="share of a side's 90° that counts as visited")
    min_near_s: float = Field(5.0, ge=0, description="judge only vehicles someone inspected this long")


class InspectionWithoutVehicleConfig(LaneRuleBase):
    """An inspection is recorded (external event) while no vehicle stood in the lane."""
    label: ClassVar[str] = N_("Inspection with no vehicle")
    title: ClassVar[str] = N_("Lane {zone}: inspection recorded with no vehicle in the lane")

    type: Literal["inspection_without_vehicle"]


class VehicleLeftUninspectedConfig(LaneRuleBase):
    """A vehicle left the lane and nobody inspected it (no inspector near; optionally no record)."""
    label: ClassVar[str] = N_("Vehicle left uninspected")
    title: ClassVar[str] = N_("Lane {zone}: vehicle left without inspection")

    type: Literal["vehicle_left_uninspected"]
    min_vehicle_s: float = Field(10.0, ge=0, description="shorter visits are drive-throughs or flicker")
    min_near_s: float = Field(5.0, ge=0, description="inspector presence below this is no inspection")
    require_record: bool = Field(False, description="also flag a visit with no inspection record")
    record_grace_s: float = Field(30.0, ge=0, description="how long after the departure a record may arrive")


# --- exam rooms ---------------------------------------------------------------------------------------


class ExamRuleBase(RuleBase):
    """A rule over the seats of an exam room. How people are placed at seats (`min_overlap`, `walkways`) is the
    camera's `seating` block, shared by all its exam rules."""

    seats: list[str] = Field(default_factory=list, description="seat zones; empty: every zone of kind 'seat'")

    @model_validator(mode="before")
    @classmethod
    def _moved_to_the_camera(cls, data: object) -> object:
        return _moved(data, SeatingConfig, N_("{fields} now belong to the camera: write them under its `seating:` "
                                              "(cameras[].seating.{first})"))


class ExamPhoneConfig(ExamRuleBase):
    """A phone at a seat (inside the seat or on its candidate) for `seconds` and `min_frames` frames."""

    label: ClassVar[str] = N_("Phone in the exam")
    title: ClassVar[str] = N_("Seat {zone}: phone at the seat")
    needs_objects: ClassVar[bool] = True  # the phone
    type: Literal["exam_phone"]
    seconds: float = Field(1.0, ge=0)
    min_frames: int = Field(3, ge=1, description="frames with the phone seen, against one-frame false boxes")
    phone_overlap: float = Field(0.5, gt=0, le=1, description="share of the phone box on a seated person")


class ExamSeatCrowdedConfig(ExamRuleBase):
    """`min_people` or more people placed at one seat for `seconds`."""

    label: ClassVar[str] = N_("Two at one exam seat")
    title: ClassVar[str] = N_("Seat {zone}: two or more people for {seconds:.0f} s")
    needs_fps: ClassVar[float | None] = DWELL_FPS
    type: Literal["exam_seat_crowded"]
    seconds: float = Field(10.0, gt=0)
    min_people: int = Field(2, ge=2)


class ExamCandidateAbsentConfig(ExamRuleBase):
    """An occupied seat stays empty for `seconds` before a release event frees it."""

    label: ClassVar[str] = N_("Candidate left the seat")
    title: ClassVar[str] = N_("Seat {zone}: candidate away for {seconds:.0f} s")
    needs_fps: ClassVar[float | None] = DWELL_FPS
    type: Literal["exam_candidate_absent"]
    seconds: float = Field(30.0, gt=0)
    occupied_s: float = Field(10.0, ge=0, description="a seat is occupied once someone sat this long")
    release_kinds: list[str] = Field(default_factory=lambda: ["exam_end", "seat_released"],
                                     description="external events (target: a seat id or '*') that free seats")


class ExamHeadTurnedConfig(ExamRuleBase):
    """A candidate's head turned `min_yaw_deg` or more toward an occupied neighbouring seat for `seconds`."""

    label: ClassVar[str] = N_("Looking at a neighbour")
    title: ClassVar[str] = N_("Seat {zone}: head turned toward a neighbour for {seconds:.0f} s")
    type: Literal["exam_head_turned"]
    seconds: float = Field(3.0, gt=0)
    min_yaw_deg: float = Field(35.0, gt=0, lt=90)
    yaw_hysteresis_deg: float = Field(5.0, ge=0, lt=45, description="a turn under way holds while the yaw stays "
                                      "above min_yaw_deg minus this (readings of one turn wander by ~10°)")
    keypoint_conf: float = Field(0.5, gt=0, lt=1)
    occlusion_share: float = Field(0.2, gt=0, le=1, description="the candidate counts as hidden (no reading) "
                                   "when someone in a walkway covers this share of their box")
    unknown_hold_s: float = Field(2.0, ge=0, description="frames without a reading are skipped for this long "
                                  "(neither continue nor break a turn); after that they count as not turned")


class ExamNoExaminerConfig(ExamRuleBase):
    """Nobody in the room's walkway or examiner zones for `seconds`."""

    label: ClassVar[str] = N_("No examiner in the room")
    title: ClassVar[str] = N_("Room {zone}: no examiner for {seconds:.0f} s")
    needs_fps: ClassVar[float | None] = DWELL_FPS
    type: Literal["exam_no_examiner"]
    zones: list[str] = Field(default_factory=list, description="room/patrol zones; empty: every zone of kind "
                             "'room' or 'patrol'")
    seconds: float = Field(120.0, gt=0)


# --- service windows ----------------------------------------------------------------------------------


class StaffPhoneConfig(RuleBase):
    """A phone in the staff zone of a service window for `seconds` and `min_frames` frames."""

    label: ClassVar[str] = N_("Staff on the phone")
    title: ClassVar[str] = N_("Window {zone}: phone in the staff zone")
    needs_objects: ClassVar[bool] = True  # the phone
    type: Literal["staff_phone"]
    zone: str
    seconds: float = Field(3.0, ge=0)
    min_frames: int = Field(3, ge=1)
    min_overlap: float = Field(0.3, gt=0, le=1)
    phone_overlap: float = Field(0.5, gt=0, le=1)


class WaitingOverLimitConfig(RuleBase):
    """More than `limit` people in the waiting zone for `seconds`."""

    label: ClassVar[str] = N_("Waiting crowd over the limit")
    title: ClassVar[str] = N_("{zone}: waiting crowd over the limit for {seconds:.0f} s")
    needs_fps: ClassVar[float | None] = DWELL_FPS
    type: Literal["waiting_over_limit"]
    zone: str
    limit: int = Field(ge=0, le=10_000, description="alert when more than this many people wait")
    seconds: float = Field(60.0, gt=0)


def at_rate(rules: Sequence[RuleT], fps: float, base_fps: float) -> list[RuleT]:
    """The rules as analysed at `fps` instead of `base_fps` (the camera's `detect.fps`): `inertia` counts frames
    at `base_fps`, so it is scaled to cover the same time (at least one frame). On the real set at 2 frames/s
    the unscaled 3 frames (1.5 s) lost passers-by and stretched incidents: 2 false alarms; scaled, none.

    >>> [r.inertia for r in at_rate([ZoneUnattendedConfig(type="zone_unattended", zone="z", inertia=5)], 2.0, 5.0)]
    [2]
    """
    if fps == base_fps:
        return list(rules)
    return [r.model_copy(update={"inertia": max(1, round(r.inertia * fps / base_fps))}) for r in rules]


def analysis_fps(rules: Sequence[RuleBase], fps: float) -> float:
    """The rate a camera with these rules is analysed at: the highest its rules need, at most `fps` (the
    camera's `detect.fps`); `fps` itself without rules.

    >>> analysis_fps([ZoneUnattendedConfig(type="zone_unattended", zone="z")], 5.0)
    2.0
    >>> analysis_fps([ZoneUnattendedConfig(type="zone_unattended", zone="z"),
    ...               ExamHeadTurnedConfig(type="exam_head_turned")], 5.0)
    5.0
    """
    if not rules:
        return fps
    return min(fps, max(type(r).needs_fps or fps for r in rules))


# Every rule type, by its config's `type`; analytics/rules/ registers the built-in ones.
RULE_KINDS: Registry[type] = Registry("type", builtins="analytics.rules")
# A rule in a camera's config: validated by its `type` with the registered config class.
RuleConfig = RULE_KINDS.field(RuleBase)
RuleClassT = TypeVar("RuleClassT", bound=type)


def register_rule(config: type[RuleBase]) -> Callable[[RuleClassT], RuleClassT]:
    """Class decorator of a rule: it judges configs of class `config`, and its `name` is their `type`."""
    def deco(rule: RuleClassT) -> RuleClassT:
        rule.name = key_of(config, "type")  # type: ignore[attr-defined]
        RULE_KINDS.add(config, rule)
        return rule
    return deco
