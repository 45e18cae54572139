"""Evidence snapshot: the frame with the zone and the boxes drawn, saved as JPEG with its sha256."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
from PIL import Image, ImageDraw, ImageFont

from analytics.geometry import ANCHOR_ANKLES

log = logging.getLogger(__name__)

INSIDE, OUTSIDE = (0, 140, 255), (0, 255, 0)  # BGR: orange, green


def draw_evidence(
    image: np.ndarray,
    detections: sv.Detections,
    zone_polygon: np.ndarray | None = None,
    caption: str = "",
) -> np.ndarray:
    """A copy of `image` with the zone outlined and every detection boxed and labelled, with the point each
    person was placed by (`data["anchor"]`: a filled dot where the feet were seen, a ring where they were
    projected from the knees or hips because something hid them), orange when that point is inside the zone,
    green outside. People the analytics only remembers (lost for a moment, or behind an occluder) are boxed
    in grey."""
    canvas = image.copy()
    if zone_polygon is not None and len(zone_polygon):
        pts = zone_polygon.astype(np.int32).reshape(-1, 1, 2)
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [pts], (0, 0, 255))
        canvas = cv2.addWeighted(overlay, 0.2, canvas, 0.8, 0)
        cv2.polylines(canvas, [pts], True, (0, 0, 255), 2)
    ids = detections.tracker_id
    conf = detections.confidence
    data = detections.data or {}
    anchors = data.get("anchor")
    kinds = data.get("anchor_kind")
    remembered = data.get("remembered")
    zone = zone_polygon.astype(np.float32).reshape(-1, 1, 2) if zone_polygon is not None and len(zone_polygon) else None
    for i, (x0, y0, x1, y1) in enumerate(detections.xyxy.astype(int)):
        ghost = remembered is not None and bool(remembered[i])
        # Inside the zone by the point the rules use (the anchor): orange; outside: green. An auditor sees at
        # a glance whom the rule counted in the zone.
        inside = (zone is not None and anchors is not None and len(anchors) == len(detections)
                  and cv2.pointPolygonTest(zone, (float(anchors[i][0]), float(anchors[i][1])), False) >= 0)
        colour = (160, 160, 160) if ghost else INSIDE if inside else OUTSIDE
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 1 if ghost else 2)
        if anchors is not None and len(anchors) == len(detections):
            ax, ay = (int(round(float(v))) for v in anchors[i])
            seen_feet = kinds is None or int(kinds[i]) <= ANCHOR_ANKLES
            if not seen_feet:
                cv2.line(canvas, (ax, y1), (ax, ay), (0, 255, 255), 1, cv2.LINE_AA)
            cv2.circle(canvas, (ax, ay), 4, (0, 255, 255), -1 if seen_feet else 2, cv2.LINE_AA)
        label = []
        if ids is not None and int(ids[i]) >= 0:  # -1: seen, but not (yet) a confirmed track
            label.append(f"#{int(ids[i])}")
        if conf is not None:
            label.append(f"{float(conf[i]):.2f}")
        if label:
            cv2.putText(canvas, " ".join(label), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)
    if caption:
        canvas = draw_caption(canvas, caption)
    return canvas


# Noto Sans CJK (Debian's fonts-noto-cjk, installed by scripts/setup.sh): OpenCV's fonts have no Chinese.
CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
SC_INDEX = 2  # in the .ttc: JP, KR, SC, TC, HK; SC draws simplified Chinese with mainland glyph forms


@functools.cache
def _cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    for path in CJK_FONTS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size, index=SC_INDEX)
    log.warning("no CJK font (%s): snapshot captions fall back to ASCII", CJK_FONTS[0])
    return None


def draw_caption(canvas: np.ndarray, caption: str, height: int = 28) -> np.ndarray:
    """`caption` on a black band across the top of the picture, in Chinese where it is Chinese."""
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1], height), (0, 0, 0), -1)
    font = _cjk_font(height - 8)
    if font is None:
        text = caption.encode("ascii", "replace").decode()
        cv2.putText(canvas, text, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas
    band = Image.fromarray(cv2.cvtColor(canvas[:height], cv2.COLOR_BGR2RGB))
    ImageDraw.Draw(band).text((6, 3), caption, font=font, fill=(255, 255, 255))
    canvas[:height] = cv2.cvtColor(np.asarray(band), cv2.COLOR_RGB2BGR)
    return canvas


def write_jpeg(image: np.ndarray, path: Path, quality: int = 88) -> str:
    """Write atomically and return the sha256 of the bytes written."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path.name}")
    data = buf.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
