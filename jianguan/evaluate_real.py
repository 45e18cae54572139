"""`jianguan evaluate --real`: the rules on real footage, judged against people's positions read by eye.

For each clip of the real-footage set (`devkit/scenarios/real/`) and each copy of it (the original, and degraded
copies: half resolution, dark and noisy, H.264 at CRF 40, 2 frames/s), the node's own detection
(`CameraDetection`: the site's detectors, crops planned around the zones) and analytics (`CameraAnalytics`:
tracking, presence memory, zones, rules) run over the footage, decoded by the node's reader. Incidents are
matched to the truth derived from the labels (`devkit.scenarios.real`): certain incidents count for precision and
recall, optional ones (an ambiguous label decides them) neither way. Beside them: how often the zone's count
equals the labelled one (where both are sure), and the detector's cost per frame.

Detections are recorded per copy and settings (`--record`-style cache under the work dir): a second run
with other rule or tracking settings replays tracking, zones and rules on them in seconds.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
from pydantic import TypeAdapter

from analytics import CameraAnalytics, DetectorConfig, Incident, RuleConfig
from analytics.config import TrackingConfig
from analytics.detectors import build_detector
from analytics.motion import MotionGate
from analytics.multidetect import CameraDetection
from analytics.rule_config import analysis_fps, at_rate
from devkit.scenarios.media import media_path
from devkit.scenarios.real import Clip, RealTruth, clip_ids, load_clip
from ingest import CameraReader
from jianguan.config import DetectSettings
from jianguan.evaluate import MATCH_TOLERANCE_S, Found, RuleScore, match

# ffmpeg filters of the degraded copies. Every copy is analysed at the rate the clip's rules need, as the node
# does (`analysis_fps`: 2 frames/s for these dwell rules), except "5fps", the original at the old fixed rate.
VARIANTS: dict[str, list[str]] = {
    "original": [],
    "half": ["-vf", "scale=iw/2:ih/2"],
    "dark": ["-vf", "eq=brightness=-0.22:contrast=0.55:gamma=0.8,noise=alls=12:allf=t"],
    "crf40": ["-crf", "40"],
    "5fps": [],
}
FIXED_FPS = {"5fps": 5.0}
DEFAULT_FPS = 5.0  # the cameras' detect.fps
CAMERA = "real"
RECORDING_VERSION = 7  # part of the cache key: raise it when detection or the planner's learning changes


@dataclass
class Recording:
    """What the detector saw on one copy: frame times and detections, and what it cost."""

    ts: list[float]
    frame_wh: tuple[int, int]
    detections: list[sv.Detections]
    detect_s: float  # wall seconds spent in detection
    crops: int  # model inputs run (tiles)


@dataclass
class CopyResult:
    clip: str
    variant: str
    fps: float
    found: list[Found]
    matched: list[tuple[RealTruth, Found]]
    missed: list[RealTruth]
    false_alarms: list[Found]
    count_exact: float  # share of sure labelled samples with someone in the zone where the count was exact
    count_samples: int
    ms_per_frame: float
    crops_per_frame: float


@dataclass
class RealEvaluation:
    copies: list[CopyResult]
    scores: dict[str, RuleScore] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"{'rule':<22} {'TP':>3} {'FP':>3} {'FN':>3}  precision  recall"]
        for name, s in sorted(self.scores.items()):
            lines.append(f"{name:<22} {s.tp:>3} {s.fp:>3} {s.fn:>3}  {s.precision:9.2f}  {s.recall:6.2f}")
        lines.append("")
        lines.append(f"{'copy':<16} {'fps':>4} {'P':>5} {'R':>5} {'count ok':>8} {'ms/frame':>8} {'crops':>5} "
                     f"{'cams at fps/2cores':>18}")
        for c in self.copies:
            tp, fp, fn = len(c.matched), len(c.false_alarms), len(c.missed)
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            cams = 1000.0 / c.ms_per_frame / c.fps if c.ms_per_frame else float("inf")
            lines.append(f"{c.clip + '/' + c.variant:<16} {c.fps:>4.0f} {p:5.2f} {r:5.2f} {c.count_exact:8.2f} "
                         f"{c.ms_per_frame:8.1f} {c.crops_per_frame:5.1f} {cams:18.1f}")
        return "\n".join(lines)


def variant_video(clip: Clip, variant: str, work_dir: Path) -> Path:
    """The clip's footage as that copy (made once with ffmpeg, cached)."""
    source = media_path(clip.video)
    if not VARIANTS[variant]:
        return source
    out = work_dir / "copies" / f"{clip.id}-{variant}.mp4"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part.mp4")
        args = ["ffmpeg", "-v", "error", "-y", "-i", str(source), *VARIANTS[variant]]
        if "-crf" not in VARIANTS[variant]:
            args += ["-crf", "18"]
        subprocess.run([*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", str(tmp)], check=True)
        tmp.rename(out)
    return out


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record(clip: Clip, variant: str, detectors: Sequence[DetectorConfig], tracking: TrackingConfig,
           work_dir: Path, say: Callable[[str], None] = lambda _m: None) -> Recording:
    """Detect on every analysed frame of the copy, with the node's detection and analytics (the crop planner
    learns people's heights from what the analytics placed, as in the node). Cached per copy and settings."""
    fps = rate_of(clip, variant)
    zones = clip.zones()
    key = _key(clip.spec.sha256, variant, fps, [d.model_dump() for d in detectors], DetectSettings().model_dump(),
               [z.model_dump() for z in zones], tracking.model_dump(), RECORDING_VERSION)
    cache = work_dir / "detections" / f"{clip.id}-{variant}-{key}.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    built = {d.name: build_detector(d) for d in detectors}
    detection = CameraDetection(built, {CAMERA: (list(built), zones, None)})
    analytics = CameraAnalytics(CAMERA, fps, zones, _rules(clip, fps), tracking)
    reader = CameraReader(CAMERA, str(variant_video(clip, variant, work_dir)), fps, base_ts=0.0)
    motion = DetectSettings().motion  # the node's default: crops run where something moved
    gate = MotionGate(motion) if motion is not None else None
    ts, dets, spent, wh = [], [], 0.0, (0, 0)
    for frame in reader.frames():
        h, w = frame.image.shape[:2]
        wh = (w, h)
        t0 = time.perf_counter()
        moved = None
        if gate is not None:
            result = gate.update(frame.image, frame.ts, frame.luma)
            moved = None if result.due else result.boxes
        [det] = detection.detect([CAMERA], [frame.image], [moved])
        spent += time.perf_counter() - t0
        result = analytics.process(frame.ts, wh, det)
        detection.observe(CAMERA, result.observation.detections, wh, result.observation.in_zone)
        ts.append(frame.ts)
        dets.append(det)
        if len(ts) % 50 == 0:
            say(f"  {clip.id}/{variant}: {len(ts)} frames, {1000 * spent / len(ts):.0f} ms/frame")
    rec = Recording(ts, wh, dets, spent, detection.crops_run)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(rec))
    return rec


def _rules(clip: Clip, fps: float = DEFAULT_FPS) -> list[RuleConfig]:
    """The clip's rules as analysed at `fps` (inertia scaled from the cameras' 5 frames/s, as in the node)."""
    adapter = TypeAdapter(RuleConfig)
    return at_rate([adapter.validate_python(r) for r in clip.spec.rules], fps, DEFAULT_FPS)


def rate_of(clip: Clip, variant: str) -> float:
    """Frames/s a copy is analysed at: the node's rate for the clip's rules, or the copy's fixed rate."""
    return FIXED_FPS.get(variant) or analysis_fps(_rules(clip), DEFAULT_FPS)


def replay(clip: Clip, variant: str, rec: Recording, tracking: TrackingConfig) -> CopyResult:
    """Tracking, zones and rules over recorded detections; incidents matched to the truth."""
    fps = rate_of(clip, variant)
    zones = clip.zones()
    analytics = CameraAnalytics(CAMERA, fps, zones, _rules(clip, fps), tracking)
    incidents: dict[int, Incident] = {}  # by identity: a closing event carries the same incident, now ended
    counts: dict[str, list[int]] = {z.id: [] for z in zones}
    for ts, det in zip(rec.ts, rec.detections, strict=True):
        result = analytics.process(ts, rec.frame_wh, _copy(det))
        incidents.update((id(e.incident), e.incident) for e in result.events)
        for zone_id, mask in result.observation.in_zone.items():
            counts[zone_id].append(int(mask.sum()))
    incidents.update((id(e.incident), e.incident) for e in analytics.flush(rec.ts[-1] if rec.ts else 0.0))
    found = [Found(i.rule, i.zone_id, i.started_at, i.raised_at, i.ended_at) for i in incidents.values()]
    truths = clip.truth()
    certain = [t for t in truths if t.certain]
    optional = [t for t in truths if not t.certain]
    pairs, missed, extra = match(certain, found)  # type: ignore[arg-type]
    false_alarms = [f for f in extra if not any(_overlaps(t, f) for t in optional)]
    exact, samples = _count_agreement(clip, rec.ts, counts)
    frames = max(1, len(rec.ts))
    return CopyResult(clip.id, variant, fps, found, pairs, missed, false_alarms, exact, samples,
                      1000.0 * rec.detect_s / frames, rec.crops / frames)


def _overlaps(truth: RealTruth, found: Found, tolerance_s: float = MATCH_TOLERANCE_S) -> bool:
    end = found.end if found.end is not None else found.raised
    return (truth.rule == found.rule and truth.zone == found.zone and found.start <= truth.end + tolerance_s
            and end >= truth.start - tolerance_s)


def _copy(det: sv.Detections) -> sv.Detections:
    return det[np.arange(len(det))] if len(det) else det


def _count_agreement(clip: Clip, ts: list[float], counts: dict[str, list[int]]) -> tuple[float, int]:
    """Share of labelled times, with someone surely in a zone and the zone's count sure, where the pipeline's
    count (nearest analysed frame) was exact."""
    if not ts:
        return 0.0, 0
    times = np.asarray(ts)
    ok = total = 0
    for zone_id, series in counts.items():
        low, high = clip.counts(zone_id)
        for t, lo, hi in zip(clip.times, low, high, strict=True):
            if lo != hi or hi == 0:
                continue
            i = int(np.argmin(np.abs(times - t)))
            if abs(times[i] - t) > 0.3:
                continue
            total += 1
            ok += int(series[i] == hi)
    return (ok / total if total else 0.0), total


def evaluate_real(work_dir: Path, detectors: Sequence[DetectorConfig], *, variants: Sequence[str] | None = None,
                  clips: Sequence[str] | None = None, tracking: TrackingConfig | None = None,
                  only_zones: Sequence[str] | None = None,
                  say: Callable[[str], None] = lambda _m: None) -> RealEvaluation:
    """Every copy of every clip (or those named); `only_zones` keeps those zones and their rules (a camera
    whose zones cover part of the frame, as most office cameras' do)."""
    tracking = tracking or TrackingConfig()
    copies = []
    for clip_id in clips or clip_ids():
        clip = load_clip(clip_id)
        if only_zones:
            clip.spec = clip.spec.model_copy(update={
                "zones": [z for z in clip.spec.zones if z.id in only_zones],
                "rules": [r for r in clip.spec.rules if r["zone"] in only_zones]})
        for variant in variants or list(VARIANTS):
            say(f"{clip_id}/{variant} ...")
            rec = record(clip, variant, detectors, tracking, work_dir, say)
            copies.append(replay(clip, variant, rec, tracking))
    result = RealEvaluation(copies)
    for copy in copies:
        for truth, hit in copy.matched:
            s = result.scores.setdefault(truth.rule, RuleScore(truth.rule))
            s.tp += 1
            s.delays.append(hit.raised - truth.start)
        for truth in copy.missed:
            result.scores.setdefault(truth.rule, RuleScore(truth.rule)).fn += 1
        for fa in copy.false_alarms:
            result.scores.setdefault(fa.rule, RuleScore(fa.rule)).fp += 1
    return result
