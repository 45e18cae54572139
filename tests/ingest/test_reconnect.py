"""A live HTTP source served by a real ffmpeg: it dies, the reader notices, it comes back, frames resume."""

from __future__ import annotations

import signal
import time

import pytest

from ingest import CameraReader, Frame

from .conftest import free_port, serve, stop_server, wait_for


@pytest.mark.timeout(60)
def test_reconnects_after_server_restart(vtest):
    port = free_port()
    url = f"http://127.0.0.1:{port}/live.ts"
    frames: list[Frame] = []
    reader = CameraReader("live1", url, fps=5, open_timeout_s=3, read_timeout_s=2, backoff_initial_s=0.2,
                          backoff_max_s=1.0)
    assert reader.live and reader.realtime
    server = serve(vtest, port)
    try:
        reader.start(frames.append)  # may start before the server listens: refused, then retried
        assert wait_for(lambda: len(frames) >= 10, 15), reader.stats()
        s = reader.stats()
        assert s.online and s.reconnects == 0
        assert 0 <= s.lag_s < 2.0
        assert abs(frames[-1].ts - time.time()) < 2.0  # live: wall-clock timestamps
        assert frames[-1].image.shape == (288, 384, 3)

        stop_server(server)
        assert wait_for(lambda: not reader.stats().online, 8), reader.stats()
        assert reader.stats().last_error
        n_down = len(frames)
        time.sleep(0.5)

        server = serve(vtest, port)
        assert wait_for(lambda: len(frames) >= n_down + 10, 15), reader.stats()
        s = reader.stats()
        assert s.online and s.reconnects >= 1
        assert s.process_fps > 0 and s.camera_fps > s.process_fps
        # Decimation runs on pts, so a 10 fps source at fps=5 keeps every other frame even when the
        # server bursts after a (re)connect.
        assert abs(s.frames_processed - s.frames_skipped) <= 4

        # A frozen server (process stopped, socket open) sends nothing: only the read timeout notices.
        server.send_signal(signal.SIGSTOP)
        t_freeze = time.monotonic()
        assert wait_for(lambda: not reader.stats().online, 8), reader.stats()
        assert time.monotonic() - t_freeze >= 1.0  # it was the 2 s read timeout, not an EOF
        server.send_signal(signal.SIGCONT)
        stop_server(server)
        n_down = len(frames)
        server = serve(vtest, port)
        assert wait_for(lambda: len(frames) >= n_down + 5, 15), reader.stats()
        assert reader.stats().reconnects >= 2
        ts = [f.ts for f in frames]
        assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    finally:
        t0 = time.monotonic()
        reader.stop()
        stop_elapsed = time.monotonic() - t0
        stop_server(server)
    assert stop_elapsed < 2.0
    assert reader.done


@pytest.mark.timeout(30)
def test_stop_is_prompt_during_backoff():
    reader = CameraReader("dead", f"http://127.0.0.1:{free_port()}/x.ts", fps=5, backoff_initial_s=20.0)
    reader.start(lambda f: None)
    assert wait_for(lambda: reader.stats().last_error is not None, 5)
    t0 = time.monotonic()
    reader.stop()
    assert time.monotonic() - t0 < 1.0
    assert not reader.stats().online and "connection refused" in (reader.stats().last_error or "")
