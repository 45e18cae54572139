"""Camera readers: PyAV decode, timestamp-based fps decimation, YUV->BGR with cv2, reconnects."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import av.error
import cv2
import numpy as np

from i18n import N_

from .source import SourceError, open_container, stream_fps
from .urls import is_live_url, redact_text, redact_url

log = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class Frame:
    camera_id: str
    ts: float  # epoch seconds of the moment shown
    index: int  # source frame number (decoded frames since the reader started)
    image: np.ndarray  # BGR uint8, H x W x 3
    luma: np.ndarray | None = None  # the decoded Y plane (grey, full size) where it came for free, for motion


@dataclass
class CameraStats:
    camera_id: str
    online: bool
    frames_in: int  # decoded source frames
    frames_processed: int  # frames emitted after fps decimation
    frames_skipped: int  # decoded but dropped by decimation
    reconnects: int  # times a lost live stream was opened again
    camera_fps: float  # decoded frames/s over the last few seconds
    process_fps: float  # emitted frames/s over the last few seconds
    decode_ms: float  # average decode (+ convert for emitted frames) per decoded frame, recent
    lag_s: float  # live: wall clock minus newest frame ts; files: 0
    last_error: str | None


class _Rate:
    """Events per second over a sliding window (monotonic clock); decays to 0 when events stop."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.times: deque[float] = deque()
        self.first: float | None = None

    def tick(self, now: float) -> None:
        if self.first is None:
            self.first = now
        self.times.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.times and self.times[0] < now - self.window_s:
            self.times.popleft()

    def rate(self, now: float) -> float:
        self._trim(now)
        if self.first is None:
            return 0.0
        return len(self.times) / max(min(self.window_s, now - self.first), 1e-3)


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> BGR. PyAV's own bgr24 path is several times slower than cv2 on the I420 planes."""
    return to_bgr_luma(frame)[0]


def to_bgr_luma(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoded frame -> (BGR, its Y plane). The Y plane is a view of the planar array already in hand, so
    the motion check needs no second colour conversion; None for odd sizes."""
    w, h = frame.width, frame.height
    if w % 2 or h % 2:
        # cv2's I420 layout needs even sizes; odd ones are rare enough to take the slow, exact path.
        return np.ascontiguousarray(frame.to_ndarray(format="bgr24")), None
    fmt = frame.format.name
    # yuvj420p (full-range JPEG-style, common on IP cameras) shares the planar layout; converting it as
    # limited range shifts contrast a little, far cheaper than a swscale pass and harmless for detection.
    yuv = frame.to_ndarray() if fmt in ("yuv420p", "yuvj420p") else frame.to_ndarray(format="yuv420p")
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), yuv[:h]


def downscale(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """Shrink to max_width keeping the aspect. INTER_AREA is only fast for exact halvings (5-10x slower at
    768->640), so halve with it while the factor is >= 2 (no aliasing) and finish with INTER_LINEAR."""
    h, w = image.shape[:2]
    if not max_width or w <= max_width:
        return image
    new_h = max(1, round(h * max_width / w))
    while w >= 2 * max_width:
        w, h = w // 2, h // 2
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    if w == max_width and h == new_h:
        return image
    return cv2.resize(image, (max_width, new_h), interpolation=cv2.INTER_LINEAR)


class CameraReader:
    """Reads one camera (or file) and yields BGR frames at about `fps`."""

    def __init__(self, camera_id: str, url: str, fps: float, *, realtime: bool | None = None,
                 base_ts: float | None = None, loop: bool = False, open_timeout_s: float = 5.0,
                 read_timeout_s: float = 5.0, backoff_initial_s: float = 0.5, backoff_max_s: float = 2.0,
                 max_width: int | None = None, start_delay_s: float = 0.0) -> None:
        self.camera_id = camera_id
        self.url = url
        self.fps = fps
        self.live = is_live_url(url)
        self.realtime = self.live if realtime is None else realtime
        self.base_ts = base_ts
        self.loop = loop
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff_initial_s = backoff_initial_s
        # A camera that comes back must be analysed again within seconds (an outage is evidence time lost):
        # retrying every 2 s at most (jittered) costs 112 dead cameras ~56 connection attempts a second, and an
        # RTSP open itself waits up to a GOP for a key frame. It was 30 s: up to 32 s to notice a camera back.
        self.backoff_max_s = backoff_max_s
        self.max_width = max_width
        self.start_delay_s = start_delay_s  # live only: a staggered start spreads many cameras' first opens
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._online = False
        self._done = False
        self._frames_in = 0
        self._processed = 0
        self._reconnects = 0
        self._decode_ms = 0.0
        self._newest_ts = 0.0
        self._last_error: str | None = None
        self._in_rate = _Rate()
        self._out_rate = _Rate()
        # Set once the first open of a live source has been answered (opened or failed): until then a camera
        # never seen is not silent, it is still connecting (an RTSP open waits for a key frame: ~3 s here).
        self.first_open = threading.Event()

    # -- public ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once a file source has ended (EOF without loop, open failure, or stop())."""
        return self._done

    def frames(self) -> Iterator[Frame]:
        """Blocking generator of frames. Files end at EOF (unless loop); live sources never end until stop()."""
        try:
            yield from (self._live_frames() if self.live else self._file_frames())
        finally:
            self._online = False
            if not self.live or self._stop.is_set():
                self._done = True

    def start(self, on_frame: Callable[[Frame], None]) -> None:
        if self._thread is not None:
            raise RuntimeError(f"reader {self.camera_id} already started")
        self._thread = threading.Thread(target=self._run, args=(on_frame,), name=f"reader:{self.camera_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Ask the reader to stop and return promptly. A thread blocked inside a PyAV read cannot be
        interrupted from Python; it notices within read_timeout_s and exits on its own (daemon)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout_s)

    @property
    def newest_ts(self) -> float:
        """Timestamp of the newest frame handed out (0.0: none yet)."""
        with self._lock:
            return self._newest_ts

    def stats(self) -> CameraStats:
        now = time.monotonic()
        with self._lock:
            lag = max(0.0, time.time() - self._newest_ts) if self.live and self._newest_ts else 0.0
            return CameraStats(self.camera_id, self._online, self._frames_in, self._processed,
                               self._frames_in - self._processed, self._reconnects,
                               round(self._in_rate.rate(now), 2), round(self._out_rate.rate(now), 2),
                               round(self._decode_ms, 2), round(lag, 3), self._last_error)

    # -- thread ---------------------------------------------------------------------------------
    def _run(self, on_frame: Callable[[Frame], None]) -> None:
        try:
            while not self._stop.is_set():
                try:
                    for frame in self.frames():
                        try:
                            on_frame(frame)
                        except Exception:  # a consumer bug must not kill the camera
                            log.exception("camera %s: on_frame failed", self.camera_id)
                    return
                except Exception as exc:  # never raise out of a thread: report; a live camera tries again
                    self._error(redact_text(str(exc)))
                    log.error("camera %s (%s): reader failed: %s", self.camera_id, redact_url(self.url),
                              self._last_error)
                    if not self.live:
                        return
                    self._stop.wait(self.backoff_max_s)
        finally:
            self._done = True

    def _error(self, message: str) -> None:
        with self._lock:
            self._last_error = message

    # -- sources --------------------------------------------------------------------------------
    def _file_frames(self) -> Iterator[Frame]:
        container = open_container(self.url, self.open_timeout_s, self.read_timeout_s)
        if self.base_ts is None:
            self.base_ts = time.time()  # later readers/recorders of the same file can share it
        offset = 0.0  # source seconds added per loop pass so ts keeps increasing
        try:
            while not self._stop.is_set():
                self._online = True
                try:
                    pass_len = yield from self._decode(container, lambda rel, o=offset: self.base_ts + o + rel)
                except av.error.FFmpegError as exc:  # PyAV's own message repeats the raw URL
                    raise SourceError(N_("read failed on {url}: {error}"), url=redact_url(self.url),
                                      error=exc.strerror) from None
                if not self.loop or self._stop.is_set():
                    return
                offset += pass_len
                container.close()  # reopening is more robust than seeking in odd containers (AVI, TS)
                container = open_container(self.url, self.open_timeout_s, self.read_timeout_s)
        finally:
            container.close()

    def _live_frames(self) -> Iterator[Frame]:
        delay = self.backoff_initial_s
        ever_opened = False
        if self.start_delay_s > 0:
            self._stop.wait(self.start_delay_s)
        while not self._stop.is_set():
            try:
                container = open_container(self.url, self.open_timeout_s, self.read_timeout_s)
            except SourceError as exc:
                self._error(str(exc))
                log.warning("camera %s: %s", self.camera_id, exc)
                self.first_open.set()
            else:
                self.first_open.set()
                if ever_opened:
                    with self._lock:
                        self._reconnects += 1
                    log.info("camera %s: reconnected to %s", self.camera_id, redact_url(self.url))
                ever_opened = True
                try:
                    for frame in self._decode(container, lambda _rel: time.time()):
                        if not self._online:
                            self._online = True
                            delay = self.backoff_initial_s  # the stream works again: back off from scratch
                        yield frame
                    if not self._stop.is_set():
                        # PyAV's demux ends silently when the server goes away: that is a disconnect.
                        self._error(f"stream ended: {redact_url(self.url)}")
                        log.warning("camera %s: stream ended, reconnecting", self.camera_id)
                except Exception as exc:  # demux errors, timeouts: log redacted, reconnect
                    if isinstance(exc, av.error.ExitError):  # PyAV's read timeout interrupting FFmpeg
                        why = f"no data for {self.read_timeout_s:g} s"
                    else:
                        why = getattr(exc, "strerror", None) or type(exc).__name__
                    msg = f"read failed on {redact_url(self.url)}: {redact_text(str(why))}"
                    self._error(msg)
                    log.warning("camera %s: %s", self.camera_id, msg)
                finally:
                    container.close()
            self._online = False
            if self._stop.is_set():
                return
            # Jitter spreads many cameras' retries after a switch reboot instead of hitting it in lockstep.
            self._stop.wait(delay * random.uniform(0.75, 1.25))
            delay = min(self.backoff_max_s, delay * 2)

    def _decode(self, container: av.container.InputContainer, ts_of: Callable[[float], float]
                ) -> Iterator[Frame]:
        """Demux + decode one opened container; yield decimated frames. Returns the pass length in
        source seconds (for looping files)."""
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame+slice threads: decode is the main cost of a reader
        src_fps = stream_fps(stream) or 25.0
        interval = 1.0 / self.fps if self.fps and self.fps > 0 else 0.0
        # A hair under the interval: pts rounding must not make 10 fps -> 5 fps drop to 3.3 fps.
        tolerance = min(0.25 / src_fps, interval / 4) if interval else 0.0
        origin: float | None = None
        last_rel = -1.0
        next_rel = 0.0
        pace_start = time.monotonic()
        pace = self.realtime and not self.live
        for packet in container.demux(stream):
            if self._stop.is_set():
                return last_rel + 1.0 / src_fps
            t0 = time.perf_counter()
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue  # one corrupt packet (lost RTP data, a torn file) must not end the stream
            decode_s = time.perf_counter() - t0
            for vf in decoded:
                now = time.monotonic()
                pts = vf.time
                if origin is None:
                    origin = pts if pts is not None else 0.0
                rel = (pts - origin) if pts is not None else last_rel + 1.0 / src_fps
                if rel < last_rel - 1.0:  # timestamps jumped back (camera restart, wrap): restart decimation
                    next_rel = rel
                with self._lock:
                    self._frames_in += 1
                    index = self._frames_in - 1
                    self._in_rate.tick(now)
                last_rel = rel
                if interval and rel + tolerance < next_rel:
                    self._account(decode_s / max(1, len(decoded)))
                    continue
                # Step from the previous slot, not from `rel`, so the output rate does not drift; after
                # a long gap jump ahead instead of bursting to catch up.
                next_rel = next_rel + interval if rel - next_rel < interval else rel + interval
                if pace:
                    self._stop.wait(max(0.0, pace_start + rel - time.monotonic()))
                t1 = time.perf_counter()
                bgr, luma = to_bgr_luma(vf)
                image = downscale(bgr, self.max_width)
                self._account(decode_s / max(1, len(decoded)) + time.perf_counter() - t1)
                ts = ts_of(rel)
                with self._lock:
                    self._processed += 1
                    self._newest_ts = ts
                    self._out_rate.tick(time.monotonic())
                yield Frame(self.camera_id, ts, index, image, luma)
        return last_rel + 1.0 / src_fps

    def _account(self, seconds: float) -> None:
        # Exponential average over ~50 frames: recent enough to show a struggling camera, stable to read.
        ms = seconds * 1000.0
        self._decode_ms = ms if self._decode_ms == 0.0 else self._decode_ms * 0.98 + ms * 0.02
