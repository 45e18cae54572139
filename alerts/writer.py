"""The durable alert path: incidents reach the database from a writer thread, through a spool on disk.

`AlertManager.handle` runs on the node's analysis thread. It used to draw the snapshot and write incident,
alert and outbox rows there, so a database outage held the analysis for the pool's timeout on every incident
(measured: an 18 s hole in every camera, then false `video_loss` alerts) and an error there stopped the node.
Now `handle` hands an immutable copy of the incident to this writer and returns at once. The writer, in
order, for each job:

1. draws and encodes the snapshot (opening jobs) and writes it to the evidence folder;
2. appends the job to its spool (`storage.writers.Spool`, the metric writers' format: framed, CRC, fsync'd),
   so from here on a crash or a database outage of any length loses nothing (bounded by disk);
3. applies every spooled job not yet acknowledged, in order: an opening records incident, alert, events and
   the outbox rows of every channel in one transaction (`AlertStore.record_incident`); a closing closes it.
   Each applied job is acknowledged in the spool.

While the database is away the writer keeps encoding and spooling, and retries with backoff (0.5 s doubling to
30 s). A spool left by a stopped or killed node is replayed when the next one starts. A job replayed after a
commit whose acknowledgement was lost finds its incident by `uid` (unique in the database) and adds nothing.
A job the database refuses for good (a bug, a camera removed from the config) goes to `alerts.dead` as JSON
and the rest go on.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import supervision as sv
from psycopg_pool import PoolClosed, PoolTimeout

from alerts.snapshot import draw_evidence, write_jpeg
from alerts.store import AlertRef, AlertStore, Message
from analytics import Incident
from storage.writers import Spool

log = logging.getLogger(__name__)

SPOOL_TABLE = "alerts"  # the spool's file names in the spool folder: alerts.spool, alerts.ack
DB_TIMEOUT_S = 2.0  # waiting for a connection longer than this means the database is away: spool and retry
RETRY_S, MAX_RETRY_S = 0.5, 30.0


@dataclass(frozen=True)
class Opening:
    """What an incident's opening needs, taken on the analysis thread (the incident copied: rules go on
    changing theirs)."""

    uid: str
    incident: Incident
    site_id: str
    title: str
    caption: str
    snapshot_path: str
    image: np.ndarray
    detections: sv.Detections
    zone_polygon: np.ndarray | None


@dataclass(frozen=True)
class Closing:
    uid: str
    incident: Incident


def new_uid() -> str:
    return uuid.uuid4().hex


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout | PoolClosed | OSError)


class AlertWriter:
    """One thread that turns openings and closings into database rows, in order, through the spool.

    `messages(incident, title)` gives the function of alert id that builds an opening's pushes;
    `on_opened(ref, incident)` runs after an alert was newly opened (stats, clip jobs); `repage(incident)`:
    whether an incident that follows an ended one of the same live alert pages again; `closing_messages`:
    the pushes that say an incident is over (None: none)."""

    def __init__(self, store: AlertStore, spool_dir: Path, *, cooldown_s: float,
                 messages: Callable[[Incident, str], Callable[[int], Sequence[Message]]],
                 on_opened: Callable[[AlertRef, Incident], None],
                 on_merged: Callable[[AlertRef, Incident], None] = lambda _ref, _inc: None,
                 repage: Callable[[Incident], bool] = lambda _inc: False,
                 closing_messages: Callable[[Incident], Callable[[int], Sequence[Message]] | None] = lambda _i: None,
                 max_spool_bytes: int = 1024**3) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.cooldown_s = cooldown_s
        self.messages = messages
        self.on_opened = on_opened
        self.on_merged = on_merged
        self.repage = repage
        self.closing_messages = closing_messages
        self.spool = Spool(self.spool_dir, SPOOL_TABLE, max_spool_bytes)
        self.applied = 0  # jobs written to the database
        self.dead = 0  # jobs the database refused for good
        self.lost = 0  # jobs neither spooled nor written (the spool's disk full and the database away)
        self._refs: dict[str, AlertRef] = {}  # uid -> its alert, for the closing
        self._jobs: queue.Queue[Opening | Closing | None] = queue.Queue()
        self._next_try = 0.0
        self._backoff = RETRY_S
        self._idle = threading.Condition()
        self._busy = 0  # jobs taken from the queue and not yet spooled or written
        if self.spool.has_backlog():
            log.warning("alert spool: %d incident events from an earlier run to replay", self.spool.pending_rows)
        self._thread = threading.Thread(target=self._run, name="alert-writer", daemon=True)
        self._thread.start()

    # -- the analysis thread's side ---------------------------------------------------------------------
    def put(self, job: Opening | Closing) -> None:
        with self._idle:
            self._busy += 1
        self._jobs.put(job)

    def pending(self) -> int:
        """Jobs not yet in the database: queued, being prepared, or spooled."""
        with self._idle:
            return self._busy + self.spool.pending_rows

    def close(self, drain_s: float = 10.0) -> None:
        """Stop after writing what can be written within `drain_s`; the rest stays spooled for the next run."""
        deadline = time.monotonic() + drain_s
        with self._idle:
            self._idle.wait_for(lambda: self.pending() == 0, timeout=max(0.0, drain_s))
        self._jobs.put(None)
        self._thread.join(max(1.0, deadline - time.monotonic() + 1.0))
        if self.spool.has_backlog():
            log.warning("alert spool: %d incident events left for the next run (database away)",
                        self.spool.pending_rows)

    # -- the writer thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            wait = max(0.05, self._next_try - time.monotonic()) if self.spool.has_backlog() else None
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = False  # nothing new: time to retry the spool
            if job is None:
                self._apply_spooled()
                return
            if job is not False:
                try:
                    self._spool(job)
                except Exception:  # noqa: BLE001 - the writer must outlive one bad job
                    log.exception("alert writer: could not prepare an incident event")
                    self.lost += 1
                finally:
                    with self._idle:
                        self._busy -= 1
            self._apply_spooled()
            with self._idle:
                self._idle.notify_all()

    def _spool(self, job: Opening | Closing) -> None:
        if isinstance(job, Opening):
            image = draw_evidence(job.image, job.detections, job.zone_polygon, job.caption)
            sha = write_jpeg(image, Path(job.snapshot_path))
            record = ("open", job.uid, job.incident, job.site_id, job.title, job.snapshot_path, sha)
        else:
            record = ("close", job.uid, job.incident)
        if not self.spool.append([record]):
            # The spool's disk is full: write straight through if the database answers, else it is lost.
            log.critical("alert spool full (%d bytes in %s) or its disk refused it: incident event of %s written "
                         "without a spool", self.spool.size, self.spool_dir, job.incident.camera_id)
            try:
                self._apply(record)
                self.applied += 1
            except Exception:  # noqa: BLE001
                log.critical("alert lost: %s", json.dumps(_describe(record), default=str))
                self.lost += 1

    def _apply_spooled(self) -> None:
        if not self.spool.has_backlog() or time.monotonic() < self._next_try:
            return
        for seq, records, end in self.spool.unacked():
            try:
                for record in records:
                    self._apply(record)
            except Exception as exc:  # noqa: BLE001 - classified below
                if _transient(exc):
                    self._next_try = time.monotonic() + self._backoff
                    log.warning("alert writer: database away (%s); %d incident events spooled, retry in %.1f s",
                                type(exc).__name__, self.spool.pending_rows, self._backoff)
                    self._backoff = min(MAX_RETRY_S, self._backoff * 2)
                    return
                self._dead_letter(records, exc)
            else:
                self.applied += len(records)
            self.spool.ack(seq, end, len(records))
            self._backoff = RETRY_S
        self.spool.reset_if_done()

    def _apply(self, record: tuple[Any, ...]) -> None:
        if record[0] == "open":
            _kind, uid, inc, site_id, title, path, sha = record
            ref = self.store.record_incident(inc, site_id, title, (path, sha), cooldown_s=self.cooldown_s, uid=uid,
                                             messages=self.messages(inc, title), repage=self.repage(inc),
                                             timeout_s=DB_TIMEOUT_S)
            self._refs[uid] = ref
            (self.on_opened if ref.created else self.on_merged)(ref, inc)
            return
        _kind, uid, inc = record
        ref = self._refs.pop(uid, None) or self.store.ref_of(uid, timeout_s=DB_TIMEOUT_S)
        if ref is None:
            log.warning("alert writer: closing of an incident never recorded (%s %s)", inc.camera_id, inc.rule)
            return
        self.store.close_incident(ref, inc, timeout_s=DB_TIMEOUT_S, messages=self.closing_messages(inc))

    def _dead_letter(self, records: list[tuple[Any, ...]], exc: BaseException) -> None:
        self.dead += len(records)
        log.error("alert writer: the database refused an incident event (%s); kept in %s", exc,
                  self.spool_dir / "alerts.dead")
        with (self.spool_dir / "alerts.dead").open("a") as f:
            for record in records:
                f.write(json.dumps({"error": str(exc)[:500], **_describe(record)}, default=str) + "\n")


def _describe(record: tuple[Any, ...]) -> dict[str, Any]:
    return {"kind": record[0], "uid": record[1], "incident": asdict(record[2])}
