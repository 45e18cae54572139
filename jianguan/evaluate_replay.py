"""`jianguan evaluate --record DIR` and `--replay DIR`: the library run without the detector.

Detection is ~99 % of a library run (17 minutes on 2 cores). `--record` keeps what the node hands each
camera's analytics (`jianguan.node.AnalysisObserver`): per analysed frame its time, size and detections
(every array of the `sv.Detections`: boxes, confidences, class ids, keypoints, class names...), and the
external events fed to the camera's rules before it, in order. `--replay` runs the same code as the node for
everything after detection: `CameraAnalytics` built by `jianguan.node.camera_analytics`, each frame through
`jianguan.node.analyse_detections`, incidents through the real `AlertManager` (uids, copies, snapshots, the
writer's spool and order) into an `alerts.memory.MemoryAlertStore` instead of PostgreSQL, scored from the same
rows as the full run reads. The table is the full run's, figure for figure.

What is not replayed: camera health (it reads the pixels; no scenario judges it) and the node's own alerts
(overload, storage), which no scenario judges either.

Layout of DIR: `manifest.json` (format, model, the scenarios' specs' digests, the config's fingerprint) and
`cameras/<scenario id>.npz` (numpy arrays only, no pickle). A replay whose library or config no longer
matches the manifest is refused: its detections would be of other videos, or at another rate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from alerts import AlertManager, build_notifier
from alerts.memory import MemoryAlertStore
from analytics.rules import ExternalEvent
from devkit.scenarios import Scenario
from devkit.scenarios.render import RENDER_VERSION
from i18n import N_, Translatable
from jianguan import __version__
from jianguan.config import SiteConfig
from jianguan.node import CameraCounters, NodeReport, analyse_detections, camera_analytics

FORMAT = 1  # raise it when the files' layout changes: an older recording is then refused, not misread
MANIFEST = "manifest.json"
CAMERAS = "cameras"
# The sv.Detections fields besides `data` (a dict of per-detection arrays, stored as "data.<key>").
FIELDS = ("xyxy", "mask", "confidence", "class_id", "tracker_id")


class RecordingError(Translatable, Exception):
    """A recording that cannot be written or replayed, worded for the user (the CLI prints it)."""


# -- recording -------------------------------------------------------------------------------------
@dataclass
class _CameraTape:
    ts: list[float] = field(default_factory=list)
    wh: list[tuple[int, int]] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)  # per frame: field -> array (copied)
    metadata: dict[int, Any] = field(default_factory=dict)  # frame index -> sv.Detections.metadata, where set
    events: list[tuple[int, ExternalEvent]] = field(default_factory=list)  # fed before frame index


class DetectionRecorder:
    """A `jianguan.node.AnalysisObserver` that keeps every analysed frame's detections and events in memory
    (a library run: ~12,000 frames, a few MB) until `save`."""

    def __init__(self) -> None:
        self.cameras: dict[str, _CameraTape] = {}

    def frame(self, camera_id: str, ts: float, frame_wh: tuple[int, int], detections: sv.Detections,
              events: Sequence[ExternalEvent]) -> None:
        tape = self.cameras.setdefault(camera_id, _CameraTape())
        index = len(tape.ts)
        tape.events += [(index, e) for e in events]
        tape.ts.append(float(ts))
        tape.wh.append((int(frame_wh[0]), int(frame_wh[1])))
        # Copies, taken before the analytics sees them: nothing downstream may change what was recorded.
        arrays = {name: _array(name, getattr(detections, name)) for name in FIELDS
                  if getattr(detections, name) is not None}
        for key, value in (detections.data or {}).items():
            arrays[f"data.{key}"] = _array(f"data.{key}", value)
        tape.detections.append(arrays)
        if detections.metadata:
            tape.metadata[index] = json.loads(json.dumps(detections.metadata))

    @property
    def frames(self) -> int:
        return sum(len(t.ts) for t in self.cameras.values())

    def save(self, directory: Path, manifest: dict[str, Any]) -> None:
        """Write one `.npz` per camera, then the manifest (last: a recording cut short has none)."""
        prepare_record_dir(directory)
        (directory / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(directory / CAMERAS, ignore_errors=True)
        (directory / CAMERAS).mkdir(parents=True)
        cameras = {}
        for camera_id, tape in self.cameras.items():
            path = directory / CAMERAS / f"{camera_id}.npz"
            np.savez_compressed(path, **_pack(tape))
            cameras[camera_id] = {"file": f"{CAMERAS}/{path.name}", "frames": len(tape.ts),
                                  "detections": sum(len(d["xyxy"]) for d in tape.detections if "xyxy" in d),
                                  "events": len(tape.events)}
        (directory / MANIFEST).write_text(json.dumps({**manifest, "cameras": cameras}, indent=1, sort_keys=True))


def _array(name: str, value: Any) -> np.ndarray:
    array = np.array(value, copy=True)
    if array.dtype.hasobject:  # npz without pickle cannot hold it, and a pickle is no file to keep
        raise TypeError(f"detections field {name} holds Python objects ({array.dtype}); cannot record it")
    return array


def _pack(tape: _CameraTape) -> dict[str, np.ndarray]:
    """Per field, frames with the same dtype and trailing shape concatenated ("layouts"), so every frame
    comes back with its own dtype: a float32 box must not return float64, the tracker would compute in
    another precision."""
    # In the order first seen: `data` comes back with its keys in the detector's order.
    names = list(dict.fromkeys(name for arrays in tape.detections for name in arrays))
    out: dict[str, np.ndarray] = {
        "ts": np.array(tape.ts, dtype=np.float64),
        "wh": np.array(tape.wh, dtype=np.int64).reshape(-1, 2),
        "n": np.array([len(a["xyxy"]) if "xyxy" in a else 0 for a in tape.detections], dtype=np.int64),
    }
    layouts: dict[str, list[list[Any]]] = {}
    for i, name in enumerate(names):
        kinds: list[list[Any]] = []
        parts: list[list[np.ndarray]] = []
        which = np.full(len(tape.detections), -1, dtype=np.int32)
        for f, arrays in enumerate(tape.detections):
            if name not in arrays:
                continue
            a = arrays[name]
            kind = [a.dtype.str, list(a.shape[1:])]
            if kind not in kinds:
                kinds.append(kind)
                parts.append([])
            k = kinds.index(kind)
            which[f] = k
            parts[k].append(a)
        layouts[name] = kinds
        out[f"f{i}"] = which
        for k, (kind, arrays_k) in enumerate(zip(kinds, parts, strict=True)):
            out[f"f{i}_{k}"] = np.concatenate(arrays_k) if arrays_k else np.empty((0, *kind[1]), kind[0])
    meta = {"fields": names, "layouts": layouts, "metadata": {str(k): v for k, v in tape.metadata.items()},
            "events": [[index, e.ts, e.kind, e.target, dict(e.payload)] for index, e in tape.events]}
    out["meta"] = np.array(json.dumps(meta))
    return out


@dataclass
class Tape:
    """One camera's recording, read back: frames as the node handed them to the analytics."""

    ts: np.ndarray
    wh: np.ndarray
    n: np.ndarray
    fields: list[str]
    which: list[np.ndarray]  # per field: per frame its layout, -1 absent
    values: list[list[np.ndarray]]  # per field, per layout: the frames' rows concatenated
    metadata: dict[int, Any]
    events: dict[int, list[ExternalEvent]]

    def frames(self) -> Iterator[tuple[float, tuple[int, int], sv.Detections, list[ExternalEvent]]]:
        """Per frame: time, size, detections (arrays of their own, dtypes as recorded), events fed before it."""
        offsets = [[0] * len(v) for v in self.values]
        for f in range(len(self.ts)):
            n = int(self.n[f])
            kwargs: dict[str, Any] = {}
            data: dict[str, np.ndarray] = {}
            for i, name in enumerate(self.fields):
                k = int(self.which[i][f])
                if k < 0:
                    continue
                start = offsets[i][k]
                offsets[i][k] = start + n
                value = self.values[i][k][start:start + n].copy()
                if name.startswith("data."):
                    data[name[5:]] = value
                else:
                    kwargs[name] = value
            if "xyxy" not in kwargs:
                kwargs["xyxy"] = np.empty((0, 4), dtype=np.float32)
            det = sv.Detections(**kwargs, data=data, metadata=dict(self.metadata.get(f, {})))
            yield float(self.ts[f]), (int(self.wh[f][0]), int(self.wh[f][1])), det, self.events.get(f, [])


def load_tape(path: Path) -> Tape:
    try:
        return _load_tape(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a file cut short, or not ours
        raise RecordingError(N_("{path} cannot be read: {error}"), path=str(path), error=str(exc)) from None


def _load_tape(path: Path) -> Tape:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        fields = list(meta["fields"])
        which = [z[f"f{i}"] for i in range(len(fields))]
        values = [[z[f"f{i}_{k}"] for k in range(len(meta["layouts"][name]))] for i, name in enumerate(fields)]
        events: dict[int, list[ExternalEvent]] = {}
        for index, ts, kind, target, payload in meta["events"]:
            events.setdefault(int(index), []).append(ExternalEvent(float(ts), kind, target, payload))
        return Tape(z["ts"], z["wh"], z["n"], fields, which, values,
                    {int(k): v for k, v in meta["metadata"].items()}, events)


# -- what a recording was made of --------------------------------------------------------------------
def scenario_digest(sc: Scenario) -> str:
    """The spec as its author wrote it (script, zones, rules, events, truth; not the defaults the code fills
    in, which are code): any change and the recording is of another case."""
    return _digest(sc.model_dump(mode="json", exclude_unset=True))


def config_fingerprint(raw: Mapping[str, Any], config: SiteConfig) -> tuple[str, dict[str, str]]:
    """(site-wide, per camera) digests of the evaluation's config as written (`jianguan.evaluate.site_raw`):
    detectors, alerts, each camera's area and detection settings, and the rate the node analyses it at (the
    frames that were detected). Left out: what names this run's files (paths, streams), and the zones and
    rules, which are the scenario's own (`scenario_digest`)."""
    site = {k: v for k, v in raw.items() if k not in ("paths", "cameras")}
    rates = {c.id: c.analysis_fps for c in config.cameras}
    cameras = {cam["id"]: _digest({**{k: v for k, v in cam.items() if k not in ("streams", "zones", "rules", "name")},
                                   "analysis_fps": rates[cam["id"]]}) for cam in raw["cameras"]}
    return _digest(site), cameras


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def manifest(scenarios: Sequence[Scenario], raw: Mapping[str, Any], config: SiteConfig, *, model: str, imgsz: int,
             base_ts: float) -> dict[str, Any]:
    site, cameras = config_fingerprint(raw, config)
    return {
        "format": FORMAT, "jianguan": __version__, "created_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "model": model, "imgsz": imgsz, "base_ts": base_ts, "render_version": RENDER_VERSION,
        "scenarios": {sc.id: scenario_digest(sc) for sc in scenarios},
        "config": {"site": site, "cameras": cameras},
    }


def prepare_record_dir(directory: Path) -> None:
    """Refuse a folder that holds something else than a recording (a recording is replaced)."""
    if directory.exists() and not directory.is_dir():
        raise RecordingError(N_("{path} is not a folder"), path=str(directory))
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MANIFEST).is_file():
        raise RecordingError(N_("{path} holds files but no recording: choose an empty or new folder for --record"),
                             path=str(directory))
    directory.mkdir(parents=True, exist_ok=True)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise RecordingError(N_("no recording in {path}: make one with `jianguan evaluate --record {path}`"),
                             path=str(directory))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordingError(N_("{path} cannot be read: {error}"), path=str(path), error=str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(N_("{path} was recorded in another format ({found}; this version reads {expected}): "
                                "record it again"), path=str(directory),
                             found=data.get("format") if isinstance(data, dict) else "?", expected=FORMAT)
    return data


def check(recorded: Mapping[str, Any], scenarios: Sequence[Scenario], raw: Mapping[str, Any], config: SiteConfig,
          directory: Path) -> None:
    """Refuse the replay when the scenarios or the config are not those recorded."""
    digests = recorded["scenarios"]
    changed = sorted(sc.id for sc in scenarios if digests.get(sc.id) != scenario_digest(sc))
    if recorded.get("render_version") != RENDER_VERSION:
        changed = ["render version"]
    if changed:
        raise RecordingError(N_("the scenario library changed since {path} was recorded ({what}): record it again"),
                             path=str(directory), what=_few(changed))
    site, cameras = config_fingerprint(raw, config)
    differs = [] if recorded["config"]["site"] == site else ["site"]
    differs += sorted(c for c, d in cameras.items() if recorded["config"]["cameras"].get(c) != d)
    if differs:
        raise RecordingError(N_("the evaluation config changed since {path} was recorded ({what}): record it again"),
                             path=str(directory), what=_few(differs))


def _few(items: Sequence[str], most: int = 5) -> str:
    return ", ".join(items[:most]) + (f" (+{len(items) - most})" if len(items) > most else "")


# -- replay ---------------------------------------------------------------------------------------------
@dataclass
class Replayed:
    found_rows: list[tuple[str, str, str | None, float, float, float | None]]
    report: NodeReport
    run_s: float


def replay_cameras(config: SiteConfig, directory: Path, recorded: Mapping[str, Any], base_ts: float,
                   say: Callable[[str], None] = lambda _m: None) -> Replayed:
    """Every camera of `config` through the node's analytics and alert path, on its recorded detections."""
    started = time.monotonic()
    store = MemoryAlertStore()
    report = NodeReport(base_ts=base_ts, cameras={c.id: CameraCounters() for c in config.cameras})
    with tempfile.TemporaryDirectory(prefix="jianguan-replay-") as tmp:
        areas = {c.id: c.area for c in config.cameras}
        # As the node builds it (jianguan/node.py: Node.run), evidence and spool in a folder of its own.
        manager = AlertManager(store, config.alerts, {n.id: build_notifier(n) for n in config.alerts.notifiers},
                               Path(tmp) / "evidence", site_of=lambda _cam: config.site.id, clips=None,
                               area_of=areas.__getitem__, timezone=config.site.timezone,
                               spool_dir=Path(tmp) / "spool", locale=config.site.language,
                               camera_name_of=config.camera_name, zone_name_of=config.zone_name)
        try:
            for i, cam in enumerate(config.cameras, 1):
                # A camera the node never analysed a frame of has no file: nothing to run, as in the node.
                entry = recorded["cameras"].get(cam.id)
                tape = None if entry is None else load_tape(directory / entry["file"])
                analytics = camera_analytics(cam)
                counters = report.cameras[cam.id]
                blank: dict[tuple[int, int], np.ndarray] = {}  # the evidence picture: no pixels were kept
                last: float | None = None
                for ts, wh, det, events in tape.frames() if tape is not None else ():
                    image = blank.get(wh)
                    if image is None:
                        image = blank[wh] = np.zeros((wh[1], wh[0], 3), np.uint8)
                    counters.frames_analysed += 1
                    counters.detections += len(det)
                    analyse_detections(analytics, manager, ts, wh, det, image, events)
                    last = ts
                if last is not None:  # as the node's end of observation: open incidents end at the last frame
                    for event in analytics.flush(last):
                        manager.handle(event, image, sv.Detections.empty(), None)
                say(f"replayed {i}/{len(config.cameras)}: {cam.id}")
        finally:
            manager.close(wait=True)
    report.incidents = manager.stats.incidents
    report.alerts = manager.stats.alerts_opened
    report.alert_ids = list(manager.stats.alert_ids)
    run_s = time.monotonic() - started
    report.wall_s = run_s
    return Replayed(store.incident_rows(), report, run_s)
