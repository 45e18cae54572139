"""The review desk for tests: the app served by a real uvicorn on 127.0.0.1, and a browser-playable clip."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from tests.testkit.net import free_port

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` served until the block ends; its base URL, once /healthz answers. The app's pool is closed after."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=5)
        app.state.pool.close()


def browser_clip(path: Path, seconds: float = 4) -> Path:
    """`seconds` of the demo footage as H.264 with faststart, which a browser plays."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "20", "-t", str(seconds), "-i", VIDEO, "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-an", str(path)],
                   check=True)
    return path
