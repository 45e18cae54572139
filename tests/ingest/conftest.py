"""Shared fixtures for the ingest tests: real footage, real ffmpeg, no mocks."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.testkit.net import free_port  # noqa: F401 - re-exported to the test modules

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = not VTEST.exists() or shutil.which("ffmpeg") is None
    for item in items:
        if missing and "tests/ingest" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason="needs vtest.avi (opencv-doc) and ffmpeg"))


def gray_frame_at(path: Path, t: float) -> np.ndarray:
    """The first frame shown at or after `t` seconds, decoded directly with PyAV, as grayscale."""
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.time is not None and frame.time >= t - 1e-3:
                return cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2GRAY)
    raise AssertionError(f"no frame at {t} s in {path}")


@pytest.fixture(scope="session")
def vtest() -> Path:
    return VTEST


def serve(vtest, port: int) -> subprocess.Popen:
    # One client per server process (-listen 1); ultrafast/zerolatency keeps 2 cores free for the reader.
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", str(vtest),
         "-vf", "scale=384:288", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10",
         "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/live.ts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(cond: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)
