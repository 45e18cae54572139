"""Opening sources with PyAV: one place for options, timeouts and human error messages."""

from __future__ import annotations

import time
from dataclasses import dataclass

import av
import av.error

from .urls import is_live_url, redact_url, scheme_of


class SourceError(Exception):
    """A source that cannot be opened or read. The message is one line, credentials redacted."""


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


def describe_error(url: str, exc: BaseException, timeout_s: float | None = None, timed_out: bool = False) -> str:
    """One human line. Built from errno/strerror only: PyAV's str(exc) repeats the raw URL."""
    where = redact_url(url)
    if timed_out and not isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        # An interrupted RTSP handshake surfaces as "Invalid data"; the clock tells the real story.
        why = f"timed out after {timeout_s:g} s"
    elif isinstance(exc, FileNotFoundError):  # av.error.FileNotFoundError subclasses it
        why = "no such file"
    elif isinstance(exc, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(exc, av.error.ProtocolNotFoundError):
        why = f"unknown protocol '{scheme_of(url)}'"
    elif isinstance(exc, av.error.ExitError | TimeoutError):
        # PyAV's timeout interrupts the I/O; FFmpeg reports that as "Immediate exit requested".
        why = f"timed out after {timeout_s:g} s" if timeout_s else "timed out"
    elif isinstance(exc, av.error.FFmpegError):
        why = (exc.strerror or type(exc).__name__).strip()
    elif isinstance(exc, OSError) and exc.strerror:
        why = exc.strerror
    else:
        why = type(exc).__name__
    return f"cannot open {where}: {why}".replace("\n", " ")


def open_container(url: str, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open and return a container holding a video stream, or raise SourceError."""
    started = time.monotonic()
    try:
        container = av.open(url, mode="r", options=open_options(url), timeout=(open_timeout_s, read_timeout_s))
    except Exception as exc:  # every PyAV/OS error becomes one clean line for the user
        timed_out = time.monotonic() - started >= open_timeout_s * 0.95
        raise SourceError(describe_error(url, exc, open_timeout_s, timed_out)) from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"cannot open {redact_url(url)}: no video stream")
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
