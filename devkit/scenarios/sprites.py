"""Sprites: real people (and things) cut out of real photos, to be composited into office scenes.

A sprite is a BGRA image: the pixels of the photo and an alpha mask from GrabCut. For people, GrabCut is
seeded with the skeleton that the pose model finds in the photo (limbs drawn as sure foreground), which
keeps legs and arms that a plain rectangle seed loses against a busy background. Cut-outs are built once
and cached as PNG files; the catalogue below is the only place that names source pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import supervision as sv

from devkit.scenarios.media import media_path

CATALOGUE_VERSION = 4  # 4: GrabCut seeded, so a sprite no longer depends on what was cut before it

# COCO skeleton pairs: arms, shoulders, torso, legs, nose to shoulders.
_LIMBS = [(5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14),
          (14, 16), (0, 5), (0, 6)]


@dataclass(frozen=True)
class SpriteSource:
    id: str
    media: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the subject in the source photo
    kind: Literal["person", "vehicle", "object"]
    note: str
    # Objects only: the object's outline traced in the photo, used as the cut-out instead of GrabCut
    outline: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class Held:
    """A person holding an object, made into one sprite: the object's cut-out pasted over the person's hand.

    Small objects such as phones are found by a detector far more readily in a hand than lying alone, so the
    hand is kept as context. `at` is where the object's centre goes and `width` its width, both relative to
    the person's cut-out; `angle` turns the object (degrees, counter-clockwise).
    """

    id: str
    person: str
    thing: str
    at: tuple[float, float]
    width: float
    angle: float
    note: str


CATALOGUE: tuple[SpriteSource, ...] = (
    SpriteSource("coat", "ultralytics:bus.jpg", (48, 400, 244, 906), "person",
                 "man in a beige coat, standing, facing the camera"),
    SpriteSource("black", "ultralytics:bus.jpg", (223, 405, 344, 859), "person",
                 "man in a black coat, standing, facing the camera, hands at the chest"),
    SpriteSource("player", "opencv:basketball1.png", (33, 80, 170, 479), "person",
                 "basketball player, standing, facing the camera"),
    SpriteSource("suit", "ultralytics:zidane.jpg", (744, 37, 1142, 710), "person",
                 "man in a suit, upper body, facing the camera"),
    SpriteSource("turned", "ultralytics:zidane.jpg", (140, 204, 760, 714), "person",
                 "man in a suit, upper body, head turned to his left (image right)"),
    SpriteSource("car", "opencv:licenseplate_motion.jpg", (20, 10, 580, 470), "vehicle",
                 "silver saloon seen from behind, motion-blurred (as a lane camera sees it)"),
    # The only phone photo shipped in our packages that NanoDet finds in a hand at scene scale: the dnn YOLO
    # tutorial's picture (a real iPhone 4 on a table cloth). Its drawn result label covers the phone's top
    # corner, so the outline stops below the label.
    SpriteSource("iphone", "opencv-doc:yolo.jpg", (118, 522, 398, 750), "object",
                 "smartphone (iPhone 4), screen on, lying at an angle",
                 outline=((124, 566), (203, 541), (247, 541), (388, 653), (331, 744))),
)

# The hand: the pose model's wrist keypoint and the tip of the pointing fingers on the cut-out. NanoDet finds
# the phone held out at the fingertips, against the background (conf 0.5, hit rate >= 92 % with the person
# 0.75-0.9 of the frame high); laid over a coat at the chest (the "black" and "coat" people) it does not
# (median 0.1): see docs/evaluation.md.
HELD: tuple[Held, ...] = (
    Held("suit-phone", "suit", "iphone", (0.95, 0.50), 0.22, -20.0,
         "man in a suit holding a phone out at his fingertips"),
    Held("suit-phone-tilted", "suit", "iphone", (0.95, 0.50), 0.22, 20.0,
         "man in a suit holding a phone out at his fingertips, tilted the other way"),
)


def _skeleton_seed(mask: np.ndarray, keypoints: np.ndarray, offset: tuple[int, int], width: int) -> None:
    dx, dy = offset
    thick = max(3, int(width * 0.12))
    for value, scale in ((cv2.GC_PR_FGD, 3), (cv2.GC_FGD, 1)):
        for a, b in _LIMBS:
            if keypoints[a, 2] > 0.5 and keypoints[b, 2] > 0.5:
                pa = (int(keypoints[a, 0] - dx), int(keypoints[a, 1] - dy))
                pb = (int(keypoints[b, 0] - dx), int(keypoints[b, 1] - dy))
                cv2.line(mask, pa, pb, value, thick * scale)
    if keypoints[0, 2] > 0.5:
        cv2.circle(mask, (int(keypoints[0, 0] - dx), int(keypoints[0, 1] - dy)), thick * 2, cv2.GC_FGD, -1)


def cut_out(image: np.ndarray, box: tuple[int, int, int, int], keypoints: np.ndarray | None,
            pad: int = 10, outline: tuple[tuple[int, int], ...] | None = None) -> np.ndarray:
    """BGRA cut-out of the subject in `box`: GrabCut, seeded by `keypoints` (17, 3) for a person; or, given an
    `outline` (a polygon in image pixels), that polygon."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)  # noqa: N806
    crop = image[Y0:Y1, X0:X1].copy()
    mask = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    mask[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0] = cv2.GC_PR_BGD if keypoints is not None else cv2.GC_PR_FGD
    if keypoints is not None:
        _skeleton_seed(mask, keypoints, (X0, Y0), x1 - x0)
    if outline is not None:
        # A traced outline is the cut-out itself: GrabCut keeps a phone's bright screen and drops its dark rim,
        # which differs from the screen more than from the background.
        mask[:] = cv2.GC_BGD
        cv2.fillPoly(mask, [np.array(outline, np.int32) - (X0, Y0)], cv2.GC_FGD)
    else:
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        # GrabCut's colour models start from k-means on OpenCV's global RNG: unseeded, a sprite's mask
        # depended on how many cut-outs came before it in the process, so two runs rendered different people.
        cv2.setRNGSeed(0)
        cv2.grabCut(crop, mask, None, bgd, fgd, 6, cv2.GC_INIT_WITH_MASK)
    alpha = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(alpha)
    if n > 1:  # keep the subject, drop specks of look-alike background
        keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        alpha = np.where(labels == keep, 255, 0).astype(np.uint8)
    alpha = cv2.GaussianBlur(alpha, (5, 5), 0)
    ys, xs = np.nonzero(alpha > 8)
    rgba = np.dstack([crop, alpha])
    return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def hold(person: np.ndarray, thing: np.ndarray, how: Held) -> np.ndarray:
    """`person` (BGRA) with `thing` (BGRA) pasted over it as `how` says. Where the thing sticks out sideways the
    canvas grows on both sides, so the person stays centred over the same feet; it must not stick out above or
    below (that would change the person's scale when pasted at a height)."""
    h, w = person.shape[:2]
    turn = cv2.getRotationMatrix2D((thing.shape[1] / 2, thing.shape[0] / 2), how.angle, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    tw, th = int(thing.shape[1] * cos + thing.shape[0] * sin), int(thing.shape[1] * sin + thing.shape[0] * cos)
    turn[:, 2] += ((tw - thing.shape[1]) / 2, (th - thing.shape[0]) / 2)
    turned = cv2.warpAffine(thing, turn, (tw, th), flags=cv2.INTER_LINEAR)
    scale = how.width * w / thing.shape[1]  # the width of the object before it is turned
    small = cv2.resize(turned, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    x0, y0 = int(round(how.at[0] * w - sw / 2)), int(round(how.at[1] * h - sh / 2))
    if y0 < 0 or y0 + sh > h:
        raise ValueError(f"{how.id}: the {how.thing} sticks out above or below the {how.person}")
    grow = max(0, -x0, x0 + sw - w)
    canvas = np.zeros((h, w + 2 * grow, 4), np.uint8)
    canvas[:, grow:grow + w] = person
    x0 += grow
    region = canvas[y0:y0 + sh, x0:x0 + sw].astype(np.float32)
    alpha = small[..., 3:4].astype(np.float32) / 255.0
    region[..., :3] = region[..., :3] * (1 - alpha) + small[..., :3] * alpha
    region[..., 3:] = np.maximum(region[..., 3:], small[..., 3:])
    canvas[y0:y0 + sh, x0:x0 + sw] = region.astype(np.uint8)
    return canvas


class SpriteBank:
    """Builds the catalogue's cut-outs on first use and keeps them as PNG files in `cache_dir`.

    The pose model seeds people's cut-outs; it is loaded only when a sprite must be (re)built.
    """

    def __init__(self, cache_dir: Path, pose_model: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.pose_model = pose_model
        self._loaded: dict[str, np.ndarray] = {}
        self._model = None

    def get(self, sprite_id: str) -> np.ndarray:
        """The BGRA sprite `id` (catalogue id, optionally with `:upper` for the top 55 %)."""
        base, _, part = sprite_id.partition(":")
        if sprite_id not in self._loaded:
            rgba = self._load(base)
            if part == "upper":
                rgba = rgba[: int(rgba.shape[0] * 0.55)]
            elif part:
                raise KeyError(f"unknown sprite part {part!r} in {sprite_id!r}")
            self._loaded[sprite_id] = rgba
        return self._loaded[sprite_id]

    def _load(self, sprite_id: str) -> np.ndarray:
        held = next((h for h in HELD if h.id == sprite_id), None)
        if held is not None:
            return hold(self.get(held.person), self.get(held.thing), held)
        source = next((s for s in CATALOGUE if s.id == sprite_id), None)
        if source is None:
            known = [s.id for s in CATALOGUE] + [h.id for h in HELD]
            raise KeyError(f"no sprite {sprite_id!r}; known: {', '.join(known)}")
        path = self.cache_dir / f"{sprite_id}.v{CATALOGUE_VERSION}.png"
        if path.is_file():
            return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(str(media_path(source.media)))
        keypoints = self._keypoints(image, source.box) if source.kind == "person" else None
        rgba = cut_out(image, source.box, keypoints, outline=source.outline)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rgba)
        meta = {"source": source.media, "box": source.box, "note": source.note, "version": CATALOGUE_VERSION}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
        return rgba

    def _keypoints(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        if self._model is None:
            from ultralytics import YOLO

            from analytics.detectors.yolo import resolve_model

            self._model = YOLO(str(resolve_model(self.pose_model or "yolo11n-pose.pt")))
        result = self._model.predict(image, imgsz=640, conf=0.25, verbose=False)[0]
        boxes = result.boxes.xyxy.cpu().numpy()
        if not len(boxes):
            return None
        best = int(np.argmax(sv.box_iou_batch(boxes, np.array([box], dtype=float))[:, 0]))
        return result.keypoints.data.cpu().numpy()[best]
