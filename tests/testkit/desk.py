"""The review desk for tests: the app served by a real uvicorn on 127.0.0.1, a browser-playable clip, and what
the Chinese-first checks in headless Chromium share (issue 17): reading a page as staff read it, screenshots."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from analytics.texts import rule_texts
from tests.testkit.net import free_port

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
CHROMIUM = "/usr/bin/chromium"  # Debian's, as the product prints its PDFs with
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
# ASCII words a desk page may show: the user, the language switch, the clip's hash label, the time zone's name.
ALLOWED_ASCII = frozenset({"auditor1", "English", "sha256", "Asia", "Shanghai", "s", "K", "J", "A12"})


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


def read_as_staff(text: str, where: str, allowed: frozenset[str] | set[str] = ALLOWED_ASCII) -> None:
    """No rule code, no English left untranslated, no epoch number; `where` names the page in a failure,
    `allowed` the ASCII words the page may show."""
    codes = [code for code in rule_texts() if code in text]
    assert not codes, (where, codes)
    english = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]+", text)
               if w not in allowed and not re.fullmatch(r"[0-9a-f]{8,}", w)}  # hashes are not words
    assert not english, (where, sorted(english))
    assert not re.search(r"\b1[6-9]\d{8}(\.\d+)?\b", text), (where, "an epoch number")


def shoot(page, shots: Path, name: str) -> None:
    """Full-page screenshots of `page` at 1400 and 375 px wide into `shots`; at 375 px the page must not be
    wider than the phone (no sideways scrolling of the whole page)."""
    shots.mkdir(exist_ok=True)
    for width in (1400, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        if width == 375:
            assert page.evaluate("document.documentElement.scrollWidth") <= 380, f"{name} wider than a phone"
    page.set_viewport_size({"width": 1400, "height": 900})
