from __future__ import annotations

import pytest

from ingest import SourceError, probe, redact_url
from ingest.urls import is_live_url, redact_text


def test_probe_vtest(vtest):
    info = probe(str(vtest))
    assert (info.width, info.height) == (768, 576)
    assert info.fps == pytest.approx(10.0)
    assert info.is_live is False
    assert info.duration_s == pytest.approx(79.5, abs=0.2)
    assert info.codec == "msmpeg4"


@pytest.mark.parametrize(("url", "why"), [
    ("/nonexistent/cam1.mp4", "no such file"),
    ("rtsp://127.0.0.1:1/x", "connection refused"),
    ("bogus://127.0.0.1/x", "unknown protocol"),
])
def test_probe_errors_are_one_clean_line(url, why):
    with pytest.raises(SourceError) as info:
        probe(url, timeout_s=2.0)
    msg = str(info.value)
    assert why in msg
    assert "\n" not in msg and "Traceback" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_probe_no_video_stream(tmp_path):
    import subprocess
    wav = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", str(wav)], check=True)
    with pytest.raises(SourceError, match="no video stream"):
        probe(str(wav))


def test_probe_error_redacts_password():
    with pytest.raises(SourceError) as info:
        probe("rtsp://admin:hunter2@127.0.0.1:1/stream?token=abc", timeout_s=2.0)
    msg = str(info.value)
    assert "hunter2" not in msg and "abc" not in msg
    assert "admin:***@127.0.0.1:1" in msg


@pytest.mark.parametrize(("url", "expected"), [
    ("rtsp://user:pass@host/x", "rtsp://user:***@host/x"),
    ("rtsp://admin:p%40ss:w0rd@10.0.0.5:554/Streaming/Channels/101",
     "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
    ("rtsp://admin:p@ss@10.0.0.5/x", "rtsp://admin:***@10.0.0.5/x"),  # unescaped @ in the password
    ("rtsp://user@host/x", "rtsp://user@host/x"),
    ("http://host/live.ts?token=abc123&ch=2", "http://host/live.ts?token=***&ch=2"),
    ("https://h/x?Password=1&key=2&secret=3&q=4", "https://h/x?Password=***&key=***&secret=***&q=4"),
    ("/data/videos/cam1.mp4", "/data/videos/cam1.mp4"),
    ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_text_in_ffmpeg_output():
    line = "[rtsp @ 0x55] method DESCRIBE failed: rtsp://admin:hunter2@10.1.1.1/live?key=zz: 401"
    out = redact_text(line)
    assert "hunter2" not in out and "zz" not in out and "admin:***@10.1.1.1" in out


def test_live_classification():
    assert is_live_url("rtsp://h/x") and is_live_url("http://h/x.ts") and is_live_url("udp://@:1234")
    assert not is_live_url("/a/b.mp4") and not is_live_url("file:/a/b.mp4")


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_probe_times_out_on_a_silent_server(scheme):
    import socket
    import time
    with socket.socket() as srv:  # the kernel accepts the connection; nobody ever answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        t0 = time.monotonic()
        with pytest.raises(SourceError, match=r"timed out after 1 s"):
            probe(f"{scheme}://u:pw@127.0.0.1:{srv.getsockname()[1]}/cam", timeout_s=1.0)
        assert time.monotonic() - t0 < 3.0
