"""The desk's live view without a browser (issue 18, finding 1): one decoder per camera however many watch it,
stopped within 10 s of the last viewer leaving, whether it closed its peer or vanished (a killed process sends
no DTLS close alert, like a crashed tab); a looped file at its own pace; views beyond the caps refused in the
reader's language. The browser soak test is tests/alerts/test_live_soak.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from alerts.review.live import LiveHub, LiveRefused
from tests.testkit.desk import browser_clip

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    # 2 s at 10 fps: the feed loops it several times during a test, which is where pacing used to break.
    return str(browser_clip(tmp_path_factory.mktemp("live") / "camera.mp4", seconds=2))


def decoders() -> int:
    """aiortc MediaPlayer decoding threads alive in this process (none for an instant while a file that
    ended is opened again)."""
    return sum(t.name == "media-player" and t.is_alive() for t in threading.enumerate())


async def until(condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds it took `condition` to hold; fails after `timeout_s`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def offer() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


async def watch(hub: LiveHub, user: str, camera: str = "c1") -> tuple[RTCPeerConnection, list[int]]:
    """A viewer in this process; the list fills with the pts of the frames it receives."""
    pc = await offer()
    pts: list[int] = []

    @pc.on("track")
    def _track(track) -> None:
        async def pull() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    pts.append((await track.recv()).pts)

        asyncio.ensure_future(pull())

    await pc.setRemoteDescription(await hub.answer(camera, pc.localDescription.sdp, "offer", user))
    return pc, pts


async def watch_in_a_process(hub: LiveHub, user: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HERE / "live_viewer_proc.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    sdp = json.loads(await asyncio.to_thread(proc.stdout.readline))
    answer = await hub.answer("c1", sdp["sdp"], "offer", user)
    proc.stdin.write(json.dumps({"sdp": answer.sdp, "type": answer.type}) + "\n")
    proc.stdin.flush()
    assert await asyncio.to_thread(proc.stdout.readline) == "frame\n"
    return proc


def test_one_decoder_per_camera_stopped_within_10_s_of_the_last_viewer(clip):
    async def scenario() -> None:
        hub = LiveHub({"c1": clip})
        mine, pts = await watch(hub, "u1")
        other = await watch_in_a_process(hub, "u2")
        try:
            await until(lambda: len(pts) > 5, 20)
            assert list(hub.feeds()) == ["c1"] and hub.views() == 2
            await until(lambda: decoders() == 1, 2)
            feed = hub.feeds()["c1"]
            # A 2 s file looped: still 10 frames a second after several passes (it once went flat out after
            # the first), and one stream to the browser, its timestamps always going forward.
            before = feed.frames
            await asyncio.sleep(4)
            assert 30 <= feed.frames - before <= 50, feed.frames - before
            assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "timestamps went back"

            await mine.close()  # leaves properly: the desk hears the DTLS close alert
            await until(lambda: hub.views() == 1, 5)
            assert hub.feeds()["c1"] is feed and feed.running  # the other viewer still watches
            await until(lambda: decoders() == 1, 2)
            other.kill()  # vanishes: no close alert, only silence
            other.wait()
            stopped = await until(lambda: not hub.feeds() and decoders() == 0, 12)
            print(f"decoder stopped {stopped:.1f} s after the last viewer vanished")
            assert stopped <= 10
        finally:
            other.kill()
            await hub.close()

    asyncio.run(scenario())


def test_views_beyond_the_caps_are_refused_in_the_readers_language(clip):
    async def scenario() -> None:
        hub = LiveHub({"c1": clip, "c2": clip}, per_user=2, total=3)
        peers = []
        try:
            for user, camera in (("u1", "c1"), ("u1", "c2"), ("u2", "c1")):
                peers.append(pc := await offer())
                await hub.answer(camera, pc.localDescription.sdp, "offer", user)
            assert hub.views() == 3 and hub.views("u1") == 2 and len(hub.feeds()) == 2
            peers.append(pc := await offer())
            with pytest.raises(LiveRefused) as mine:
                await hub.answer("c1", pc.localDescription.sdp, "offer", "u1")
            assert mine.value.status == 429
            assert mine.value.text("zh_CN") == "您已同时打开 2 个实时画面，已达每人上限。请先关闭一个再试。"
            with pytest.raises(LiveRefused) as desk:
                await hub.answer("c1", pc.localDescription.sdp, "offer", "u2")
            assert desk.value.status == 503
            assert desk.value.text("en").startswith("The desk is already showing 3 live views")
            assert hub.views() == 3
        finally:
            await asyncio.gather(*(pc.close() for pc in peers))
            await hub.close()
        assert not hub.feeds() and hub.views() == 0 and decoders() == 0

    asyncio.run(scenario())
