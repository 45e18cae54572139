"""Render a scenario to an H.264 MP4: real background, real cut-out people, scripted motion.

The background is the empty scene of real footage (the per-pixel median over the video, which removes the
passers-by). Each frame gets a little seeded sensor noise, so that no two frames are bit-identical, as in a
real camera. Actors and props are drawn far-to-near (by where they meet the floor).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from devkit.scenarios.media import media_path
from devkit.scenarios.spec import Prop, Scenario
from devkit.scenarios.sprites import SpriteBank

RENDER_VERSION = 2  # 2: sprites v4 (deterministic GrabCut)


def empty_scene(media: str, size: tuple[int, int], cache_dir: Path) -> np.ndarray:
    """The median of 50 frames spread over the video, resized to `size`; cached as PNG."""
    path = cache_dir / f"background-{media.replace(':', '_').replace('/', '_')}-{size[0]}x{size[1]}.png"
    if path.is_file():
        return cv2.imread(str(path))
    cap = cv2.VideoCapture(str(media_path(media)))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    frames = []
    for i in np.linspace(0, count - 1, 50).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    cap.release()
    if not frames:
        raise RuntimeError(f"no frame could be read from {media}")
    scene = cv2.resize(np.median(np.stack(frames), axis=0).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), scene)
    return scene


def _paste(canvas: np.ndarray, rgba: np.ndarray, foot: tuple[float, float], height_px: int, flip: bool) -> None:
    scale = height_px / rgba.shape[0]
    sprite = cv2.resize(rgba, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if flip:
        sprite = sprite[:, ::-1]
    h, w = sprite.shape[:2]
    x0, y0 = int(round(foot[0] - w / 2)), int(round(foot[1] - h))
    H, W = canvas.shape[:2]  # noqa: N806
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    part = sprite[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    alpha = part[..., 3:4].astype(np.float32) / 255.0
    region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = (region * (1 - alpha) + part[..., :3] * alpha).astype(np.uint8)


def frames(scenario: Scenario, sprites: SpriteBank, cache_dir: Path) -> Iterator[np.ndarray]:
    """The scenario's frames in order, BGR."""
    w, h = scenario.size
    scene = empty_scene(scenario.background, scenario.size, cache_dir)
    rng = np.random.default_rng(int(scenario.digest()[:8], 16))
    n = int(round(scenario.duration_s * scenario.fps))
    for i in range(n):
        t = i / scenario.fps
        canvas = scene.copy()
        # Depth order: whatever stands further back (smaller y at its bottom) is drawn first, so a desk
        # hides the legs of the candidate behind it but not the examiner walking in front of it.
        layers: list[tuple[float, object, tuple[float, float]]] = []
        for actor in scenario.actors:
            for seg in actor.segments:
                if seg.t0 <= t < seg.t1:
                    x, y = seg.position(t)
                    layers.append((y, seg, (x * w, y * h)))
                    break
        for prop in scenario.props:
            layers.append((prop.box[3], prop, (0.0, 0.0)))
        for _, item, foot in sorted(layers, key=lambda layer: layer[0]):
            if isinstance(item, Prop):
                x0, y0, x1, y1 = item.box
                cv2.rectangle(canvas, (int(x0 * w), int(y0 * h)), (int(x1 * w), int(y1 * h)), item.color, -1)
            else:
                _paste(canvas, sprites.get(item.sprite), foot, int(item.height * h), item.flip)
        noise = rng.normal(0.0, 2.0, canvas.shape).astype(np.int16)
        yield np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def render(scenario: Scenario, sprites: SpriteBank, cache_dir: Path) -> Path:
    """Path of the scenario's MP4, rendered on first use (keyed by the script's digest)."""
    out = cache_dir / "videos" / f"{scenario.id}-{scenario.digest()}-r{RENDER_VERSION}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=int(round(scenario.fps)))
        stream.width, stream.height = scenario.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast", "g": str(int(round(scenario.fps)) * 2)}
        for image in frames(scenario, sprites, cache_dir):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(out)
    return out
