"""Live view of a camera in the browser over WebRTC (aiortc).

One decoder per camera (`CameraFeed`: aiortc's MediaPlayer on PyAV), shared by every viewer of that camera,
so ten auditors watching one camera open one RTSP session, not ten. It starts with the first viewer and
stops as soon as the last one leaves: the peer closed (the browser's DTLS close alert when a page goes away,
or ICE failure), or silent for `silent_s` (a crashed tab, a dropped network: see `LiveHub._watch`). Peers use
no STUN/TURN servers: the review desk and its viewers share a network (the centre's LAN, or loopback in tests).

Why not aiortc's MediaRelay and `MediaPlayer(loop=True)`, as before (issue 18, finding 1: one 6 s view left the
desk decoding at 1.2 cores and growing past 1 GB): the relay's reader task never ends while its source plays,
so the decoder outlived every viewer; a looped file restarts its timestamps at 0, which defeats the player's
pacing, so after the first pass it decodes flat out into an unbounded queue; and each buffered relay proxy is
another unbounded queue behind a viewer's encoder. Here a viewer holds only the newest frame, a file is
reopened at its end (fresh pacing), and frames are stamped with the feed's own clock so the browser sees one
continuous stream across reopenings.

Each view also costs a video encoder (aiortc encodes per peer), so views are capped per user and in all
(`LiveRefused`).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from i18n import N_, Translatable

log = logging.getLogger(__name__)

VIDEO_CLOCK = Fraction(1, 90_000)  # RTP's video clock
PER_USER = 2  # live views one user may have open at once
TOTAL = 8  # live views the desk serves at once
# What a refused viewer reads (the live page shows it).
USER_FULL = N_("You already have {count} live views open, the most one person may have. Close one, then try again.")
DESK_FULL = N_("The desk is already showing {count} live views, the most it allows. Try again when someone closes"
               " one.")


class LiveRefused(Translatable, Exception):
    """A view the caps do not allow; `status` is the HTTP answer (429: the user's cap, 503: the desk's)."""

    def __init__(self, msgid: str, /, *, status: int, **values: object) -> None:
        super().__init__(msgid, **values)
        self.status = status


class ViewerTrack(MediaStreamTrack):
    """What one viewer's peer sends: the feed's newest frame. A slot, not a queue: a viewer whose encoder
    falls behind skips frames instead of piling them up."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frame: av.VideoFrame | None = None
        self._fresh = asyncio.Event()

    def offer(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._fresh.set()

    async def recv(self) -> av.VideoFrame:
        while self.readyState == "live":
            await self._fresh.wait()
            self._fresh.clear()
            frame, self._frame = self._frame, None
            if frame is not None and self.readyState == "live":
                return frame
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._frame = None
        self._fresh.set()  # wakes a pending recv, which then ends


class CameraFeed:
    """One camera's decoder and the viewers it feeds. `start()` with the first viewer, `stop()` after the
    last: `stop` returns once the decoding thread has ended and the source is closed."""

    def __init__(self, camera_id: str, url: str, reopen_s: float = 2.0) -> None:
        self.camera_id = camera_id
        self.viewers: set[ViewerTrack] = set()
        self.frames = 0  # decoded and handed on, for tests and the curious
        self._url = url  # may hold credentials: never logged
        self._is_file = "://" not in url
        self._reopen_s = reopen_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._pump(), name=f"live-feed-{self.camera_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _pump(self) -> None:
        started = time.monotonic()
        while True:
            player = await self._open()
            delivered = 0
            if player is not None:
                try:
                    delivered = await self._relay(player, started)
                finally:
                    # Joins the decoding thread and closes the source; off the event loop, as a stream's
                    # last read may take up to its timeout.
                    await asyncio.to_thread(_close, player)
            # A file that played is opened again at once (that is the loop); a dropped stream, a file
            # that would not play, or a source that would not open waits a little.
            await asyncio.sleep(0 if self._is_file and delivered else self._reopen_s)

    async def _open(self) -> MediaPlayer | None:
        # av.open blocks (an RTSP handshake takes a round trip or several): not on the event loop.
        opening = asyncio.get_running_loop().run_in_executor(None, self._player)
        try:
            player = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened)  # stopped while opening: close it once open
            raise
        except (av.FFmpegError, OSError) as exc:
            log.warning("live view of %s: cannot open its source (%s)", self.camera_id, type(exc).__name__)
            return None
        if player.video is None:
            log.warning("live view of %s: its source has no video", self.camera_id)
            _close(player)
            return None
        return player

    def _player(self) -> MediaPlayer:
        options = {"rtsp_transport": "tcp"} if self._url.startswith("rtsp") else {}
        # No loop=True: a looped file restarts its timestamps, which breaks MediaPlayer's pacing (module doc).
        return MediaPlayer(self._url, options=options, timeout=None if self._is_file else 10, decode=True)

    async def _relay(self, player: MediaPlayer, started: float) -> int:
        """Hands each frame of `player` to every viewer until the source ends; how many it handed on."""
        assert player.video is not None
        delivered = 0
        while True:
            try:
                frame = await player.video.recv()  # paced by the player for files; streams come as they come
            except MediaStreamError:
                return delivered
            frame.pts = round((time.monotonic() - started) / VIDEO_CLOCK)
            frame.time_base = VIDEO_CLOCK
            for viewer in self.viewers:
                viewer.offer(frame)
            delivered += 1
            self.frames += 1


def _close(player: MediaPlayer) -> None:
    if player.video is not None:
        player.video.stop()  # the player's last track: it stops its thread and closes its container


def _close_opened(opening: asyncio.Future[MediaPlayer]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        _close(opening.result())


@dataclass(eq=False)
class _View:
    user: str
    camera_id: str
    pc: RTCPeerConnection
    track: ViewerTrack = field(default_factory=ViewerTrack)
    watch: asyncio.Task[None] | None = None


class LiveHub:
    """The desk's live views: who watches what, the caps, and one `CameraFeed` per watched camera."""

    def __init__(self, sources: dict[str, str], *, per_user: int = PER_USER, total: int = TOTAL,
                 silent_s: float = 6.0, check_s: float = 1.0) -> None:
        if per_user < 1 or total < 1:
            raise ValueError("the live-view caps must be at least 1")
        self._sources = dict(sources)  # camera id -> URL (may hold credentials: never shown)
        self.per_user, self.total = per_user, total
        self._silent_s, self._check_s = silent_s, check_s
        self._views: dict[RTCPeerConnection, _View] = {}
        self._feeds: dict[str, CameraFeed] = {}

    def has(self, camera_id: str) -> bool:
        return camera_id in self._sources

    def feeds(self) -> dict[str, CameraFeed]:
        """The cameras being decoded now."""
        return dict(self._feeds)

    def views(self, user: str | None = None) -> int:
        """Open views, of `user` or of everyone."""
        return sum(1 for v in self._views.values() if user is None or v.user == user)

    def _admit(self, user: str) -> None:
        if (mine := self.views(user)) >= self.per_user:
            raise LiveRefused(USER_FULL, status=429, count=mine)
        if len(self._views) >= self.total:
            raise LiveRefused(DESK_FULL, status=503, count=len(self._views))

    async def answer(self, camera_id: str, sdp: str, kind: str, user: str) -> RTCSessionDescription:
        """The answer to a viewer's offer; LiveRefused when `user` or the desk is at its cap."""
        self._admit(user)
        # Counted from here, before the first await: concurrent offers cannot all squeeze under the cap.
        view = _View(user, camera_id, RTCPeerConnection(RTCConfiguration(iceServers=[])))
        self._views[view.pc] = view
        self._feed(camera_id).viewers.add(view.track)

        @view.pc.on("connectionstatechange")
        async def _state() -> None:
            if view.pc.connectionState in ("failed", "closed"):
                await self._leave(view)

        try:
            view.pc.addTrack(view.track)
            await view.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
            await view.pc.setLocalDescription(await view.pc.createAnswer())
        except BaseException:
            await asyncio.shield(self._leave(view))
            raise
        view.watch = asyncio.create_task(self._watch(view), name=f"live-watch-{camera_id}")
        return view.pc.localDescription

    def _feed(self, camera_id: str) -> CameraFeed:
        feed = self._feeds.get(camera_id)
        if feed is None:
            feed = self._feeds[camera_id] = CameraFeed(camera_id, self._sources[camera_id])
            feed.start()
        return feed

    async def _watch(self, view: _View) -> None:
        """Ends a view whose browser has gone quiet. While it receives, Chromium sends RTCP reports about
        every second, and a page that goes away normally closes its peer (a DTLS close alert, seen at once);
        a crashed tab, a dropped network or a sleeping laptop just go quiet, which aiortc's ICE consent
        checks notice only after ~30 s, too long to keep a decoder and an encoder running for nobody."""
        heard, since = -1, time.monotonic()
        while True:
            await asyncio.sleep(self._check_s)
            received = await _packets_received(view.pc)
            if received != heard:
                heard, since = received, time.monotonic()
            elif time.monotonic() - since >= self._silent_s:
                log.info("live view of %s by %s: nothing heard for %.0f s, closed", view.camera_id, view.user,
                         self._silent_s)
                await self._leave(view)
                return

    async def _leave(self, view: _View) -> None:
        """Ends `view` (at most once) and, with the camera's last viewer, its feed."""
        if self._views.pop(view.pc, None) is None:
            return
        if view.watch is not None and view.watch is not asyncio.current_task():
            view.watch.cancel()
        view.track.stop()
        idle = None
        feed = self._feeds.get(view.camera_id)
        if feed is not None:
            feed.viewers.discard(view.track)
            if not feed.viewers:  # out of the table before any await: a new viewer starts a new feed
                idle = self._feeds.pop(view.camera_id)
        await view.pc.close()
        if idle is not None:
            await idle.stop()
            _give_back_memory()

    async def close(self) -> None:
        await asyncio.gather(*(self._leave(v) for v in list(self._views.values())), return_exceptions=True)
        feeds, self._feeds = list(self._feeds.values()), {}
        await asyncio.gather(*(f.stop() for f in feeds), return_exceptions=True)


def _give_back_memory() -> None:
    """Returns the heap's free pages to the system (glibc's malloc_trim; elsewhere nothing). Frames are decoded
    and encoded in several threads, and glibc keeps each thread's arena of freed frames instead of giving it
    back: without this the desk stayed ~85 MB above idle after the soak test's 20 views (265 -> 351 MB), with
    no object left alive. It takes milliseconds, once per camera whose last viewer left."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None)  # the C library this Python runs on
except OSError:
    _LIBC = None


async def _packets_received(pc: RTCPeerConnection) -> int:
    """Packets the peer's transport has received (DTLS, SRTP and SRTCP: everything but ICE's own checks)."""
    stats = await pc.getStats()
    return sum(getattr(s, "packetsReceived", 0) or 0 for s in stats.values() if s.type == "transport")
