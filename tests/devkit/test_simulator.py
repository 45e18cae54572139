"""The RTSP camera simulator: real GStreamer RTSP server in its own process, read by the real CameraReader.

Twenty cameras survive a frozen server (SIGSTOP/SIGCONT) and a server restart on the same port."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from analytics.health import CameraHealth, CameraHealthConfig
from devkit.simulator import MAIN, SUB, encode_variant, missing_reason, split_access_units, start_simulator
from ingest import CameraReader, Frame, SourceError, probe
from tests.ingest.conftest import VTEST, gray_frame_at, wait_for

# As the ingest tests (whose helpers these are): real footage and real ffmpeg, else nothing to test.
pytestmark = pytest.mark.skipif(not VTEST.exists() or shutil.which("ffmpeg") is None,
                                reason="needs vtest.avi (opencv-doc) and ffmpeg")

_missing = missing_reason()
needs_gst = pytest.mark.skipif(_missing is not None, reason=f"RTSP simulator unavailable: {_missing}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sim-cache")


def test_footage_encoded_once_and_split_into_access_units(cache):
    path = encode_variant(VTEST, SUB, 10.0, cache)
    mtime = path.stat().st_mtime_ns
    assert encode_variant(VTEST, SUB, 10.0, cache).stat().st_mtime_ns == mtime  # cached
    units, idr = split_access_units(path.read_bytes())
    assert len(units) == 795  # every frame of vtest.avi, one access unit each
    assert idr == list(range(0, 795, 20))  # a keyframe every 2 s, so a joining reader waits at most 2 s
    assert all(u.startswith(b"\x00\x00\x00\x01\x09") or u.startswith(b"\x00\x00\x01\x09") for u in units)


@needs_gst
@pytest.mark.timeout(60)
def test_main_and_sub_mounts_shared_without_rewind(cache):
    with start_simulator(["cam-a", "cam-b"], cache_dir=cache) as sim:
        assert sim.port > 0 and sim.alive()
        assert sim.urls["cam-a"] == {"main": f"rtsp://127.0.0.1:{sim.port}/cam-a/main",
                                     "sub": f"rtsp://127.0.0.1:{sim.port}/cam-a/sub"}
        main, sub = probe(sim.url("cam-a", "main")), probe(sim.url("cam-b", "sub"))
        assert (main.width, main.height, main.codec, main.is_live) == (768, 576, "h264", True)
        assert (sub.width, sub.height, sub.codec) == (640, 360, "h264")
        assert sub.fps == pytest.approx(10.0)
        with pytest.raises(SourceError, match="404|Not Found"):
            probe(f"rtsp://127.0.0.1:{sim.port}/cam-z/sub")

        got: dict[str, list[Frame]] = {"a1": [], "a2": [], "b": []}
        readers = {k: CameraReader(k, sim.url("cam-b" if k == "b" else "cam-a"), fps=0) for k in got}
        readers["a1"].start(got["a1"].append)
        readers["b"].start(got["b"].append)
        try:
            assert wait_for(lambda: len(got["a1"]) >= 40 and len(got["b"]) >= 5, 20), readers["a1"].stats()
            joined = len(got["a1"])
            readers["a2"].start(got["a2"].append)  # a second reader joins the shared mount
            assert wait_for(lambda: len(got["a2"]) >= 40, 20), readers["a2"].stats()
        finally:
            for r in readers.values():
                r.stop()
        a1, a2 = got["a1"], got["a2"]
        # Both readers decode the same bitstream: the newcomer's latest picture is bit-identical to one
        # the first reader saw at the same moment (not the very last: the first reader was stopped first)...
        last = a2[-5]
        same = [f for f in a1 if np.array_equal(f.image, last.image)]
        assert same and abs(same[0].ts - last.ts) < 1.0
        # ...and the first reader was not rewound by the join: no picture from before it shows up again.
        before = {f.image.tobytes() for f in a1[:joined]}
        assert not any(f.image.tobytes() in before for f in a1[joined + 5:])
        # Each camera shows its own moment of the footage.
        assert np.abs(got["b"][-1].image.astype(int) - a1[-1].image.astype(int)).mean() > 2.0


@needs_gst
@pytest.mark.timeout(60)
@pytest.mark.parametrize("slices", [1, 4])
def test_pictures_arrive_intact(cache, slices):
    """Every picture the reader gets is bit-identical to a frame of the served footage, also when each
    picture is cut into 4 slices as some cameras do (a payloader repeating SPS/PPS per slice broke that)."""
    import av
    import cv2

    from ingest.reader import to_bgr

    def thumb(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (80, 45), interpolation=cv2.INTER_AREA).astype(np.int16)

    with start_simulator(["cam-s"], cache_dir=cache, slices=slices) as sim:
        with av.open(str(sim.files["sub"])) as c:
            ref = np.stack([thumb(to_bgr(f)) for f in c.decode(video=0)])
        assert len(ref) == 795
        got: list[Frame] = []
        reader = CameraReader("cam-s", sim.url("cam-s", "sub"), fps=0)
        reader.start(got.append)
        try:
            assert wait_for(lambda: len(got) >= 40, 20), reader.stats()
        finally:
            reader.stop()
    errors = [float(np.abs(ref - thumb(f.image)).mean(axis=(1, 2, 3)).min()) for f in got[:40]]
    assert max(errors) == 0.0, errors


@needs_gst
@pytest.mark.timeout(60)
def test_basic_auth(cache):
    with start_simulator(["gate-1"], cache_dir=cache, user="viewer", password="p@ss:w/rd") as sim:
        assert sim.url("gate-1", credentials=False) == f"rtsp://viewer@127.0.0.1:{sim.port}/gate-1/sub"
        with pytest.raises(SourceError, match="401") as no_auth:
            probe(sim.url("gate-1", credentials=False))
        with pytest.raises(SourceError, match="401") as bad:
            probe(f"rtsp://viewer:wrong@127.0.0.1:{sim.port}/gate-1/sub")
        assert "wrong" not in str(bad.value) and "p@ss" not in str(no_auth.value)
        assert probe(sim.url("gate-1", "main")).width == 768


@needs_gst
@pytest.mark.timeout(90)
def test_twenty_cameras_recover_from_frozen_and_restarted_server(cache):
    cams = [f"cam-{i:02d}" for i in range(20)]
    t_start = time.monotonic()
    with start_simulator(cams, cache_dir=cache) as sim:
        frames = {c: 0 for c in cams}
        lock = threading.Lock()
        # Camera health on the same frames: the outages must read as video loss, and only that.
        cfg = CameraHealthConfig.model_validate({"video_loss": {"seconds": 1.5}, "frozen": {"seconds": 3},
                                                 "covered": {"seconds": 3}})
        health = {c: CameraHealth(c, cfg) for c in cams}
        events: list[tuple[str, str, str]] = []

        def on_frame(f: Frame) -> None:
            with lock:
                frames[f.camera_id] += 1
                events.extend((e.kind, e.incident.rule, f.camera_id) for e in health[f.camera_id].update(f.ts, f.image))

        def tick() -> None:
            while not done.is_set():
                with lock:
                    for c in cams:
                        events.extend((e.kind, e.incident.rule, c) for e in health[c].tick(time.time()))
                done.wait(0.25)

        done = threading.Event()

        readers = [CameraReader(c, sim.url(c, "sub"), fps=5, open_timeout_s=3, read_timeout_s=2,
                                backoff_initial_s=0.2, backoff_max_s=1.0) for c in cams]
        for r in readers:
            r.start(on_frame)

        def all_have(n: dict[str, int], more: int) -> bool:
            with lock:
                return all(frames[c] >= n[c] + more for c in cams)

        try:
            zero = dict.fromkeys(cams, 0)
            assert wait_for(lambda: all_have(zero, 10), 30), [r.stats() for r in readers if frames[r.camera_id] < 10]
            assert all(r.stats().online and r.stats().reconnects == 0 for r in readers)
            ticker = threading.Thread(target=tick, daemon=True)
            ticker.start()

            # Frozen server: sockets open, nothing sent. Only the readers' read timeout can notice.
            sim.pause()
            t_pause = time.monotonic()
            assert wait_for(lambda: not any(r.stats().online for r in readers), 10), [r.stats() for r in readers]
            assert time.monotonic() - t_pause >= 1.5
            time.sleep(1.0)
            sim.resume()
            before = dict(frames)
            assert wait_for(lambda: all_have(before, 10), 25), [r.stats() for r in readers]
            assert all(r.stats().reconnects >= 1 and r.stats().online for r in readers)

            # Server reboot on the same port.
            port = sim.port
            sim.kill()
            assert wait_for(lambda: not any(r.stats().online for r in readers), 10)
            sim.restart()
            assert sim.port == port
            before = dict(frames)
            assert wait_for(lambda: all_have(before, 10), 25), [r.stats() for r in readers]
            stats = [r.stats() for r in readers]
            assert all(s.reconnects >= 2 and s.online for s in stats)
            # Steady again: about 5 frames/s per camera once the reconnect bursts are over.
            time.sleep(1.0)
            with lock:
                before = dict(frames)
            time.sleep(4.0)
            with lock:
                rates = {c: (frames[c] - before[c]) / 4.0 for c in cams}
            assert all(2.5 <= r <= 7.5 for r in rates.values()), rates
        finally:
            done.set()
            for r in readers:
                r.stop()
    # Two outages per camera (frozen server, restart), each a video-loss incident opened then closed; a
    # reconnect right after a resume can add one more short gap (opening an RTSP stream takes ~2.5 s).
    assert {rule for _, rule, _ in events} == {"video_loss"}, events
    for c in cams:
        kinds = [k for k, _, cam in events if cam == c]
        assert len(kinds) >= 4 and kinds == ["opened", "closed"] * (len(kinds) // 2), (c, kinds)
    assert time.monotonic() - t_start < 90


@needs_gst
@pytest.mark.timeout(90)
def test_play_once_from_the_start_with_each_camera_its_own_footage(cache, tmp_path):
    """Play-once mode (`jianguan evaluate --via-rtsp`): a camera's footage starts at its first picture when
    its reader plays, after a still lead-in that FFmpeg's stream probe swallows; `started()` is the moment the
    first picture left, and the reader stamps each picture that moment + its time + a small latency; after
    the footage, silence, and the mount is gone (a reconnect cannot replay it)."""
    import subprocess

    import cv2

    clips = {}
    for cam, at in (("cam-a", 10), ("cam-b", 40)):  # 3 s of vtest.avi from two different moments, at 5 fps
        clips[cam] = tmp_path / f"{cam}.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-nostdin", "-ss", str(at), "-i", str(VTEST), "-t", "3",
                        "-r", "5", "-an", "-c:v", "libx264", "-preset", "veryfast", str(clips[cam])], check=True)
    lead = 1.2
    with start_simulator(list(clips), fps=25.0, cache_dir=cache, variants=(MAIN,), sources=clips, once=True,
                         lead_in_s=lead) as sim:
        assert sim.urls == {c: {"main": sim.url(c, "main")} for c in clips}  # only the variants asked for
        got: dict[str, list[Frame]] = {c: [] for c in clips}
        readers = [CameraReader(c, sim.url(c, "main"), fps=5) for c in clips]
        for r in readers:
            r.start(got[r.camera_id].append)
        try:
            assert wait_for(lambda: all(len(f) >= 21 for f in got.values()), 30), [r.stats() for r in readers]
            time.sleep(1.5)  # the footage is over: nothing more comes
            counts = {c: len(f) for c, f in got.items()}
            with pytest.raises(SourceError, match="404"):
                probe(sim.url("cam-a", "main"))
        finally:
            for r in readers:
                r.stop()
        starts = {c: sim.started(c) for c in clips}
    for cam, frames in got.items():
        assert len(starts[cam]) == 1, starts
        t0 = starts[cam][0]
        stills = [f for f in frames if f.ts < t0 + 0.05]  # the lead-in: out of the probe in one burst
        footage = frames[len(stills):]
        assert abs(len(stills) - lead * 5) <= 1 and len(footage) == 15, (cam, len(stills), len(footage))
        assert len(frames) == counts[cam]  # nothing after the footage
        assert max(f.ts for f in stills) - min(f.ts for f in stills) < 0.1
        late = [f.ts - (t0 + k / 5) for k, f in enumerate(footage)]
        assert min(late) > 0 and max(late) < 0.4, late  # latency only: transport and decoder
        # The first picture after the lead-in is the footage's first frame, not the other camera's.
        first = cv2.cvtColor(footage[0].image, cv2.COLOR_BGR2GRAY).astype(int)
        own = gray_frame_at(clips[cam], 0.0).astype(int)
        other = gray_frame_at(clips["cam-b" if cam == "cam-a" else "cam-a"], 0.0).astype(int)
        assert np.abs(first - own).mean() < 3 < np.abs(first - other).mean()
