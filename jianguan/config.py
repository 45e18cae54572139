"""The site configuration: one YAML file, one Pydantic tree, composed of the domain packages' models.

Secrets never sit in the YAML in clear: fields that hold them, and passwords inside stream URLs,
must be written as `${ENV_VAR}` references, which are filled from the environment at load time.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from alerts import AlertsConfig
from analytics import CameraHealthConfig, DetectorConfig, RegionOfInterest, RuleConfig, ZoneConfig
from analytics.business import BusinessConfig
from analytics.config import SeatingConfig, TrackingConfig, YoloConfig
from analytics.motion import MotionConfig
from analytics.rule_config import analysis_fps, at_rate
from common.model import Strict, TimeZone
from i18n import N_, TranslatableError, cli_locale
from ingest.events.config import EventsConfig
from ingest.retention import RecordingConfig
from jianguan.messages import _
from reports import ReportsConfig
from storage import StorageConfig

Area = Literal["window", "inspection_lane", "exam_room", "outlet", "hall", "self_service"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = {"password", "token", "secret", "hmac_secret", "api_key", "link_secret"}
_SECRET_URL_PARENTS = {"notifiers"}  # webhook URLs carry robot keys (WeCom, DingTalk)


class ConfigError(Exception):
    """Everything wrong with a config file, one problem per line, each naming the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SiteInfo(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    timezone: TimeZone = Field("Asia/Shanghai", description="IANA time zone: what people read is in local time")
    language: Literal["zh_CN", "en"] = Field("zh_CN", description="what the site's people read: alert titles, "
                                             "pushes, snapshot captions (i18n/); the desk follows each user's")


class StreamsConfig(Strict):
    detect: str = Field(description="low-resolution sub stream that is decoded for analysis")
    record: str | None = Field(None, description="main stream remuxed into rolling segments; defaults to detect")


class DetectSettings(Strict):
    fps: float = Field(5.0, gt=0, le=30, description="the most frames/s analysed (see rate)")
    rate: Literal["rules", "fixed"] = Field("rules", description="rules: analyse at the highest rate the camera's "
                                            "rules need (dwell rules 2 frames/s, head turns and phones every "
                                            "frame), at most fps; fixed: always at fps")
    max_width: int | None = Field(None, ge=64, description="downscale decoded frames to this width")
    roi: RegionOfInterest | None = None
    motion: MotionConfig | None = Field(default_factory=MotionConfig, description="motion regions: run the "
                                        "detector only on crops something moved in (the others keep what was "
                                        "last found there), and everywhere every keepalive_s; null: off")
    detectors: list[str] | None = Field(None, description="names of the site's detectors to run on this camera "
                                        "(e.g. [pose, objects] on a lane for vehicles); default: all")
    # 1.5 s: with one round of analysis on top, an alert is written within 2 s of its frame even past capacity.
    live_buffer_s: float = Field(1.5, ge=0.2, le=30, description="the longest a live camera's frame waits for "
                                 "analysis: a stall shorter than this loses no frame (at the cost of that much "
                                 "latency); older frames are dropped and counted while newer ones wait")

    def queue_frames(self, fps: float) -> int:
        """Frames the camera's analysis queue holds: live_buffer_s at the analysis rate, at least 2."""
        return max(2, math.ceil(fps * self.live_buffer_s))


class RecordSettings(Strict):
    enabled: bool = True
    segment_s: float = Field(10.0, ge=1, le=600)
    keep_s: float | None = Field(None, ge=60, description="segment age limit; default: recording.retain_s")


class CameraConfig(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    area: Area
    streams: StreamsConfig
    detect: DetectSettings = Field(default_factory=DetectSettings)
    record: RecordSettings = Field(default_factory=RecordSettings)
    zones: list[ZoneConfig] = Field(default_factory=list)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    seating: SeatingConfig = Field(default_factory=SeatingConfig)  # exam rooms: how people are placed at seats
    rules: list[RuleConfig] = Field(default_factory=list)
    camera_health: CameraHealthConfig = Field(default_factory=CameraHealthConfig)

    @property
    def analysis_fps(self) -> float:
        """Frames/s the camera is analysed at: the highest rate its rules need (`needs_fps` of each rule's
        config), at most `detect.fps`; `detect.fps` itself with `rate: fixed` or without rules."""
        return self.detect.fps if self.detect.rate == "fixed" else analysis_fps(self.rules, self.detect.fps)

    @property
    def analysis_rules(self) -> list[RuleConfig]:
        """The rules as analysed at `analysis_fps` (their inertia scaled from frames at `detect.fps`)."""
        return at_rate(self.rules, self.analysis_fps, self.detect.fps)

    @model_validator(mode="after")
    def _zones_and_rules_agree(self) -> CameraConfig:
        ids = [z.id for z in self.zones]
        dupes = sorted({z for z in ids if ids.count(z) > 1})
        if dupes:
            raise TranslatableError(N_("zone ids must be unique within a camera: {ids}"), ids=", ".join(dupes))
        for i, rule in enumerate(self.rules):
            for zone in rule.zone_ids():
                if zone not in ids:
                    raise TranslatableError(N_("rules[{i}] ({rule}) refers to zone {zone!r}, which this camera lacks"),
                                            i=i, rule=rule.type, zone=zone)
        for zone in self.seating.walkways or ():
            if zone not in ids:
                raise TranslatableError(N_("seating.walkways names zone {zone!r}, which this camera lacks"), zone=zone)
        for z in self.zones:
            for zone in z.lane.inspector_zones if z.lane else ():
                if zone not in ids:
                    raise TranslatableError(N_("zone {lane!r}: lane.inspector_zones names zone {zone!r}, which this "
                                               "camera lacks"), lane=z.id, zone=zone)
        return self


class PathsConfig(Strict):
    data_dir: Path = Path("var")

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"


# Each role's scrape port is `metrics.port` + its offset (jianguan/metrics.py): one setting, no two roles on one port.
ROLE_PORT_OFFSET = {"node": 0, "serve": 1, "business": 2, "events": 3, "cluster": 4}  # cluster: `cluster run`


class MetricsConfig(Strict):
    """Prometheus metrics of every role (jianguan/metrics.py): off unless a port is given."""

    port: int | None = Field(None, ge=1, le=65535 - max(ROLE_PORT_OFFSET.values()),
                             description="the node serves /metrics on this port (e.g. 9108), the other roles on "
                             "the next ones (ROLE_PORT_OFFSET)")
    bind: str = Field("127.0.0.1", description="address to listen on; the figures name cameras, so "
                      "0.0.0.0 is a choice")


class SharedDetectionConfig(Strict):
    """`jianguan cluster run`: YOLO detection served for every camera group by detection servers on the
    cluster's GPU machines (jianguan/shared_detection.py), batched across cameras, groups and sites. Groups
    send their model inputs (crops already scaled to the model), never full frames."""

    enabled: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: when the cluster has a GPU; on: always (with gpus: 0, a CPU server); off: "
        "every group detects on its own machine")
    gpus: float = Field(1.0, ge=0, description="GPUs each server asks Ray for; 0 serves on CPUs")
    cpus: float = Field(1.0, ge=0, description="CPUs each server asks Ray for (pre- and post-processing)")
    resources: dict[str, float] = Field(default_factory=dict, description="other Ray resources each server "
                                        "needs, to pin servers to machines started with --resources")
    replicas: int = Field(1, ge=1, le=64, description="servers per detector; groups are spread over them")
    max_batch: int = Field(64, ge=1, le=1024, description="model inputs in one batch at most")
    max_wait_ms: float = Field(10.0, ge=0, le=1000, description="how long the first input of a batch waits "
                               "for others (a deadline, as DeepStream's batched-push-timeout)")
    encoding: Literal["raw", "jpeg"] = Field("raw", description="how model inputs travel: raw pixels (results "
                                             "identical to local detection; ~1.6 MB/s a camera, docs/scale.md) "
                                             "or JPEG (about a tenth, for links under 10 Gbit/s)")
    jpeg_quality: int = Field(90, ge=50, le=100)
    timeout_s: float = Field(5.0, gt=0, le=120, description="a call the server has not answered by then: the "
                             "group detects on its own machine, and asks the server again after retry_s")
    retry_s: float = Field(30.0, gt=0, le=3600)


class ClusterConfig(Strict):
    """`jianguan cluster run` (jianguan/cluster.py): how the site's cameras are split into camera groups."""

    cameras_per_core: float = Field(6.0, gt=0, description="cameras one core analyses at the rates their rules "
                                    "need (bench/bench_node.py: 12 office cameras held on 2 cores, OpenVINO)")
    cores_per_group: float = Field(1.0, gt=0, description="CPUs each camera group asks Ray for")
    shared_detection: SharedDetectionConfig = Field(default_factory=SharedDetectionConfig)

    @property
    def group_size(self) -> int:
        return max(1, int(self.cameras_per_core * self.cores_per_group))


class ServeConfig(Strict):
    """`jianguan serve`: which roles run as processes under the supervisor (jianguan/supervisor.py)."""

    roles: list[Literal["node", "events", "business", "review"]] = Field(
        default_factory=lambda: ["node", "events", "business"], min_length=1,
        description="node: cameras and rules; events: the intake; business: early warning; review: the desk")
    review_port: int = Field(8080, ge=1, le=65535)

    @field_validator("roles")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise TranslatableError(N_("each role once"))
        return v


class SiteConfig(Strict):
    site: SiteInfo
    paths: PathsConfig = Field(default_factory=PathsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    detector: DetectorConfig = Field(default_factory=YoloConfig)
    detectors: list[DetectorConfig] = Field(
        default_factory=list, description="several detectors (e.g. pose for people + nanodet for phones and "
        "vehicles), chosen per camera by name; when empty, `detector` alone")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    business: BusinessConfig = Field(default_factory=BusinessConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)  # retention, staggered start
    events: EventsConfig = Field(default_factory=EventsConfig)  # lane sensors, transactions
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    cameras: list[CameraConfig] = Field(min_length=1)

    @property
    def all_detectors(self) -> list[DetectorConfig]:
        return list(self.detectors) or [self.detector]

    def detectors_of(self, camera: CameraConfig) -> list[DetectorConfig]:
        wanted = camera.detect.detectors
        return [d for d in self.all_detectors if wanted is None or d.name in wanted]

    @model_validator(mode="after")
    def _unique_cameras(self) -> SiteConfig:
        ids = [c.id for c in self.cameras]
        dupes = sorted({c for c in ids if ids.count(c) > 1})
        if dupes:
            raise TranslatableError(N_("camera ids must be unique: {ids}"), ids=", ".join(dupes))
        names = [d.name for d in self.all_detectors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise TranslatableError(N_("detector names must be unique: {names} (set `name:`)"),
                                    names=", ".join(map(str, dupes)))
        for cam in self.cameras:
            unknown = [n for n in cam.detect.detectors or [] if n not in names]
            if unknown:
                raise TranslatableError(N_("camera {camera} asks for detector(s) {unknown}; the site has {names}"),
                                        camera=cam.id, unknown=", ".join(unknown), names=", ".join(map(str, names)))
        # Rules' opening hours are in the site's local time unless a rule names its own zone.
        for cam in self.cameras:
            for rule in cam.rules:
                rule.timezone = rule.timezone or self.site.timezone
        # Routes and escalation steps must name notifiers that exist: a typo would silence an alert.
        known = {n.id for n in self.alerts.notifiers}
        named = [n for r in self.alerts.routes for n in r.notifiers]
        named += [n for step in self.alerts.escalation.steps for n in step.notifiers]
        unknown = sorted(set(named) - known)
        if unknown:
            raise TranslatableError(N_("alerts: routes/escalation name unknown notifiers: {ids}"),
                                    ids=", ".join(unknown))
        return self

    def lane_ids(self) -> list[str]:
        """The site's inspection lanes: events.lanes, else those of its inspection-lane cameras (named
        `<lane>-<view>`, as `lane-1-front`) and of business.lane_cameras."""
        if self.events.lanes is not None:
            return sorted(self.events.lanes)
        lanes = {c.id.rsplit("-", 1)[0] for c in self.cameras if c.area == "inspection_lane" and "-" in c.id}
        return sorted(lanes | set(self.business.no_vehicle.lane_cameras))

    def camera_name(self, camera_id: str) -> str:
        """What people call the camera (its `name`), its id for one the site does not have."""
        return next((c.name for c in self.cameras if c.id == camera_id), camera_id)

    def zone_name(self, camera_id: str, zone_id: str) -> str:
        """What people call a zone of a camera: its `name`, else its id."""
        cam = next((c for c in self.cameras if c.id == camera_id), None)
        zone = next((z for z in cam.zones if z.id == zone_id), None) if cam else None
        return (zone.name or zone.id) if zone else zone_id

    def camera(self, camera_id: str) -> CameraConfig:
        return next(c for c in self.cameras if c.id == camera_id)


def load_config(path: Path | str, env: dict[str, str] | None = None) -> SiteConfig:
    """Read, check for clear-text secrets, fill `${ENV}` references, validate. Raises ConfigError."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([_("{path}: file not found", path=path)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([_("{path}: cannot read: {error}", path=path, error=exc)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _("line {line}, column {column}: ", line=mark.line + 1, column=mark.column + 1) if mark else ""
        raise ConfigError([_("{path}: {where}not valid YAML ({problem})", path=path, where=where,
                             problem=getattr(exc, "problem", exc))]) from None
    return parse_config(raw, env=env, source=str(path))


def parse_config(raw: Any, env: dict[str, str] | None = None, source: str = "config") -> SiteConfig:
    if not isinstance(raw, dict):
        raise ConfigError([_("{source}: the top level must be a mapping with site: and cameras:", source=source)])
    problems = _clear_text_secrets(raw)
    filled = _interpolate(raw, os.environ if env is None else env, (), problems)
    if problems:
        raise ConfigError([_("{where}: {problem}", where=source, problem=p) for p in problems])
    try:
        return SiteConfig.model_validate(filled)
    except ValidationError as exc:
        raise ConfigError([_("{where}: {problem}", where=source, problem=_describe(err))
                           for err in exc.errors()]) from None


def _describe(err: dict[str, Any]) -> str:
    # Plugin configs (rules, detectors, notifiers) are validated through their registries, not as tagged
    # unions, so no `type` value sits in the location: cameras[0].rules[1].seconds.
    loc = _path(err["loc"])
    return _("{where}: {problem}", where=loc or _("(top level)"), problem=_problem(err))


# Pydantic's own messages, by error type, in words an operator reads (its ctx fills the placeholders); a
# type not here keeps pydantic's English.
_PYDANTIC = {
    "extra_forbidden": N_("unknown field (check the spelling)"),
    "missing": N_("required field is missing"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be at most {le}"),
    "literal_error": N_("must be {expected}"),
    "string_pattern_mismatch": N_("must match the pattern {pattern}"),
    "string_too_short": N_("must have at least {min_length} characters"),
    "string_too_long": N_("must have at most {max_length} characters"),
    "too_short": N_("must have at least {min_length} items"),
    "too_long": N_("must have at most {max_length} items"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "float_type": N_("must be a number"),
    "bool_parsing": N_("must be true or false"),
    "bool_type": N_("must be true or false"),
    "string_type": N_("must be text"),
    "list_type": N_("must be a list"),
    "dict_type": N_("must be a mapping (key: value)"),
    "model_type": N_("must be a mapping (key: value)"),
    "model_attributes_type": N_("must be a mapping (key: value)"),
}


def _problem(err: dict[str, Any]) -> str:
    """What is wrong, in the operator's language: our validators raise TranslatableError; pydantic's own
    errors are worded by type."""
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("error"), TranslatableError):
        return ctx["error"].text(cli_locale())
    if err["type"] in _PYDANTIC:
        try:
            return _(_PYDANTIC[err["type"]], **ctx)
        except (KeyError, IndexError):  # a ctx without the placeholder (another pydantic version)
            pass
    return err["msg"].removeprefix("Value error, ")


def _path(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _interpolate(node: Any, env: Any, where: tuple[Any, ...], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, (*where, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, (*where, i), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(_("{where}: environment variable {name} is not set", where=_path(where), name=name))
            return ""
        return _ENV_REF.sub(sub, node)
    return node


def _secret_ref(text: str) -> bool:
    """`${VAR}`: a secret the environment gives. `${VAR:-literal}` is not one: the literal is in the file."""
    m = _ENV_REF.fullmatch(text)
    return m is not None and m.group(2) is None


def _has_default(text: str) -> bool:
    m = _ENV_REF.fullmatch(text)
    return m is not None and m.group(2) is not None


def _clear_text_secrets(node: Any, where: tuple[Any, ...] = ()) -> list[str]:
    """Secrets must be `${ENV}` references: find the ones written in clear."""
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _clear_text_secrets(v, (*where, k))
        return found
    if isinstance(node, list):
        for i, v in enumerate(node):
            found += _clear_text_secrets(v, (*where, i))
        return found
    if not isinstance(node, str) or not node:
        return found
    key = where[-1] if where else ""
    is_ref = _secret_ref(node.strip())
    secret = key in _SECRET_KEYS or (key == "url" and any(p in _SECRET_URL_PARENTS for p in where
                                                          if isinstance(p, str)))
    if secret and _has_default(node.strip()):
        found.append(_("{where}: a secret must not have a default written in the config (${{VAR:-...}}); "
                       "write ${{VAR}} and set it in the environment", where=_path(where)))
    elif key in _SECRET_KEYS and not is_ref:
        found.append(_("{where}: secrets must come from the environment, write ${{VAR}}", where=_path(where)))
    elif key == "url" and any(p in _SECRET_URL_PARENTS for p in where if isinstance(p, str)) and not is_ref:
        found.append(_("{where}: notifier URLs carry tokens; write ${{VAR}} and set it in the environment",
                       where=_path(where)))
    elif "://" in node and "@" in node:
        try:
            password = urlsplit(node).password
        except ValueError:
            password = None
        if password and not _secret_ref(password):
            found.append(_("{where}: the password in this URL is in clear; write user:${{VAR}}@host",
                           where=_path(where)))
    return found
