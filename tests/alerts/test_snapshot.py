"""The evidence snapshot an auditor judges at a glance: who the rule counted in the zone, and the finding in
words (in Chinese: OpenCV's own fonts have none, the caption is drawn with Noto Sans CJK)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from alerts.snapshot import INSIDE, OUTSIDE, draw_evidence


def test_people_inside_and_outside_the_zone_differ_and_the_caption_is_chinese():
    image = np.full((240, 320, 3), 40, np.uint8)
    zone = np.array([[0, 120], [160, 120], [160, 240], [0, 240]], np.float32)  # the lower-left quarter
    det = sv.Detections(xyxy=np.array([[20.0, 60, 60, 180], [200, 60, 240, 180]]), confidence=np.array([0.9, 0.8]),
                        class_id=np.array([0, 0]))
    det.data["anchor"] = np.array([[40.0, 180], [220, 180]])  # feet: the first inside, the second outside
    out = draw_evidence(image, det, zone, caption="1号窗口：岗位无人 8 秒  2026-12-07 09:49:02 +08:00")
    assert tuple(out[100, 20]) == INSIDE and tuple(out[100, 200]) == OUTSIDE  # the boxes' left edges
    band = out[:28]
    assert (band > 200).any() and band.mean() < 60  # white glyphs on the black band
    ascii_only = draw_evidence(image, det, zone, caption="?????????? ?????? ?? ??????????")
    assert not np.array_equal(band, ascii_only[:28])  # the Chinese drew glyphs, not question marks
