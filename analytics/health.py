"""Camera health: video loss, frozen picture, covered/black, defocus and scene moved, per camera.

Measures are pure functions on a small grayscale copy of the frame (`analysis_width`, 320 px by default:
about 2 ms per sample on one core, measured on vtest.avi). `CameraHealth` runs them at most every
`sample_s` seconds and turns sustained conditions into the same `Incident`/`IncidentEvent` objects the
zone rules emit (rule names `video_loss`, `frozen`, `covered`, `defocus`, `scene_moved`; no zone).

Time: `update(ts, image)` reads frame timestamps only. Video loss is the absence of frames, which no frame
can report, so it is driven by `tick(now)` with the wall clock; live frames carry wall-clock timestamps
(see ingest), so both clocks agree.

Each condition must hold for `seconds` before an incident opens (it starts at the first bad sample), and
must be gone for `clear_s` before it closes (it ends at the first good sample of that run): a single
odd frame neither opens nor ends anything. While the picture is covered, frozen or lost, the detectors
that compare with the learned baseline (defocus, scene moved) are not judged: one cause, one incident.

Limits: a still scene behind an encoder that sends identical frames cannot be told from a frozen camera
by pixels alone; cameras with an on-screen clock are the norm in these offices and keep the picture
changing. The baseline (sharpness, reference scene) is learned over the first `learn_s` seconds of
healthy picture, so a camera that starts defocused or moved learns that state as normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from analytics.rules.base import Incident, IncidentEvent
from common.model import Severity, Strict
from i18n import N_

# -- configuration ---------------------------------------------------------------------------------
# The rules this module raises. Each outage of a camera is news to the people watching it: a repeat pages
# again and the recovery is pushed too (alerts/manager.py).
HEALTH_RULES = ("video_loss", "frozen", "covered", "defocus", "scene_moved")
# What a person reads of each (analytics/texts.py): its name, an alert's title, the recovery push's title.
HEALTH_TEXTS = {
    "video_loss": (N_("Video lost"), N_("Video lost"), N_("Video restored")),
    "frozen": (N_("Picture frozen"), N_("Picture frozen"), N_("Picture moving again")),
    "covered": (N_("Camera covered"), N_("Camera covered or blacked out"), N_("Camera uncovered")),
    "defocus": (N_("Out of focus"), N_("Picture out of focus"), N_("Picture in focus again")),
    "scene_moved": (N_("Camera turned"), N_("Camera turned: the scene moved"), N_("Scene back in place")),
}
assert set(HEALTH_TEXTS) == set(HEALTH_RULES)


class VideoLossConfig(Strict):
    enabled: bool = True
    seconds: float = Field(10.0, gt=0, description="no frame for this long")
    severity: Severity = "critical"


class FrozenConfig(Strict):
    enabled: bool = True
    seconds: float = Field(60.0, gt=0)
    max_changed: float = Field(0.0005, ge=0, lt=1, description="share of pixels that changed (by > `level`)")
    level: int = Field(8, ge=1, le=255, description="grey levels a pixel must change by to count")
    clear_s: float = Field(2.0, ge=0)
    severity: Severity = "major"


class CoveredConfig(Strict):
    enabled: bool = True
    seconds: float = Field(10.0, gt=0)
    max_mean: float = Field(20.0, ge=0, le=255, description="mean luma below this is black/covered")
    max_std: float = Field(6.0, ge=0, description="luma spread below this is a uniform (covered) picture")
    clear_s: float = Field(2.0, ge=0)
    severity: Severity = "critical"


class DefocusConfig(Strict):
    enabled: bool = True
    seconds: float = Field(30.0, gt=0)
    ratio: float = Field(0.4, gt=0, lt=1, description="sharpness below ratio x the learned baseline")
    clear_s: float = Field(5.0, ge=0)
    severity: Severity = "minor"


class SceneMovedConfig(Strict):
    enabled: bool = True
    seconds: float = Field(30.0, gt=0)
    max_shift: float = Field(0.02, gt=0, lt=1, description="shift against the reference, share of the width")
    min_response: float = Field(0.2, ge=0, le=1, description="phase-correlation peak below this: another view")
    clear_s: float = Field(5.0, ge=0)
    severity: Severity = "major"


class CameraHealthConfig(Strict):
    """`camera_health:` of a camera. Every detector is on by default with conservative timings."""

    enabled: bool = True
    analysis_width: int = Field(320, ge=64, le=1920)
    sample_s: float = Field(0.5, ge=0, description="measure at most this often")
    learn_s: float = Field(30.0, ge=0, description="healthy picture needed to learn sharpness and the scene")
    video_loss: VideoLossConfig = Field(default_factory=VideoLossConfig)
    frozen: FrozenConfig = Field(default_factory=FrozenConfig)
    covered: CoveredConfig = Field(default_factory=CoveredConfig)
    defocus: DefocusConfig = Field(default_factory=DefocusConfig)
    scene_moved: SceneMovedConfig = Field(default_factory=SceneMovedConfig)


# -- measures (pure) ---------------------------------------------------------------------------------
def analysis_gray(image: np.ndarray, width: int = 320) -> np.ndarray:
    """BGR (or gray) -> grayscale uint8 at `width`, aspect kept. INTER_AREA averages away sensor noise."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    if w == width:
        return gray
    return cv2.resize(gray, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def changed_fraction(a: np.ndarray, b: np.ndarray, level: int = 8) -> float:
    """Share of pixels whose grey value differs by more than `level` (0: identical pictures)."""
    return float(np.count_nonzero(cv2.absdiff(a, b) > level)) / a.size


def luma_stats(gray: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of the grey levels."""
    mean, std = cv2.meanStdDev(gray)
    return float(mean[0, 0]), float(std[0, 0])


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, falls steeply when the picture blurs."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def scene_shift(reference: np.ndarray, gray: np.ndarray) -> tuple[float, float, float]:
    """Phase correlation of the picture against the reference: (dx, dy) in pixels and the peak response
    (about 0.5-0.7 for the same view with people moving in it, under 0.1 for a rotated or zoomed view)."""
    window = cv2.createHanningWindow((gray.shape[1], gray.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(reference.astype(np.float32), gray.astype(np.float32), window)
    return float(dx), float(dy), float(response)


# -- the state machine of one condition ----------------------------------------------------------------
@dataclass
class Sustained:
    """A bad condition held `seconds` opens an incident; `clear_s` of good samples closes it. Shared by the
    picture checks here and the node's overload watch (jianguan/overload.py)."""

    rule: str
    camera_id: str
    seconds: float
    clear_s: float
    severity: str
    since: float | None = None  # first bad sample of the current bad run
    good_since: float | None = None
    bad: int = 0
    samples: int = 0
    incident: Incident | None = None
    measures: dict[str, float] = field(default_factory=dict)

    def step(self, ts: float, bad: bool, measures: dict[str, float]) -> list[IncidentEvent]:
        if bad:
            if self.since is None:
                self.since, self.bad, self.samples = ts, 0, 0
            self.good_since = None
            self.bad += 1
            self.samples += 1
            self.measures = measures
            if self.incident is None and ts - self.since >= self.seconds:
                self.incident = Incident(self.camera_id, self.rule, None, self.severity, started_at=self.since,
                                         raised_at=ts, confidence=round(self.bad / self.samples, 3),
                                         measures={k: round(v, 4) for k, v in measures.items()})
                return [IncidentEvent("opened", self.incident)]
            return []
        if self.since is None:
            return []
        self.samples += 1
        if self.good_since is None:
            self.good_since = ts
        if ts - self.good_since < self.clear_s:
            return []
        return self.reset(self.good_since)

    def reset(self, ended_at: float) -> list[IncidentEvent]:
        """The condition is over (or can no longer be judged): close the incident at `ended_at`."""
        events = []
        if self.incident is not None:
            self.incident.ended_at = ended_at
            events.append(IncidentEvent("closed", self.incident))
        self.since = self.good_since = self.incident = None
        return events


# -- one camera -----------------------------------------------------------------------------------------
class CameraHealth:
    """Health detectors of one camera. `update()` per decoded frame, `tick()` every second or so."""

    def __init__(self, camera_id: str, config: CameraHealthConfig | None = None, started_at: float | None = None
                 ) -> None:
        self.camera_id = camera_id
        self.config = cfg = config or CameraHealthConfig()
        self.started_at = started_at
        self.last_ts: float | None = None  # newest frame
        self._last_sample_ts: float | None = None
        self._prev: np.ndarray | None = None
        self._learn: list[tuple[float, np.ndarray]] = []
        self._learn_since: float | None = None
        self.baseline_sharpness: float | None = None
        self.reference: np.ndarray | None = None
        self.last_measures: dict[str, float] = {}
        self._loss: Incident | None = None
        self._state = {
            name: Sustained(name, camera_id, sub.seconds, sub.clear_s, sub.severity)
            for name, sub in (("covered", cfg.covered), ("frozen", cfg.frozen), ("defocus", cfg.defocus),
                              ("scene_moved", cfg.scene_moved))
        }

    @property
    def open_incidents(self) -> list[Incident]:
        found = [s.incident for s in self._state.values() if s.incident is not None]
        return ([self._loss] if self._loss else []) + found

    @property
    def learned(self) -> bool:
        return self.baseline_sharpness is not None

    def tick(self, now: float) -> list[IncidentEvent]:
        """Wall clock: opens `video_loss` once no frame arrived for `video_loss.seconds`."""
        cfg = self.config.video_loss
        if not (self.config.enabled and cfg.enabled) or self._loss is not None:
            return []
        last = self.last_ts if self.last_ts is not None else self.started_at
        if last is None:
            self.started_at = last = now  # the first tick starts the clock of a camera never seen
        if now - last < cfg.seconds:
            return []
        self._loss = Incident(self.camera_id, "video_loss", None, cfg.severity, started_at=last, raised_at=now,
                              measures={"silent_s": round(now - last, 3)})
        # Nothing can be judged without a picture: the picture conditions end where the video was lost.
        events = [e for s in self._state.values() for e in s.reset(last)]
        self._prev = None
        return [*events, IncidentEvent("opened", self._loss)]

    def seen(self, ts: float) -> None:
        """A frame of the camera was decoded at `ts` (the reader's newest): the video is not lost, however far
        behind the analysis is. Video loss is about the camera, not about a busy node (under load, judged on
        analysed frames alone, a 3 s threshold raised false losses)."""
        if ts and (self.last_ts is None or ts > self.last_ts):
            self.last_ts = ts

    def update(self, ts: float, image: np.ndarray) -> list[IncidentEvent]:
        if not self.config.enabled:
            return []
        events: list[IncidentEvent] = []
        if self._loss is not None:
            self._loss.ended_at = ts
            events.append(IncidentEvent("closed", self._loss))
            self._loss = None
        self.seen(ts)
        if self._last_sample_ts is not None and ts - self._last_sample_ts < self.config.sample_s:
            return events
        self._last_sample_ts = ts
        events += self._sample(ts, analysis_gray(image, self.config.analysis_width))
        return events

    def flush(self, ts: float) -> list[IncidentEvent]:
        """Observation stopped: close what is open at `ts`."""
        events = [e for s in self._state.values() for e in s.reset(ts)]
        if self._loss is not None:
            self._loss.ended_at = ts
            events.append(IncidentEvent("closed", self._loss))
            self._loss = None
        return events

    # -- internals ------------------------------------------------------------------------------------
    def _sample(self, ts: float, gray: np.ndarray) -> list[IncidentEvent]:
        cfg = self.config
        events: list[IncidentEvent] = []
        mean, std = luma_stats(gray)
        sharp = sharpness(gray)
        m: dict[str, float] = {"luma_mean": mean, "luma_std": std, "sharpness": sharp}
        covered = cfg.covered.enabled and (mean < cfg.covered.max_mean or std < cfg.covered.max_std)
        if cfg.covered.enabled:
            events += self._state["covered"].step(ts, covered, {"luma_mean": mean, "luma_std": std})
        frozen = False
        if self._prev is not None and self._prev.shape == gray.shape:
            m["changed"] = changed_fraction(self._prev, gray, cfg.frozen.level)
            # A black picture is "unchanged" too; covered is the better name for it.
            frozen = m["changed"] <= cfg.frozen.max_changed and not covered
            if cfg.frozen.enabled:
                events += self._state["frozen"].step(ts, frozen, {"changed": m["changed"]})
        self._prev = gray
        healthy = not covered and not frozen
        if self.baseline_sharpness is None:
            if healthy:
                self._learn_frame(ts, gray, sharp)
        elif healthy:
            events += self._compare(ts, gray, sharp, m)
        else:
            # Covered or frozen: the comparisons would only echo that; end them where it began.
            for name in ("defocus", "scene_moved"):
                events += self._state[name].reset(ts)
        self.last_measures = m
        return events

    def _learn_frame(self, ts: float, gray: np.ndarray, sharp: float) -> None:
        if self._learn_since is None:
            self._learn_since = ts
        self._learn.append((sharp, gray))
        if len(self._learn) > 64:  # keep every other sample: bounded memory, still spans the whole period
            self._learn = self._learn[::2]
        if ts - self._learn_since >= self.config.learn_s and len(self._learn) >= 3:
            self.baseline_sharpness = float(np.median([s for s, _ in self._learn]))
            # The per-pixel median of the samples is the empty scene: people walking through vanish.
            step = max(1, len(self._learn) // 15)
            self.reference = np.median(np.stack([g for _, g in self._learn[::step]]), axis=0).astype(np.uint8)
            self._learn = []

    def _compare(self, ts: float, gray: np.ndarray, sharp: float, m: dict[str, float]) -> list[IncidentEvent]:
        cfg = self.config
        events: list[IncidentEvent] = []
        assert self.baseline_sharpness is not None and self.reference is not None
        ratio = sharp / max(self.baseline_sharpness, 1e-6)
        m["sharpness_ratio"] = ratio
        if cfg.defocus.enabled:
            events += self._state["defocus"].step(ts, ratio < cfg.defocus.ratio,
                                                  {"sharpness": sharp, "baseline": self.baseline_sharpness,
                                                   "ratio": ratio})
        if cfg.scene_moved.enabled and self.reference.shape == gray.shape:
            dx, dy, response = scene_shift(self.reference, gray)
            shift = float(np.hypot(dx, dy)) / gray.shape[1]
            m.update(shift=shift, response=response)
            # A blurred picture correlates poorly with a sharp reference: that is defocus, not a move.
            moved = (shift > cfg.scene_moved.max_shift or response < cfg.scene_moved.min_response) and not (
                cfg.defocus.enabled and ratio < cfg.defocus.ratio)
            events += self._state["scene_moved"].step(ts, moved, {"dx": dx, "dy": dy, "shift": shift,
                                                                  "response": response})
        if ratio > 0.8 and not self._state["scene_moved"].since:
            # Follow slow changes (daylight, seasons) while clearly healthy: ~1 h time constant at 2 samples/s.
            self.baseline_sharpness += (sharp - self.baseline_sharpness) / 7200.0
        return events
