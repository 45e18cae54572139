"""Evidence clips cut from recorded segments: exact [t0, t1], H.264 MP4 any browser plays, with sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from i18n import N_, Translatable

from .recorder import Segment

GAP_TOLERANCE_S = 0.5  # segments closer than this count as back to back


class ClipError(Translatable, Exception):
    """No recording covers the interval, or ffmpeg failed to cut it. One line, no paths with secrets;
    `text(locale)` words it in the reader's language."""


@dataclass(frozen=True, slots=True)
class ClipFile:
    path: Path
    sha256: str
    bytes: int
    start_ts: float
    end_ts: float
    duration_s: float


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _contiguous(segments: Sequence[Segment], t0: float, t1: float) -> list[Segment]:
    """Segments overlapping [t0, t1], cut at the first gap: the concat demuxer would close a gap and
    shift every later frame, so a clip stops where the recording has a hole."""
    hits = sorted((s for s in segments if s.end_ts > t0 and s.start_ts < t1 and s.path.exists()),
                  key=lambda s: s.start_ts)
    run: list[Segment] = []
    for seg in hits:
        if run and seg.start_ts > run[-1].end_ts + GAP_TOLERANCE_S:
            break
        run.append(seg)
    return run


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def cut_clip(segments: Sequence[Segment], t0: float, t1: float, out_path: Path, *, ffmpeg: str = "ffmpeg",
             timeout_s: float = 300.0) -> ClipFile:
    """Cut [t0, t1] (epoch seconds, clamped to what was recorded) into out_path, atomically."""
    if t1 <= t0:
        raise ClipError(N_("empty interval {t0:.3f}..{t1:.3f}"), t0=t0, t1=t1)
    segs = _contiguous(segments, t0, t1)
    if not segs:
        raise ClipError(N_("no recording covers {t0:.1f}..{t1:.1f}"), t0=t0, t1=t1)
    start = max(t0, segs[0].start_ts)
    end = min(t1, segs[-1].end_ts)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    listing = out_path.with_name(f".{out_path.name}.{os.getpid()}.ffconcat")
    # `duration` pins each file's length to the csv times, so the offset below lands on the right frame.
    lines = ["ffconcat version 1.0"]
    for seg in segs:
        lines += [f"file {_quote(seg.path)}", f"duration {seg.end_ts - seg.start_ts:.6f}"]
    listing.write_text("\n".join(lines) + "\n")
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0",
           "-i", str(listing),
           # -ss/-t after -i: decode-and-discard, frame-accurate (input seeking would snap to keyframes
           # in the copied segments).
           "-ss", f"{start - segs[0].start_ts:.6f}", "-t", f"{end - start:.6f}",
           "-map", "0:v:0", "-an", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",  # yuv420p needs even sizes
           "-movflags", "+faststart",  # moov first: the browser starts playing before the download ends
           "-f", "mp4", "-y", str(tmp)]
    try:
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ClipError(N_("ffmpeg took over {timeout:g} s cutting {clip}"), timeout=timeout_s,
                            clip=out_path.name) from None
        if res.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            why = res.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ClipError(N_("ffmpeg failed cutting {clip}: {error}"), clip=out_path.name, error=why[0][:200])
        duration = _duration(tmp)
        os.replace(tmp, out_path)
    finally:
        listing.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return ClipFile(out_path, sha256_file(out_path), out_path.stat().st_size, start, end, duration)


def _duration(path: Path) -> float:
    try:
        with av.open(str(path)) as c:
            return c.duration / av.time_base if c.duration else 0.0
    except av.error.FFmpegError as exc:
        raise ClipError(N_("clip {clip} is unreadable: {error}"), clip=path.name, error=exc.strerror) from None
