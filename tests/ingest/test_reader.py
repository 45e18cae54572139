from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ingest import CameraReader, Frame, SourceError


def test_file_at_5fps_decimates_on_timestamps(vtest):
    reader = CameraReader("cam1", str(vtest), fps=5, base_ts=1_000.0)
    frames = list(reader.frames())
    assert len(frames) == pytest.approx(398, abs=2)
    ts = np.array([f.ts for f in frames])
    assert ts[0] == pytest.approx(1_000.0)
    assert np.all(np.diff(ts) > 0)
    assert np.allclose(np.diff(ts), 0.2, atol=0.02)
    assert frames[-1].ts == pytest.approx(1_079.4, abs=0.15)
    f = frames[10]
    assert isinstance(f, Frame) and f.camera_id == "cam1"
    assert f.image.shape == (576, 768, 3) and f.image.dtype == np.uint8
    assert f.image.flags.c_contiguous
    assert [fr.index for fr in frames[:3]] == [0, 2, 4]
    s = reader.stats()
    assert s.frames_in == 795
    assert s.frames_processed == len(frames)
    assert s.frames_skipped == s.frames_in - s.frames_processed
    assert s.reconnects == 0 and s.lag_s == 0.0 and s.last_error is None
    assert s.decode_ms > 0 and not s.online
    assert reader.done


def test_bgr_matches_reference_conversion(vtest):
    import av
    with av.open(str(vtest)) as c:
        ref = next(c.decode(video=0)).to_ndarray(format="bgr24")
    img = next(iter(CameraReader("c", str(vtest), fps=10).frames())).image
    assert np.abs(img.astype(int) - ref.astype(int)).mean() < 2.0  # same colours, rounding aside


def test_full_rate_and_downscale(vtest):
    reader = CameraReader("cam1", str(vtest), fps=30, max_width=320)  # above the source rate: every frame
    frames = list(reader.frames())
    assert len(frames) == 795
    assert frames[0].image.shape == (240, 320, 3)
    assert reader.stats().frames_skipped == 0


def test_default_base_ts_is_open_time(vtest):
    before = time.time()
    frame = next(iter(CameraReader("c", str(vtest), fps=5).frames()))
    assert before - 0.1 <= frame.ts <= time.time()


def test_loop_keeps_time_increasing(vtest):
    reader = CameraReader("c", str(vtest), fps=2, base_ts=0.0, loop=True)
    got = []
    for frame in reader.frames():
        got.append(frame.ts)
        if len(got) >= 170:  # 159 per pass at 2 fps
            break
    assert np.all(np.diff(got) > 0)
    assert got[-1] > 80.0
    assert np.allclose(np.diff(got), 0.5, atol=0.05)


def test_realtime_file_is_paced(vtest):
    reader = CameraReader("c", str(vtest), fps=5, realtime=True)
    t0 = time.monotonic()
    for n, _ in enumerate(reader.frames(), start=1):
        if n == 6:  # 0.0 .. 1.0 s of video
            break
    assert 0.9 <= time.monotonic() - t0 < 1.6


def test_missing_file_raises_source_error():
    with pytest.raises(SourceError, match="no such file"):
        list(CameraReader("c", "/nonexistent.mp4", fps=5).frames())


def test_thread_reports_errors_and_finishes():
    reader = CameraReader("c", "/nonexistent.mp4", fps=5)
    reader.start(lambda f: None)
    deadline = time.monotonic() + 5
    while not reader.done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.done
    assert "no such file" in (reader.stats().last_error or "")


def test_thread_survives_consumer_errors_and_stops(vtest):
    seen: list[int] = []

    def on_frame(frame: Frame) -> None:
        seen.append(frame.index)
        if len(seen) == 3:
            raise RuntimeError("consumer bug")
        assert threading.current_thread().name == "reader:cam9"

    reader = CameraReader("cam9", str(vtest), fps=5, realtime=True)
    reader.start(on_frame)
    time.sleep(1.2)
    t0 = time.monotonic()
    reader.stop()
    assert time.monotonic() - t0 < 1.0
    assert len(seen) >= 4  # kept going after the exception
    n = len(seen)
    time.sleep(0.5)
    assert len(seen) == n and reader.done


@pytest.mark.parametrize(("size", "codec", "pix_fmt", "max_diff"), [
    ("321x241", "ffv1", "yuv420p", 3.0),  # odd sizes: cv2's I420 path cannot take them
    ("320x240", "libx264", "yuv444p", 3.0),  # not 4:2:0: converted to I420 first
    ("320x240", "mjpeg", "yuvj420p", 8.0),  # full range read as limited: a little contrast, no shift
])
def test_other_pixel_layouts(tmp_path, size, codec, pix_fmt, max_diff):
    import subprocess

    import av
    path = tmp_path / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration=1",
                    "-c:v", codec, "-pix_fmt", pix_fmt, "-strict", "-1", str(path)], check=True)
    frames = list(CameraReader("c", str(path), fps=10).frames())
    assert len(frames) == 10
    w, h = map(int, size.split("x"))
    assert frames[0].image.shape == (h, w, 3) and frames[0].image.flags.c_contiguous
    with av.open(str(path)) as c:
        ref = next(c.decode(video=0)).to_ndarray(format="bgr24")
    assert np.abs(frames[0].image.astype(int) - ref.astype(int)).mean() < max_diff


def test_truncated_file_ends_cleanly(vtest, tmp_path):
    torn = tmp_path / "torn.avi"
    data = vtest.read_bytes()
    torn.write_bytes(data[: len(data) // 2])
    reader = CameraReader("c", str(torn), fps=5, base_ts=0.0)
    frames = list(reader.frames())
    assert 100 < len(frames) < 398 and reader.done
