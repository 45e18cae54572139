"""Opening sources with PyAV: one place for options, timeouts and human error messages."""

from __future__ import annotations

import time
from dataclasses import dataclass

import av
import av.error

from i18n import N_, Translatable

from .urls import is_live_url, redact_url, scheme_of


class SourceError(Translatable, Exception):
    """A source that cannot be opened or read. The message is one line, credentials redacted; `text(locale)`
    words it in the reader's language."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    width: int
    height: int
    fps: float  # nominal frame rate (0.0 when the stream does not say)
    codec: str  # FFmpeg codec name, decoder name, e.g. "h264", "hevc", "msmpeg4"
    is_live: bool
    duration_s: float | None = None  # files only


def open_options(url: str) -> dict[str, str]:
    if scheme_of(url) in ("rtsp", "rtsps"):
        # TCP: UDP loses packets (grey smears) behind NAT and firewalls, which offices are full of.
        return {"rtsp_transport": "tcp"}
    return {}


def open_error(url: str, exc: BaseException, timeout_s: float | None = None, timed_out: bool = False) -> SourceError:
    """The error of a failed open, one human line. Built from errno/strerror only: PyAV's str(exc) repeats
    the raw URL."""
    where = redact_url(url).replace("\n", " ")
    if timed_out and not isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        # An interrupted RTSP handshake surfaces as "Invalid data"; the clock tells the real story.
        return SourceError(N_("cannot open {url}: timed out after {timeout:g} s"), url=where, timeout=timeout_s)
    if isinstance(exc, FileNotFoundError):  # av.error.FileNotFoundError subclasses it
        return SourceError(N_("cannot open {url}: no such file"), url=where)
    if isinstance(exc, ConnectionRefusedError):
        return SourceError(N_("cannot open {url}: connection refused"), url=where)
    if isinstance(exc, av.error.ProtocolNotFoundError):
        return SourceError(N_("cannot open {url}: unknown protocol '{scheme}'"), url=where, scheme=scheme_of(url))
    if isinstance(exc, av.error.ExitError | TimeoutError):
        # PyAV's timeout interrupts the I/O; FFmpeg reports that as "Immediate exit requested".
        if timeout_s:
            return SourceError(N_("cannot open {url}: timed out after {timeout:g} s"), url=where, timeout=timeout_s)
        return SourceError(N_("cannot open {url}: timed out"), url=where)
    if isinstance(exc, av.error.FFmpegError):
        why = (exc.strerror or type(exc).__name__).strip()
    elif isinstance(exc, OSError) and exc.strerror:
        why = exc.strerror
    else:
        why = type(exc).__name__
    return SourceError(N_("cannot open {url}: {error}"), url=where, error=why.replace("\n", " "))


def open_container(url: str, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open and return a container holding a video stream, or raise SourceError."""
    started = time.monotonic()
    try:
        container = av.open(url, mode="r", options=open_options(url), timeout=(open_timeout_s, read_timeout_s))
    except Exception as exc:  # every PyAV/OS error becomes one clean line for the user
        timed_out = time.monotonic() - started >= open_timeout_s * 0.95
        raise open_error(url, exc, open_timeout_s, timed_out) from None
    if not container.streams.video:
        container.close()
        raise SourceError(N_("cannot open {url}: no video stream"), url=redact_url(url))
    return container


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def probe(url: str, timeout_s: float = 5.0) -> SourceInfo:
    """Open a source briefly and describe its first video stream."""
    container = open_container(url, timeout_s, timeout_s)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        duration = None
        if not is_live_url(url):
            if stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / av.time_base
        return SourceInfo(width=ctx.width, height=ctx.height, fps=stream_fps(stream),
                          codec=ctx.codec.name if ctx.codec else "unknown", is_live=is_live_url(url),
                          duration_s=duration)
    finally:
        container.close()
