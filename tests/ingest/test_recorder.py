from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ingest import ClipError, Recorder, cut_clip, probe

from .conftest import gray_frame_at

BASE = 1_700_000_000.0


@pytest.fixture(scope="module")
def recording(vtest, tmp_path_factory) -> Recorder:
    rec = Recorder("cam1", str(vtest), tmp_path_factory.mktemp("rec"), segment_s=10, base_ts=BASE)
    rec.start()
    assert rec.wait(120), "ffmpeg did not finish"
    assert rec.last_error is None
    return rec


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,pix_fmt:format=duration",
                          "-of", "json", str(path)], capture_output=True, check=True, text=True).stdout
    return json.loads(out)


def test_segments_tile_the_file(recording):
    assert recording.transcode is True  # msmpeg4 is not H.264
    assert recording.finished
    segs = recording.segments()
    assert len(segs) == 8
    assert segs[0].start_ts == pytest.approx(BASE, abs=0.01)
    assert segs[-1].end_ts == pytest.approx(BASE + 79.5, abs=0.15)
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.start_ts == pytest.approx(a.end_ts, abs=1e-6)  # no gaps, no overlaps
    for seg in segs[:-1]:
        assert seg.end_ts - seg.start_ts == pytest.approx(10.0, abs=0.15)
    assert recording.covered_until() == segs[-1].end_ts
    assert all(s.path.exists() and s.path.suffix == ".mp4" for s in segs)
    assert probe(str(segs[0].path)).codec == "h264"


def test_clip_is_exact_and_browser_ready(recording, vtest, tmp_path):
    out = tmp_path / "evidence" / "alert-1.mp4"
    clip = cut_clip(recording.segments(), BASE + 20, BASE + 32, out)
    assert clip.path == out and out.exists()
    assert not list(out.parent.glob(".*"))  # temp files are gone
    assert (clip.start_ts, clip.end_ts) == (BASE + 20, BASE + 32)
    assert clip.duration_s == pytest.approx(12.0, abs=0.3)
    assert clip.bytes == out.stat().st_size
    import hashlib
    assert clip.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    info = ffprobe(out)
    assert info["streams"][0]["codec_name"] == "h264" and info["streams"][0]["pix_fmt"] == "yuv420p"
    assert float(info["format"]["duration"]) == pytest.approx(12.0, abs=0.3)
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # +faststart: playable before fully downloaded

    with av.open(str(out)) as c:
        first = cv2.cvtColor(next(c.decode(video=0)).to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)

    def mad(t: float) -> float:
        return float(np.abs(first.astype(int) - gray_frame_at(vtest, t)).mean())

    near = mad(20.0)
    assert near < 12.0
    assert mad(10.0) > 2 * near  # the scene is mostly static background, so "clearly" means 2x here
    # Frame-exact: the neighbours one frame either side match worse than the 20.0 s frame.
    assert mad(19.9) > near and mad(20.1) > near


def test_clip_clamps_to_recording(recording, tmp_path):
    clip = cut_clip(recording.segments(), BASE + 75, BASE + 200, tmp_path / "tail.mp4")
    assert clip.start_ts == BASE + 75
    assert clip.end_ts == pytest.approx(BASE + 79.5, abs=0.15)
    assert clip.duration_s == pytest.approx(4.5, abs=0.3)


def test_clip_outside_recording_raises(recording, tmp_path):
    with pytest.raises(ClipError, match="no recording covers"):
        cut_clip(recording.segments(), BASE + 500, BASE + 510, tmp_path / "none.mp4")
    with pytest.raises(ClipError):
        cut_clip(recording.segments(), BASE - 100, BASE - 90, tmp_path / "none.mp4")
    with pytest.raises(ClipError):
        cut_clip([], BASE, BASE + 5, tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists()


def test_prune_deletes_old_segments(vtest, tmp_path):
    rec = Recorder("old", str(vtest), tmp_path, segment_s=20, base_ts=time.time() - 1000)
    rec.start()
    assert rec.wait(120)
    segs = rec.segments()
    assert len(segs) == 4
    assert rec.prune(max_age_s=3600) == 0
    assert rec.prune(max_age_s=60) == 4
    assert rec.segments() == [] and not any(s.path.exists() for s in segs)


def test_missing_file_fails_at_start(tmp_path):
    from ingest import SourceError
    with pytest.raises(SourceError, match="no such file"):
        Recorder("x", "/nonexistent.mp4", tmp_path).start()


@pytest.mark.timeout(90)
def test_live_recording_survives_server_restart(vtest, tmp_path):
    from .conftest import free_port, serve, stop_server, wait_for

    port = free_port()
    server = serve(vtest, port)
    # transcode=False: the test server is H.264, and a probe would use up its single client.
    rec = Recorder("live", f"http://127.0.0.1:{port}/live.ts", tmp_path, segment_s=2, transcode=False,
                   backoff_initial_s=0.3, backoff_max_s=1.0, timeout_s=2)
    t_start = time.time()
    rec.start()
    try:
        assert wait_for(lambda: len(rec.segments()) >= 2, 20), rec.last_error
        segs = rec.segments()
        assert t_start - 0.5 <= segs[0].start_ts <= t_start + 2.0  # wall-clock times, to about a second
        assert segs[0].end_ts - segs[0].start_ts == pytest.approx(2.0, abs=0.25)
        assert segs[-1].end_ts <= time.time() + 0.5
        assert probe(str(segs[0].path)).codec == "h264"  # copied, not re-encoded

        stop_server(server)
        assert wait_for(lambda: rec.restarts >= 1, 10), rec.last_error
        n_before = len(rec.segments())
        server = serve(vtest, port)
        assert wait_for(lambda: len(rec.segments()) >= n_before + 2, 20), rec.last_error
        names = {s.path.name.split("-r")[-1].split("-")[0] for s in rec.segments()}
        assert len(names) >= 2  # two ffmpeg runs, each with its own list and clock
        segs = rec.segments()
        assert all(b.start_ts >= a.end_ts - 0.3 for a, b in zip(segs, segs[1:], strict=False))
        clip = cut_clip(segs, segs[-1].end_ts - 3, segs[-1].end_ts, tmp_path / "clip.mp4")
        assert clip.duration_s == pytest.approx(3.0, abs=0.3)
    finally:
        n_running = len(rec.segments())
        t0 = time.monotonic()
        rec.stop()
        stop_s = time.monotonic() - t0
        stop_server(server)
    assert stop_s < 5.0 and rec.finished
    assert len(rec.segments()) >= n_running + 1  # SIGINT finalised the segment in progress
    assert probe(str(rec.segments()[-1].path)).codec == "h264"


ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
from ingest import Recorder
rec = Recorder("orphan", sys.argv[1], Path(sys.argv[2]), segment_s=2, transcode=False, timeout_s=2)
rec.start()
while rec._proc is None:
    time.sleep(0.05)
print(rec._proc.pid, flush=True)
time.sleep(120)
"""


def test_a_killed_node_leaves_no_recorder_behind(vtest, tmp_path):
    """kill -9 of the process that records: its ffmpeg dies with it (it used to run on with parent 1)."""
    import os
    import signal
    import sys

    from tests.testkit.net import alive

    from .conftest import free_port, serve, stop_server, wait_for

    port = free_port()
    server = serve(vtest, port)
    node = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, f"http://127.0.0.1:{port}/live.ts", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        ffmpeg_pid = int(node.stdout.readline())
        assert alive(ffmpeg_pid)
        os.kill(node.pid, signal.SIGKILL)
        node.wait(10)
        assert wait_for(lambda: not alive(ffmpeg_pid), 5), "ffmpeg outlived the node"
    finally:
        node.kill()
        stop_server(server)
