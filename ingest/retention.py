"""Retention: rolling segments by age and by a per-node disk budget, evidence clips by age unless held.

Segments are found on disk (`<recordings_dir>/<camera>/*.mp4`), not only in the recorders' memory, so the
files of earlier runs (a restarted node, a camera removed from the config) are swept too. Age is the file's
mtime: ffmpeg closes a segment when its last frame is written, so mtime is where its footage ends.

A sweep, in order:
1. age: a segment older than its camera's `keep_s` (default `recording.retain_s`) goes;
2. budget: while all segment files together exceed `disk_budget_gb`, the oldest goes, across cameras;
   free space: while the volume has less than `min_free_share` of its size free, the oldest goes too (the
   budget is a guess made at install time; other files share the disk, and a full disk stops every
   recorder and the metric spools);
3. clips: a clip file older than `clip_retain_days` goes unless an alert holds it; its row stays, marked
   `deleted_at`/`deleted_reason`, and each alert that showed it gets a `clip_deleted` event on its timeline.

What holds a clip, and those rows, are the alerts package's (alerts/evidence.py, `ClipRetention`): the
sweeper reaches them only through the `ClipLedger` it is given (the node passes alerts' one), so ingest
neither imports alerts nor writes its tables (docs/design.md, "Table ownership").

Never deleted: the segment ffmpeg is writing and every run's segment list (`Recorder.in_use()`), and the
segments a clip still to be cut needs (an alert without a clip, younger than `clip_hold_s` and without a
`clip_failed` event: [started_at - clip_pre_s, + max_clip_s] on its camera). Without a database answer the
sweeper protects every segment younger than `clip_hold_s` instead. A file that vanished under the sweep is
counted, never an error; any other failure is logged and the sweep goes on.

    >>> RecordingConfig().disk_budget_bytes
    50000000000
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psycopg
from pydantic import Field

from common.model import Strict

from .recorder import Recorder, Segment

log = logging.getLogger(__name__)

LIST_IDLE_S = 3600.0

class ExpiringClip(Protocol):
    """A clip whose row the ledger has just marked deleted: its file is the sweeper's to remove."""

    @property
    def clip_id(self) -> int: ...

    @property
    def camera_id(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def bytes(self) -> int: ...


class ClipLedger(Protocol):
    """What the sweeper asks of the database about clips (alerts.ClipRetention); errors propagate."""

    def pending_starts(self, hold_s: float) -> list[tuple[str, float]]:
        """(camera, epoch start) of the alerts younger than `hold_s` whose clip is still to be cut."""
        ...

    def expire(self, older_than_s: float, reason: str, limit: int,
               remove: Callable[[ExpiringClip], bool]) -> Sequence[ExpiringClip]:
        """Mark the clips older than `older_than_s` that nothing holds, one transaction; `remove(clip)` says
        whether the file is gone (else the row is unmarked)."""
        ...


def _size(n: float) -> str:
    """Bytes for a log line: 12.3 MB, 1.50 GB."""
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class RecordingConfig(Strict):
    """`recording:` of a site: how long rolling segments and evidence clips are kept, and the start spread."""

    retain_s: float = Field(24 * 3600.0, ge=60, description="segments older than this are deleted (a camera's "
                            "`record.keep_s` overrides it)")
    disk_budget_gb: float | None = Field(50.0, gt=0, description="all cameras' segments of this node together; "
                                         "the oldest are deleted first (112 main streams at 2 Mbit/s: ~100 GB/h); "
                                         "null: age only")
    clip_retain_days: float = Field(30.0, gt=0, description="clips no alert holds are deleted after this; held "
                                    "clips (evidence) are never deleted")
    sweep_every_s: float = Field(60.0, ge=1, le=3600)
    clip_hold_s: float = Field(900.0, ge=60, description="how long a fresh alert's clip is waited for: its "
                               "segments are kept meanwhile")
    start_stagger_s: float = Field(5.0, ge=0, le=120, description="live cameras' readers and recorders start "
                                   "spread over this window instead of all at once")
    min_free_share: float = Field(0.05, ge=0, lt=1, description="keep at least this share of the recordings "
                                  "volume free, deleting the oldest segments whatever the budget; 0: budget only")

    @property
    def disk_budget_bytes(self) -> int | None:
        return None if self.disk_budget_gb is None else int(self.disk_budget_gb * 1e9)


@dataclass
class SweepReport:
    segments: Counter[str] = field(default_factory=Counter)  # deleted segments by reason: age, budget
    segment_bytes: int = 0
    clips: int = 0
    clip_bytes: int = 0
    lists: int = 0  # segment lists (csv) of finished runs whose segments are all gone
    vanished: int = 0  # files already gone when the sweep reached them
    failed: int = 0  # files that could not be deleted (logged)
    kept_bytes: int = 0  # segment files left on disk
    over_budget: bool = False  # still above the budget: everything left is in use or protected
    low_space: bool = False  # the volume still has less than min_free_share free (nothing left to delete)
    db_ok: bool = True

    def line(self, budget: int | None) -> str:
        parts = [f"{n} segments by {why}" for why, n in sorted(self.segments.items())] or ["no segments"]
        text = (f"retention: deleted {', '.join(parts)} ({_size(self.segment_bytes)}), {self.clips} clips "
                f"({_size(self.clip_bytes)}); recordings {_size(self.kept_bytes)}")
        if budget is not None:
            text += f" of {_size(budget)} budget" + (" (over: the rest is in use)" if self.over_budget else "")
        if self.low_space:
            text += "; the volume is nearly full and nothing more may be deleted"
        if self.vanished or self.failed:
            text += f"; {self.vanished} already gone, {self.failed} failed"
        return text if self.db_ok else text + "; database unreachable: clips not swept, recent segments kept"


@dataclass(frozen=True)
class _File:
    path: Path
    camera_id: str
    size: int
    mtime: float


class RetentionSweeper:
    """Sweeps one node's recordings and clips; `start()` runs `sweep()` every `sweep_every_s` on a thread."""

    def __init__(self, recordings_dir: Path, config: RecordingConfig, clips: ClipLedger | None = None, *,
                 recorders: Mapping[str, Recorder] | None = None, keep_s: Mapping[str, float] | None = None,
                 clip_pre_s: float = 5.0, max_clip_s: float = 60.0, clock: Callable[[], float] = time.time,
                 clip_batch: int = 500, disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage
                 ) -> None:
        self.recordings_dir = Path(recordings_dir)
        self.config = config
        self.clips = clips  # None: no database (segments only; no clip is known to be pending)
        self.recorders = dict(recorders or {})
        self.keep_s = dict(keep_s or {})
        self.clip_pre_s = clip_pre_s
        self.max_clip_s = max_clip_s
        self.clock = clock
        self.clip_batch = clip_batch
        self.disk_usage = disk_usage  # (total, used, free) of the volume holding the recordings
        self.last: SweepReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # retention must never take the node down; the next sweep tries again
                log.exception("retention sweep failed")
            self._stop.wait(self.config.sweep_every_s)

    # -- one sweep --------------------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self.clock()
        files = self._scan()
        in_use: set[Path] = set()
        for rec in self.recorders.values():  # after the scan: a file that appeared meanwhile is listed here
            in_use |= rec.in_use()
        protected = {f.path for f in files if f.path in in_use}
        pending = self._pending_clips(report)
        if pending is None:  # no database answer: any recent segment may be needed by a clip
            protected |= {f.path for f in files if now - f.mtime < self.config.clip_hold_s}
        else:
            protected |= self._needed_by_clips(pending)
        segments = sorted((f for f in files if f.path.suffix == ".mp4"), key=lambda f: f.mtime)
        left: list[_File] = []
        for f in segments:
            keep = self.keep_s.get(f.camera_id, self.config.retain_s)
            if f.path not in protected and now - f.mtime > keep:
                self._delete(f, "age", report)
            else:
                left.append(f)
        budget = self.config.disk_budget_bytes
        total = sum(f.size for f in left) + sum(f.size for f in files if f.path.suffix != ".mp4")
        if budget is not None:
            for f in left:
                if total <= budget:
                    break
                if f.path not in protected and self._delete(f, "budget", report):
                    total -= f.size
            report.over_budget = total > budget
            if report.over_budget:
                log.warning("retention: recordings take %s, over the %s budget, and everything left is being "
                            "written or needed by a clip", _size(total), _size(budget))
        total -= self._free_space(left, protected, report)
        report.lists = self._drop_empty_lists(files, in_use, now)
        report.kept_bytes = total
        if pending is not None and self.clips is not None:
            self._sweep_clips(report)
        summary = report.line(budget)
        if report.segment_bytes or report.clips or report.failed or report.over_budget or not report.db_ok:
            log.info("%s", summary)
        else:
            log.debug("%s", summary)
        self.last = report
        return report

    def _free_space(self, left: list[_File], protected: set[Path], report: SweepReport) -> int:
        """Delete the oldest segments still on disk until the volume has `min_free_share` free; the bytes
        deleted."""
        share = self.config.min_free_share
        if share <= 0 or not self.recordings_dir.exists():  # nothing recorded (yet): nothing to free
            return 0
        try:
            size, _used, free = self.disk_usage(self.recordings_dir)
        except OSError as exc:
            log.warning("retention: cannot read the free space of %s: %s", self.recordings_dir, exc)
            return 0
        want = share * size - free
        freed = 0
        for f in left:
            if freed >= want:
                break
            if f.path not in protected and f.path.exists() and self._delete(f, "free_space", report):
                freed += f.size
        report.low_space = freed < want
        if report.low_space:
            log.critical("retention: %s has %s free of %s, under the %.0f %% to keep, and every segment left is "
                         "being written or needed by a clip", self.recordings_dir, _size(free + freed), _size(size),
                         100 * share)
        return freed

    def _scan(self) -> list[_File]:
        out = []
        if not self.recordings_dir.is_dir():
            return out
        for cam_dir in self.recordings_dir.iterdir():
            if not cam_dir.is_dir():
                continue
            with os.scandir(cam_dir) as entries:
                for entry in entries:
                    if not entry.name.endswith((".mp4", ".csv")):
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # removed while we looked: nothing to do
                    out.append(_File(Path(entry.path), cam_dir.name, st.st_size, st.st_mtime))
        return out

    def _delete(self, f: _File, reason: str, report: SweepReport) -> bool:
        try:
            f.path.unlink()
        except FileNotFoundError:
            report.vanished += 1
            return True  # gone is gone: its bytes are free
        except OSError as exc:
            report.failed += 1
            log.warning("retention: cannot delete %s: %s", f.path, exc.strerror)
            return False
        report.segments[reason] += 1
        report.segment_bytes += f.size
        log.debug("retention: deleted %s (%s, %d bytes, %.0f s old)", f.path.name, reason, f.size,
                  self.clock() - f.mtime)
        return True

    def _drop_empty_lists(self, files: list[_File], in_use: set[Path], now: float) -> int:
        """The csv list of a finished run goes once none of its segments is left and it is an hour old (a
        recording process this sweeper does not know of may have just started it)."""
        n = 0
        for f in files:
            if (f.path.suffix != ".csv" or f.path in in_use or now - f.mtime < LIST_IDLE_S
                    or any(f.path.parent.glob(f"{f.path.stem}-*.mp4"))):
                continue
            with contextlib.suppress(FileNotFoundError):
                f.path.unlink()
                n += 1
        return n

    # -- clips ------------------------------------------------------------------------------------------
    def _pending_clips(self, report: SweepReport) -> list[tuple[str, float]] | None:
        if self.clips is None:
            return []
        try:
            return self.clips.pending_starts(self.config.clip_hold_s)
        except Exception as exc:  # psycopg errors, pool timeouts: the next sweep tries again
            report.db_ok = False
            log.warning("retention: database unreachable (%s); keeping recent segments, clips not swept",
                        type(exc).__name__)
            return None

    def _needed_by_clips(self, pending: list[tuple[str, float]]) -> set[Path]:
        out: set[Path] = set()
        for cam_id, started in pending:
            rec = self.recorders.get(cam_id)
            if rec is None:
                continue
            t0 = started - self.clip_pre_s
            segs: list[Segment] = rec.segments()
            out |= {s.path for s in segs if s.end_ts > t0 and s.start_ts < t0 + self.max_clip_s}
        return out

    def _sweep_clips(self, report: SweepReport) -> None:
        """Expire the old clips nothing holds: the ledger marks their rows and notes each on its alerts'
        timelines; the files are deleted here, in its transaction, so a file that cannot be deleted keeps its
        row unmarked."""
        assert self.clips is not None
        days = self.config.clip_retain_days
        reason = f"retention: older than {days:g} d, not held by an alert"

        def remove(clip: ExpiringClip) -> bool:
            try:
                Path(clip.path).unlink()
            except FileNotFoundError:
                report.vanished += 1
                log.info("retention: clip %s of %s was already gone (%s)", clip.clip_id, clip.camera_id, clip.path)
            except OSError as exc:
                report.failed += 1
                log.warning("retention: cannot delete clip %s (%s): %s", clip.clip_id, clip.path, exc.strerror)
                return False
            else:
                report.clips += 1
                report.clip_bytes += clip.bytes
                log.info("retention: deleted clip %s of %s (%s, %.1f MB): %s", clip.clip_id, clip.camera_id,
                         Path(clip.path).name, clip.bytes / 1e6, reason)
            return True

        try:
            self.clips.expire(days * 86400.0, reason, self.clip_batch, remove)
        except psycopg.Error as exc:
            report.db_ok = False
            log.warning("retention: clip sweep failed: %s", str(exc).splitlines()[0][:200])
