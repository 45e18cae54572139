"""Rolling recording: an ffmpeg subprocess writes fixed-length MP4 segments, Python never decodes.

Segment times come from ffmpeg's csv segment list: `name,start,end` in seconds on the output timeline,
start = pts of the segment's first (key)frame, end = start of the next segment (or end of the last frame).
`-avoid_negative_ts disabled` keeps that timeline equal to the input's: otherwise x264's B-frame delay
shifts every time by two frames. Files: base_ts + csv seconds = epoch seconds. Live: a segment file is
closed (its mtime) the moment the packet at its csv end time arrives, so mtime - end estimates the run's
clock offset, late by any delay (stream probing buffers the first seconds, then flushes them at once). The
minimum over the next few segments removes those delays and still follows camera clock drift.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .children import die_with_parent
from .source import SourceError, probe
from .urls import is_live_url, redact_text, redact_url, scheme_of

log = logging.getLogger(__name__)

OFFSET_WINDOW = 10  # live: a segment's clock offset is the minimum over it and the next 9 segments


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    start_ts: float  # epoch seconds of the first frame
    end_ts: float  # epoch seconds where the next segment starts (exclusive)


@dataclass
class _Run:
    """One ffmpeg process; a live source that drops gets a new run with its own csv and clock."""

    prefix: str
    csv: Path
    base_ts: float | None  # epoch of output time 0 (files); None for live (estimated per segment)
    rows: list[tuple[Path, float, float]] = field(default_factory=list)  # name, csv start, csv end
    offsets: list[float] = field(default_factory=list)  # live: file mtime - csv end, per row
    csv_size: int = 0

    def segments(self) -> list[Segment]:
        out = []
        for i, (path, start, end) in enumerate(self.rows):
            base = self.base_ts if self.base_ts is not None else min(self.offsets[i:i + OFFSET_WINDOW])
            out.append(Segment(path, base + start, base + end))
        return out


class Recorder:
    def __init__(self, camera_id: str, url: str, out_dir: Path, *, segment_s: float = 10.0,
                 base_ts: float | None = None, transcode: bool | None = None, backoff_initial_s: float = 1.0,
                 backoff_max_s: float = 30.0, timeout_s: float = 5.0, ffmpeg: str = "ffmpeg",
                 start_delay_s: float = 0.0) -> None:
        self.camera_id = camera_id
        self.url = url
        self.out_dir = Path(out_dir)
        self.segment_s = segment_s
        self.base_ts = base_ts
        self.transcode = transcode
        self.live = is_live_url(url)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.ffmpeg = ffmpeg
        self.start_delay_s = start_delay_s  # staggered start: 112 RTSP sessions opened at once are a burst
        self.restarts = 0
        self.last_error: str | None = None
        self._runs: list[_Run] = []
        self._pruned: set[str] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start recording. A file source is probed here, so a bad path fails at once (SourceError)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.base_ts is None:
            self.base_ts = time.time()  # files: csv time 0; live: only a fallback for covered_until()
        if self.transcode is None and not self.live:
            self.transcode = probe(self.url, self.timeout_s).codec != "h264"
        self._thread = threading.Thread(target=self._supervise, name=f"recorder:{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully: SIGINT makes ffmpeg finish the current segment (its moov atom) and the list."""
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("recorder %s: ffmpeg ignored SIGINT, killing it", self.camera_id)
                proc.kill()
                proc.wait()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a file recording to end; True once it has."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        """True when no more segments will come (file done, or stopped)."""
        return self._finished.is_set()

    # -- segments -------------------------------------------------------------------------------
    def segments(self) -> list[Segment]:
        """Completed segments, oldest first. ffmpeg appends a csv row only once a segment is closed."""
        out: list[Segment] = []
        with self._lock:
            for run in self._runs:
                self._refresh(run)
                out += [s for s in run.segments() if s.path.name not in self._pruned and s.path.exists()]
        return out

    def covered_until(self) -> float:
        """Epoch seconds up to which completed segments exist (the start time if none yet)."""
        segs = self.segments()
        if segs:
            return segs[-1].end_ts
        return self.base_ts or 0.0

    def prune(self, max_age_s: float) -> int:
        """Delete segments that ended more than max_age_s ago; returns how many."""
        cutoff = time.time() - max_age_s
        n = 0
        for seg in self.segments():
            if seg.end_ts < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    seg.path.unlink()
                with self._lock:
                    self._pruned.add(seg.path.name)
                n += 1
        return n

    def in_use(self) -> set[Path]:
        """Files retention must leave alone: every run's segment list (segments() reads it) and, while
        recording, the segment ffmpeg is writing (on disk, not yet in the list)."""
        with self._lock:
            runs = list(self._runs)
            for run in runs:
                self._refresh(run)
        out = {run.csv for run in runs}
        if runs and not self.finished:
            current = runs[-1]
            listed = {path.name for path, _, _ in current.rows}
            out |= {p for p in self.out_dir.glob(f"{current.prefix}-*.mp4") if p.name not in listed}
        return out

    def _refresh(self, run: _Run) -> None:
        # Any OSError, not only a missing file: the folder may have become a file, or the volume gone; the
        # segments known so far stay known.
        try:
            size = run.csv.stat().st_size
            if size == run.csv_size:
                return
            text = run.csv.read_text(errors="replace")
        except OSError:
            return
        lines = [ln for ln in text.splitlines(keepends=True) if ln.endswith("\n")]  # last may be half-written
        for line in lines[len(run.rows):]:  # rows are final once written: convert each only once
            parts = line.rstrip("\n").rsplit(",", 2)
            try:
                path, start, end = self.out_dir / Path(parts[0].strip('"')).name, float(parts[1]), float(parts[2])
                offset = path.stat().st_mtime - end if run.base_ts is None else 0.0
            except (ValueError, IndexError, OSError):
                path, start, end, offset = self.out_dir / "-", 0.0, 0.0, float("inf")  # keeps rows aligned
            run.rows.append((path, start, end))
            run.offsets.append(offset)
        run.csv_size = size

    # -- ffmpeg ---------------------------------------------------------------------------------
    def command(self, run: _Run) -> list[str]:
        cmd = [self.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
        if self.live:
            if scheme_of(self.url) in ("rtsp", "rtsps"):
                # RTSP over TCP; `-timeout` (µs) makes a dead camera end ffmpeg so we restart it.
                cmd += ["-rtsp_transport", "tcp", "-timeout", str(int(self.timeout_s * 1e6))]
            else:
                cmd += ["-rw_timeout", str(int(self.timeout_s * 1e6))]
            # Less probing: every second spent analysing the stream is a second recorded late.
            cmd += ["-analyzeduration", "1000000", "-probesize", "1000000"]
        cmd += ["-i", self.url, "-map", "0:v:0", "-an"]
        if self.transcode:
            # Keyframes exactly on the segment grid, or segments could only split at x264's own GOPs.
            cmd += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-force_key_frames", f"expr:gte(t,n_forced*{self.segment_s:g})"]
        else:
            cmd += ["-c:v", "copy"]
        pattern = str(self.out_dir / f"{run.prefix}-%05d.mp4").replace("%", "%%").replace("%%05d", "%05d")
        cmd += ["-avoid_negative_ts", "disabled", "-f", "segment", "-segment_time", f"{self.segment_s:g}",
                "-reset_timestamps", "1", "-segment_format", "mp4", "-segment_list", str(run.csv),
                "-segment_list_type", "csv", pattern]
        return cmd

    def _new_run(self) -> _Run:
        n = len(self._runs)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
        prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{self.camera_id}-{stamp}-r{n}")
        run = _Run(prefix, self.out_dir / f"{prefix}.csv", None if self.live else self.base_ts)
        with self._lock:
            self._runs.append(run)
        return run

    def _supervise(self) -> None:
        delay = self.backoff_initial_s
        if self.start_delay_s > 0:
            self._stop.wait(self.start_delay_s)
        while not self._stop.is_set():
            if self.transcode is None:  # live: learn the codec once the camera answers
                try:
                    self.transcode = probe(self.url, self.timeout_s).codec != "h264"
                except SourceError as exc:
                    self.last_error = str(exc)
                    log.warning("recorder %s: %s", self.camera_id, exc)
                    self._stop.wait(delay * random.uniform(0.75, 1.25))
                    delay = min(self.backoff_max_s, delay * 2)
                    continue
            started = time.monotonic()
            try:
                # Every run makes its folder again: a volume that was full or remounted, or a folder swept
                # away, must not keep a live camera unrecorded once writing works again.
                self.out_dir.mkdir(parents=True, exist_ok=True)
                run = self._new_run()
                rc, tail = self._run_ffmpeg(run)
            except OSError as exc:  # no folder, no space for the list, no process: try again, never die
                rc, tail = -1, f"{type(exc).__name__}: {exc.strerror or exc}"
            if self._stop.is_set():
                break
            if not self.live:
                if rc != 0:
                    self.last_error = f"ffmpeg exited {rc} on {redact_url(self.url)}: {tail}"
                    log.error("recorder %s: %s", self.camera_id, self.last_error)
                break
            self.last_error = f"ffmpeg exited {rc} on {redact_url(self.url)}: {tail or 'stream ended'}"
            log.warning("recorder %s: %s; restarting", self.camera_id, self.last_error)
            if time.monotonic() - started > 2 * self.segment_s:
                delay = self.backoff_initial_s  # it ran fine for a while: this is a fresh outage
            self.restarts += 1
            self._stop.wait(delay * random.uniform(0.75, 1.25))
            delay = min(self.backoff_max_s, delay * 2)
        self._finished.set()

    def _run_ffmpeg(self, run: _Run) -> tuple[int, str]:
        with self._lock:
            if self._stop.is_set():
                return 0, ""
            # Started from the supervising thread, which outlives it: killed with the node (no orphans).
            proc = subprocess.Popen(self.command(run), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, preexec_fn=die_with_parent())
            self._proc = proc
        errors: deque[str] = deque(maxlen=5)  # a tail is enough for last_error; never let the pipe fill
        assert proc.stderr is not None
        for raw in proc.stderr:
            if line := redact_text(raw.decode(errors="replace").strip()):
                errors.append(line)
        rc = proc.wait()
        return rc, " | ".join(errors)[:300]
