"""Camera health: the measures on hand-made images where the answer is computed by hand, then each detector
on real footage (vtest.avi) made blurred, shifted, rotated, black or frozen, and clean footage raising nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from analytics.health import (
    CameraHealth,
    CameraHealthConfig,
    analysis_gray,
    changed_fraction,
    luma_stats,
    scene_shift,
    sharpness,
)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
needs_vtest = pytest.mark.skipif(not VTEST.exists(), reason="needs vtest.avi (apt-get install opencv-doc)")


def vtest_frames(fps: float = 5.0, limit_s: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds into the footage, BGR frame) at about `fps` (the footage is 10 fps)."""
    step = max(1, round(10 / fps))
    with av.open(str(VTEST)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if limit_s is not None and i / 10 >= limit_s:
                return
            if i % step == 0:
                yield i / 10, f.to_ndarray(format="bgr24")


@pytest.fixture(scope="module")
def frame0() -> np.ndarray:
    return next(vtest_frames())[1]


def quick(**over) -> CameraHealthConfig:
    """Short timings so a test spans seconds of footage, not minutes."""
    base = {"sample_s": 0.0, "learn_s": 4.0, "video_loss": {"seconds": 5}, "frozen": {"seconds": 5},
            "covered": {"seconds": 5}, "defocus": {"seconds": 5}, "scene_moved": {"seconds": 5}}
    base.update(over)
    return CameraHealthConfig.model_validate(base)


def events_of(health: CameraHealth, frames, t0: float = 0.0) -> list[tuple[str, str, float, float | None]]:
    out = []
    for t, img in frames:
        for e in health.update(t0 + t, img):
            out.append((e.kind, e.incident.rule, e.incident.started_at, e.incident.ended_at))
    return out


# -- measures by hand ------------------------------------------------------------------------------------
def test_changed_fraction_counts_pixels_beyond_level():
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :5] = 9  # 5 pixels change by 9 > 8
    b[1, :3] = 8  # 3 pixels change by exactly 8: not counted
    assert changed_fraction(a, b, level=8) == pytest.approx(5 / 100)
    assert changed_fraction(a, a, level=8) == 0.0
    assert changed_fraction(a, b, level=7) == pytest.approx(8 / 100)


def test_luma_stats_of_two_halves():
    img = np.zeros((4, 4), np.uint8)
    img[:, 2:] = 100
    assert luma_stats(img) == pytest.approx((50.0, 50.0))  # mean 50, every pixel 50 away from it


def test_sharpness_is_variance_of_laplacian():
    img = np.zeros((5, 5), np.uint8)
    img[2, 2] = 1
    # Laplacian: -4 at the centre, +1 at its 4 neighbours, 0 elsewhere: mean 0, variance (16 + 4) / 25.
    assert sharpness(img) == pytest.approx(0.8)
    assert sharpness(np.full((5, 5), 77, np.uint8)) == 0.0


def test_analysis_gray_keeps_aspect(frame0):
    g = analysis_gray(frame0, 320)
    assert g.shape == (240, 320) and g.dtype == np.uint8
    assert analysis_gray(g, 320) is g


@needs_vtest
def test_scene_shift_finds_a_known_translation(frame0):
    g = analysis_gray(frame0)
    moved = np.roll(g, (4, 12), axis=(0, 1))  # down 4, right 12 (wrapped: phase correlation's own model)
    dx, dy, response = scene_shift(g, moved)
    assert (dx, dy) == (pytest.approx(12, abs=0.2), pytest.approx(4, abs=0.2))
    assert response > 0.9
    dx, dy, response = scene_shift(g, g)
    assert abs(dx) < 0.01 and abs(dy) < 0.01 and response > 0.99


@needs_vtest
def test_measures_on_real_frames(frame0):
    g = analysis_gray(frame0)
    base = sharpness(g)
    assert base > 500  # a crisp 320-wide view of the hall
    # Defocus: the Laplacian's variance falls steeply with blur.
    assert sharpness(analysis_gray(cv2.GaussianBlur(frame0, (0, 0), 1.5))) < 0.3 * base
    assert sharpness(analysis_gray(cv2.GaussianBlur(frame0, (0, 0), 3))) < 0.05 * base
    # Same view 40 s later, other people in it: no shift, a good peak.
    later = dict(vtest_frames(limit_s=41))[40.0]
    dx, dy, response = scene_shift(g, analysis_gray(later))
    assert np.hypot(dx, dy) < 1.0 and response > 0.4
    # The camera knocked 30 px right and 10 px down (full resolution): 12.5 and 4.2 px at 320 wide.
    shifted = cv2.warpAffine(frame0, np.float32([[1, 0, 30], [0, 1, 10]]), (768, 576), borderMode=cv2.BORDER_REPLICATE)
    dx, dy, _ = scene_shift(g, analysis_gray(shifted))
    assert (dx, dy) == (pytest.approx(12.5, abs=0.6), pytest.approx(4.2, abs=0.6))
    # Turned by 10 degrees: no translation explains it, the peak collapses (5 degrees: about 0.22).
    rot = cv2.warpAffine(frame0, cv2.getRotationMatrix2D((384, 288), 10, 1.0), (768, 576),
                         borderMode=cv2.BORDER_REPLICATE)
    assert scene_shift(g, analysis_gray(rot))[2] < 0.1
    # Black: mean and spread near zero.
    mean, std = luma_stats(analysis_gray(np.zeros_like(frame0)))
    assert mean == 0.0 and std == 0.0


# -- detectors -----------------------------------------------------------------------------------------
def test_video_loss_from_wall_clock_ticks():
    h = CameraHealth("cam", quick())
    img = np.full((36, 64, 3), 128, np.uint8)
    assert h.update(100.0, img) == []
    assert h.tick(104.9) == []
    ev = h.tick(105.5)
    assert [(e.kind, e.incident.rule) for e in ev] == [("opened", "video_loss")]
    inc = ev[0].incident
    assert (inc.started_at, inc.raised_at, inc.zone_id, inc.severity) == (100.0, 105.5, None, "critical")
    assert inc.key == "cam:video_loss:-"
    assert h.tick(120.0) == []  # one incident per outage
    ev = h.update(121.0, img)
    assert [(e.kind, e.incident.rule, e.incident.ended_at) for e in ev] == [("closed", "video_loss", 121.0)]


def test_video_loss_of_a_camera_never_seen():
    h = CameraHealth("cam", quick())
    assert h.tick(0.0) == []  # starts the clock
    ev = h.tick(5.0)
    assert ev[0].kind == "opened" and ev[0].incident.started_at == 0.0
    h2 = CameraHealth("cam", quick(video_loss={"enabled": False}))
    assert h2.tick(0.0) == [] and h2.tick(1000.0) == []


@needs_vtest
def test_clean_footage_raises_nothing():
    h = CameraHealth("cam", quick())
    assert events_of(h, vtest_frames(fps=5)) == []  # 80 s of real footage at 5 fps
    assert h.learned and h.baseline_sharpness > 500
    assert h.last_measures["response"] > 0.3 and h.last_measures["sharpness_ratio"] > 0.6


@needs_vtest
def test_frozen_picture(frame0):
    h = CameraHealth("cam", quick())
    live = list(vtest_frames(fps=5, limit_s=6))  # t 0 .. 5.8, changing
    ev = events_of(h, live)
    ev += events_of(h, [(6 + i * 0.2, frame0) for i in range(40)])  # the same frame from t=6 to 13.8
    ev += events_of(h, list(vtest_frames(fps=5, limit_s=16))[50:], t0=4.0)  # footage 10 s.. moving again at t=14
    # Bad from the first repeat (6.2: equal to 6.0), raised 5 s later; ends at the first changed picture.
    assert ev == [("opened", "frozen", pytest.approx(6.2), None), ("closed", "frozen", pytest.approx(6.2), 14.0)]


@needs_vtest
def test_covered_black_picture_is_covered_not_frozen():
    h = CameraHealth("cam", quick())
    ev = events_of(h, vtest_frames(fps=5, limit_s=6))
    black = np.zeros((576, 768, 3), np.uint8)
    ev += events_of(h, [(6 + i * 0.2, black) for i in range(40)])
    ev += events_of(h, vtest_frames(fps=5, limit_s=5), t0=14.0)
    assert ev == [("opened", "covered", 6.0, None), ("closed", "covered", 6.0, 14.0)]
    # A hand over the lens: bright but uniform.
    h = CameraHealth("cam", quick())
    events_of(h, vtest_frames(fps=5, limit_s=2))
    grey = np.full((576, 768, 3), 140, np.uint8)
    ev = events_of(h, [(2 + i * 0.2, grey) for i in range(30)])
    assert [e[:2] for e in ev] == [("opened", "covered")]


@needs_vtest
def test_defocus_against_learned_baseline():
    h = CameraHealth("cam", quick())
    frames = list(vtest_frames(fps=5, limit_s=30))
    ev = events_of(h, frames[:50])  # 10 s sharp: learns the baseline
    assert h.learned and ev == []
    blurred = [(t, cv2.GaussianBlur(img, (0, 0), 2.5)) for t, img in frames[50:100]]  # 10 s..19.8 s
    ev = events_of(h, blurred)
    assert ev == [("opened", "defocus", 10.0, None)]  # not scene_moved, not covered
    assert ev and h.open_incidents[0].measures["ratio"] < 0.2
    ev = events_of(h, frames[100:])  # focus back at 20 s
    assert ev == [("closed", "defocus", 10.0, 20.0)]


@needs_vtest
@pytest.mark.parametrize("how", ["shift", "rotate"])
def test_scene_moved(how):
    h = CameraHealth("cam", quick())
    frames = list(vtest_frames(fps=5, limit_s=20))
    assert events_of(h, frames[:50]) == []
    if how == "shift":
        m = np.float32([[1, 0, 40], [0, 1, -25]])
    else:
        m = cv2.getRotationMatrix2D((384, 288), 8, 1.0).astype(np.float32)
    moved = [(t, cv2.warpAffine(img, m, (768, 576), borderMode=cv2.BORDER_REPLICATE)) for t, img in frames[50:]]
    ev = events_of(h, moved)
    assert ev == [("opened", "scene_moved", 10.0, None)]
    inc = h.open_incidents[0]
    if how == "shift":  # 40 px right and 25 px up at 768 wide: 16.7 and -10.4 at 320
        assert inc.measures["dx"] == pytest.approx(16.7, abs=1) and inc.measures["dy"] == pytest.approx(-10.4, abs=1)
    assert [e.kind for e in h.flush(20.0)] == ["closed"]


def test_config_defaults_and_strictness():
    cfg = CameraHealthConfig()
    assert cfg.enabled and cfg.video_loss.seconds == 10 and cfg.frozen.seconds == 60
    assert cfg.defocus.ratio == 0.4 and cfg.analysis_width == 320
    with pytest.raises(ValueError):
        CameraHealthConfig.model_validate({"frozen": {"secnds": 3}})
    with pytest.raises(ValueError):
        CameraHealthConfig.model_validate({"defocus": {"ratio": 1.5}})
