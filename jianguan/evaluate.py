"""`jianguan evaluate`: run the real pipeline on the labelled scenarios and judge every rule.

Each scenario becomes one camera of a throw-away site whose source is the scenario's rendered video; the
ordinary `Node` analyses them all at once (one batched detector, per-camera tracking, zones, rules, alert
manager, database), exactly as it would live cameras. The incidents it stores are then matched against the
ground truth: per rule, precision, recall and the delay from the true start of a violation to the alert.

With `via_rtsp`, the scenarios are served instead as live cameras by the RTSP simulator and analysed in real
time, a few at a time (`jianguan.evaluate_rtsp`).

With `record`, what the node hands each camera's analytics is kept, and `replay` runs everything after the
detector again on it, without detector or database, for the same table in seconds (`jianguan.evaluate_replay`).
"""

from __future__ import annotations

import fnmatch
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pydantic import TypeAdapter

from analytics.rule_config import RuleConfig, analysis_fps
from analytics.rules import ExternalEvent
from devkit.scenarios import Scenario, SpriteBank, Truth, render
from i18n import N_
from jianguan.config import SiteConfig, parse_config
from jianguan.node import Node, NodeReport, preflight

MATCH_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class Found:
    """An incident the pipeline reported, in seconds from the start of its scenario."""

    rule: str
    zone: str | None
    start: float
    raised: float
    end: float | None


@dataclass
class RuleScore:
    rule: str
    threshold_s: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def median_delay_s(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def delay_over_threshold_s(self) -> float | None:
        """How much later than the rule's own threshold the alert came, in the median."""
        d = self.median_delay_s
        return None if d is None else d - self.threshold_s


@dataclass
class ScenarioOutcome:
    scenario: Scenario
    found: list[Found]
    matched: list[tuple[Truth, Found]]
    missed: list[Truth]
    false_alarms: list[Found]

    @property
    def correct(self) -> bool:
        return not self.missed and not self.false_alarms


@dataclass
class Evaluation:
    outcomes: list[ScenarioOutcome]
    scores: dict[str, RuleScore]
    node: NodeReport
    render_s: float
    run_s: float
    mode: str = "files"  # or "rtsp": live cameras from the RTSP simulator, in real time; "replay": recorded
    warnings: list[str] = field(default_factory=list)  # what makes a live run's figures less trustworthy


def match(truths: Sequence[Truth], found: Sequence[Found], tolerance_s: float = MATCH_TOLERANCE_S
          ) -> tuple[list[tuple[Truth, Found]], list[Truth], list[Found]]:
    """Pair each true incident with the earliest-raised reported one of the same rule and zone whose interval
    overlaps it (give or take `tolerance_s`). What is left over is missed, or a false alarm.

    >>> t = [Truth(rule="r", zone="z", start=10, end=40)]
    >>> f = [Found("r", "z", 10.4, 30.4, 40.2), Found("r", "z", 50.0, 60.0, None)]
    >>> pairs, missed, extra = match(t, f)
    >>> (len(pairs), len(missed), [x.start for x in extra])
    (1, 0, [50.0])
    """
    pairs: list[tuple[Truth, Found]] = []
    missed: list[Truth] = []
    left = sorted(found, key=lambda f: f.raised)
    for truth in sorted(truths, key=lambda t: t.start):
        hit = next((f for f in left if f.rule == truth.rule and (truth.zone is None or f.zone == truth.zone)
                    and f.start <= truth.end + tolerance_s
                    and (f.end if f.end is not None else f.raised) >= truth.start - tolerance_s), None)
        if hit is None:
            missed.append(truth)
        else:
            pairs.append((truth, hit))
            left.remove(hit)
    return pairs, missed, left


def threshold_of(scenario: Scenario, rule: str) -> float:
    for cfg in scenario.rules:
        if cfg["type"] == rule:
            return float(cfg.get("seconds", 0.0))
    return 0.0


def score(scenarios: Sequence[Scenario], found: dict[str, list[Found]]) -> tuple[list[ScenarioOutcome],
                                                                                   dict[str, RuleScore]]:
    """Outcomes per scenario and scores per rule. Only the rules a scenario configures are judged on it."""
    outcomes, scores = [], {}
    for sc in scenarios:
        judged = [f for f in found.get(sc.id, []) if f.rule in sc.rule_names]
        pairs, missed, extra = match(sc.truth, judged)
        outcomes.append(ScenarioOutcome(sc, judged, pairs, missed, extra))
        for rule in sorted(sc.rule_names):
            s = scores.setdefault(rule, RuleScore(rule, threshold_of(sc, rule)))
            s.tp += sum(1 for t, _ in pairs if t.rule == rule)
            s.fn += sum(1 for t in missed if t.rule == rule)
            s.fp += sum(1 for f in extra if f.rule == rule)
            s.delays += [f.raised - t.start for t, f in pairs if t.rule == rule]
    return outcomes, scores


def site_config(scenarios: Sequence[Scenario], videos: Mapping[str, Path | str], data_dir: Path, *, model: str,
                imgsz: int, live: bool = False, env: Mapping[str, str] | None = None) -> SiteConfig:
    """A throw-away site with one camera per scenario; `videos` are the streams (files, or rtsp:// URLs whose
    password is a `${VAR}` reference, as in a real site's config, filled from `env`)."""
    raw = site_raw(scenarios, videos, data_dir, model=model, imgsz=imgsz, live=live)
    return parse_config(raw, env=None if env is None else dict(env), source="scenario library")


def site_raw(scenarios: Sequence[Scenario], videos: Mapping[str, Path | str], data_dir: Path, *, model: str,
             imgsz: int, live: bool = False) -> dict[str, Any]:
    """`site_config`'s config as written, before validation (a recording keeps its fingerprint)."""
    raw: dict[str, Any] = {
        "site": {"id": "evaluation", "name": "Scenario library"},
        "paths": {"data_dir": str(data_dir)},
        # People and pose on every camera; vehicles and phones from the COCO detector where a rule needs them.
        "detectors": [{"name": "pose", "kind": "yolo", "model": model, "imgsz": imgsz, "confidence": 0.3},
                      {"name": "objects", "kind": "nanodet", "imgsz": 416, "confidence": 0.3,
                       "classes": list(OBJECT_CLASSES)}],
        "alerts": {"cooldown_s": 0},
        "cameras": [{
            "id": sc.id, "name": sc.title,
            "area": {"window": "window", "lane": "inspection_lane", "exam": "exam_room"}[sc.scene],
            "streams": {"detect": str(videos[sc.id])},
            "detect": {"fps": sc.fps, "detectors": ["pose", "objects"] if _needs_objects(sc) else ["pose"]},
            "record": {"enabled": False},
            "zones": [z.model_dump() for z in sc.zones],
            "rules": sc.rules,
        } for sc in scenarios],
    }
    if live:
        # Every camera opens at once: each scenario's clock starts when its own stream plays (no stagger).
        raw["recording"] = {"start_stagger_s": 0}
    return raw


OBJECT_CLASSES = (2, 3, 5, 7, 67)  # car, motorcycle, bus, truck, cell phone
_RULES = TypeAdapter(RuleConfig)


def analysis_rate(sc: Scenario) -> float:
    """Frames/s the node analyses the scenario's camera at: the rate its rules need, at most the scenario's."""
    return analysis_fps([_RULES.validate_python(rule) for rule in sc.rules], sc.fps)


def _needs_objects(sc: Scenario) -> bool:
    """Whether a rule of the scenario reads vehicles or phones (the rule config classes say so)."""
    return any(type(_RULES.validate_python(rule)).needs_objects for rule in sc.rules)


# An incidents row as scored: camera, rule, zone, started, raised, ended (epoch seconds).
IncidentRow = tuple[str, str, str | None, float, float, float | None]


def load_found(dsn: str, base_ts: float, camera_ids: Sequence[str],
               bases: Mapping[str, float] | None = None) -> dict[str, list[Found]]:
    """Incidents of this run, in seconds from each scenario's time zero: `base_ts` for every camera, or the
    camera's own in `bases` (live cameras each start their scenario at their own moment)."""
    zero = {cam: (bases or {}).get(cam, base_ts) for cam in camera_ids}
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT camera_id, rule, zone_id, extract(epoch FROM started_at), (evidence->>'raised_at')::float8,"
            " extract(epoch FROM ended_at) FROM incidents WHERE camera_id = ANY(%s)"
            # only this run's: its frame times start at base_ts (an earlier run in the same database is older)
            " AND (evidence->>'raised_at')::float8 >= %s ORDER BY id",
            (list(camera_ids), min(zero.values(), default=base_ts))).fetchall()
    return found_of(rows, zero)


def found_of(rows: Sequence[IncidentRow], zero: Mapping[str, float]) -> dict[str, list[Found]]:
    """Incidents rows (in the order they were recorded) as `Found`, relative to their camera's time zero: the
    part of `load_found` a replay shares, with the rows of `alerts.memory.MemoryAlertStore`. Only this run's:
    an incident raised before the earliest time zero is of an earlier run in the same database."""
    since = min(zero.values(), default=0.0)
    out: dict[str, list[Found]] = {}
    for cam, rule, zone, start, raised, end in rows:
        if cam not in zero or float(raised) < since:
            continue
        z = zero[cam]
        out.setdefault(cam, []).append(Found(rule, zone, float(start) - z, float(raised) - z,
                                             None if end is None else float(end) - z))
    return out


def evaluate(scenarios: Sequence[Scenario], work_dir: Path, dsn: str, *, model: str = "yolo11n-pose.pt",
             imgsz: int = 640, say: Callable[[str], None] = lambda _m: None, via_rtsp: bool = False,
             rtsp_batch: int = 2, record: Path | None = None) -> Evaluation:
    """Render (cached), run one node over every scenario, and score what it found.

    `via_rtsp`: serve the scenarios as live cameras from the RTSP simulator instead, `rtsp_batch` at a time
    in real time (see `jianguan.evaluate_rtsp.run_live`). `record`: a folder to keep every analysed frame's
    detections in, for `replay` (files only: a live run's frames depend on timing)."""
    recorder = None
    if record is not None:
        if via_rtsp:
            raise ValueError("a live run cannot be recorded for replay")
        from jianguan.evaluate_replay import DetectionRecorder, manifest, prepare_record_dir

        prepare_record_dir(record)  # before the long run: refuse a wrong folder now
        recorder = DetectionRecorder()
    started = time.monotonic()
    bank = SpriteBank(work_dir / "sprites")
    videos = {}
    for i, sc in enumerate(scenarios, 1):
        videos[sc.id] = render(sc, bank, work_dir)
        say(f"rendered {i}/{len(scenarios)}: {sc.id}")
    render_s = time.monotonic() - started
    if via_rtsp:
        from jianguan.evaluate_rtsp import run_live

        ran = time.monotonic()
        live = run_live(scenarios, videos, work_dir, dsn, model=model, imgsz=imgsz, batch=rtsp_batch, say=say)
        outcomes, scores = score(scenarios, live.found)
        return Evaluation(outcomes, scores, live.report, render_s, time.monotonic() - ran, "rtsp", live.warnings)
    raw = site_raw(scenarios, videos, work_dir / "run", model=model, imgsz=imgsz)
    config = parse_config(raw, source="scenario library")
    base_ts = float(int(time.time()))
    ran = time.monotonic()
    frames_total = sum(int(sc.duration_s * sc.fps) for sc in scenarios)

    def progress(report: NodeReport) -> None:
        say(f"analysed {report.frames}/{frames_total} frames")

    node = Node(config, dsn, checked=preflight(config), base_ts=base_ts, progress=progress,
                progress_every_s=10.0, drain_s=0.0, observer=recorder)
    for sc in scenarios:
        for e in sc.events:
            node.post_event(sc.id, ExternalEvent(base_ts + e.t, e.kind, e.zone or "*", e.payload))
    report = node.run()
    run_s = time.monotonic() - ran
    if recorder is not None and record is not None:
        recorder.save(record, manifest(scenarios, raw, config, model=model, imgsz=imgsz, base_ts=base_ts))
        say(f"recorded {recorder.frames} frames of {len(recorder.cameras)} cameras in {record}")
    outcomes, scores = score(scenarios, load_found(dsn, base_ts, [sc.id for sc in scenarios]))
    return Evaluation(outcomes, scores, report, render_s, run_s)


def replay(directory: Path, scenarios: Sequence[Scenario], *, patterns: Sequence[str] = (),
           model: str | None = None, imgsz: int | None = None, say: Callable[[str], None] = lambda _m: None
           ) -> Evaluation:
    """Score a recording (`evaluate(record=...)`) again: tracking, zones, rules and alerts on the recorded
    detections, no detector, no database. `scenarios`: the library now, whose recorded cases (those matching
    `patterns`, all when none) are replayed; a library or config other than the recorded is refused
    (`RecordingError`), as are `model`/`imgsz` other than the recording's."""
    from jianguan.evaluate_replay import RecordingError, check, read_manifest, replay_cameras

    directory = Path(directory)
    recorded = read_manifest(directory)
    for name, wanted in (("model", model), ("imgsz", imgsz)):
        if wanted is not None and wanted != recorded[name]:
            raise RecordingError(N_("{path} was recorded with {option} {recorded}, not {wanted}"),
                                 path=str(directory), option=f"--{name}", recorded=recorded[name], wanted=wanted)
    library = {sc.id: sc for sc in scenarios}
    ids = [i for i in recorded["scenarios"] if not patterns or any(fnmatch.fnmatch(i, p) for p in patterns)]
    if not ids:
        raise RecordingError(N_("no recorded scenario matches {patterns} ({count} recorded)"),
                             patterns=", ".join(patterns), count=len(recorded["scenarios"]))
    gone = [i for i in ids if i not in library]
    if gone:
        raise RecordingError(N_("the scenario library changed since {path} was recorded ({what}): record it again"),
                             path=str(directory), what=", ".join(gone[:5]))
    # In the library's order, as the full run judged them (the table lists the scenarios in error in it).
    chosen = [sc for sc in scenarios if sc.id in set(ids)]
    ids = [sc.id for sc in chosen]
    # The config the recording run had for these cameras, but for its files' locations (which the fingerprint
    # leaves out). Cameras are analysed independently, so a subset replays as it ran among all of them.
    raw = site_raw(chosen, {i: f"{i}.mp4" for i in ids}, directory / "run", model=recorded["model"],
                   imgsz=int(recorded["imgsz"]))
    config = parse_config(raw, source="scenario library")
    check(recorded, chosen, raw, config, directory)
    base_ts = float(recorded["base_ts"])
    done = replay_cameras(config, directory, recorded, base_ts, say=say)
    outcomes, scores = score(chosen, found_of(done.found_rows, dict.fromkeys(ids, base_ts)))
    return Evaluation(outcomes, scores, done.report, 0.0, done.run_s, "replay")


def format_table(evaluation: Evaluation) -> str:
    lines = [f"{'rule':<26} {'scen':>4} {'TP':>3} {'FP':>3} {'FN':>3} {'precision':>9} {'recall':>6} "
             f"{'threshold':>9} {'median delay':>12} {'over':>6}"]
    counts: dict[str, int] = {}
    for o in evaluation.outcomes:
        for rule in o.scenario.rule_names:
            counts[rule] = counts.get(rule, 0) + 1
    for rule, s in sorted(evaluation.scores.items()):
        delay = "-" if s.median_delay_s is None else f"{s.median_delay_s:.1f} s"
        over = "-" if s.delay_over_threshold_s is None else f"{s.delay_over_threshold_s:+.1f}"
        lines.append(f"{rule:<26} {counts.get(rule, 0):>4} {s.tp:>3} {s.fp:>3} {s.fn:>3} {s.precision:>9.2f} "
                     f"{s.recall:>6.2f} {s.threshold_s:>7.0f} s {delay:>12} {over:>6}")
    wrong = [o for o in evaluation.outcomes if not o.correct]
    for o in wrong:
        why = [f"missed {t.rule}@{t.zone} {t.start:.0f}-{t.end:.0f}s" for t in o.missed]
        why += [f"false {f.rule}@{f.zone} raised {f.raised:.1f}s" for f in o.false_alarms]
        lines.append(f"  x {o.scenario.id}: {'; '.join(why)}")
    frames = evaluation.node.frames
    if evaluation.mode == "replay":  # no rendering, no detection: the time is the analytics' alone
        lines.append(f"{len(evaluation.outcomes)} scenarios (replayed from recorded detections), {len(wrong)} with "
                     f"errors; {frames} frames replayed in {evaluation.run_s:.1f} s "
                     f"({frames / max(evaluation.run_s, 1e-6):.0f} frames/s)")
        return "\n".join(lines)
    via = " (live, through the RTSP simulator)" if evaluation.mode == "rtsp" else ""
    lines.append(f"{len(evaluation.outcomes)} scenarios{via}, {len(wrong)} with errors; {frames} frames analysed in "
                 f"{evaluation.run_s:.0f} s ({frames / max(evaluation.run_s, 1e-6):.1f} frames/s); "
                 f"rendering {evaluation.render_s:.0f} s")
    lines += [f"  ! {w}" for w in evaluation.warnings]
    return "\n".join(lines)
