"""One node: readers -> batched detector -> per-camera analytics -> alerts -> storage.

Data flows one way. Reader threads push frames (at the rate each camera's rules need) into small per-camera
queues; the main loop forms batches of at most one frame per camera, served by their share of the rate they
need and closed at a detection deadline, runs the detector on the crops where things moved, and hands the
batch to the analysis thread (tracking, zones, rules, alerts, health, stats), which works while the next
batch is detected. Recorders run beside the readers (ffmpeg, no decoding in Python) and the alert side cuts
clips from their segments.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import supervision as sv
from psycopg_pool import ConnectionPool

from alerts import AlertManager, AlertStore, ClipRetention, OutboxWorker, build_notifier
from analytics import AnalysisResult, CameraAnalytics, CameraHealth
from analytics.config import DetectorConfig, RegionOfInterest
from analytics.detectors import Detector, build_detector
from analytics.health import Sustained
from analytics.motion import MotionGate
from analytics.multidetect import CameraDetection
from analytics.rules import ExternalEvent, IncidentEvent
from i18n import N_
from ingest import CameraReader, Frame, Recorder, RetentionSweeper, SourceError, SourceInfo, cut_clip, probe
from jianguan.config import CameraConfig, SiteConfig
from jianguan.lane_feed import LaneEventFeed, lane_routes
from jianguan.metrics import role_port, serve_metrics
from jianguan.overload import OverloadWatch
from jianguan.recording_watch import RecordingWatch
from jianguan.site_services import SiteServices
from storage import BatchWriter

log = logging.getLogger(__name__)

RECORDING_CHECK_S = 5.0  # how often the node asks whether every live camera is still being recorded
STORAGE_CLEAR_S = 60.0  # a minute without a refused spool write closes storage_failing

# Seconds of detection one batch may take: with live_buffer_s (1.5 s) of waiting and the analysis after it, an
# alert is written within 2 s of its frame however many cameras the node has.
BATCH_BUDGET_S = 0.3


@dataclass
class CameraCounters:
    frames_analysed: int = 0
    detections: int = 0
    dropped: int = 0  # frames a live reader produced while analytics was still busy
    gated: int = 0  # frames the motion gate kept from the detector (static picture)
    expected_frames: int | None = None


@dataclass
class NodeReport:
    base_ts: float = 0.0  # epoch of second 0 of file sources: their frame times are base_ts + pts
    wall_s: float = 0.0
    cameras: dict[str, CameraCounters] = field(default_factory=dict)
    incidents: int = 0
    alerts: int = 0
    alert_ids: list[int] = field(default_factory=list)
    alert_latency_s: list[float] = field(default_factory=list)  # see AlertStats.latency_s
    needed_fps: float = 0.0  # mean over cameras of the analysis rate their rules need
    clips: int = 0
    clip_failures: int = 0
    deliveries: int = 0
    failed_deliveries: int = 0
    undelivered: int = 0

    @property
    def frames(self) -> int:
        return sum(c.frames_analysed for c in self.cameras.values())

    @property
    def detections(self) -> int:
        return sum(c.detections for c in self.cameras.values())


class RecorderClips:
    """ClipSource over the node's recorders."""

    def __init__(self, recorders: dict[str, Recorder]) -> None:
        self.recorders = recorders

    def records(self, camera_id: str) -> bool:
        return camera_id in self.recorders  # recording can be switched off per camera

    def covered_until(self, camera_id: str) -> float:
        return self.recorders[camera_id].covered_until()

    def finished(self, camera_id: str) -> bool:
        return self.recorders[camera_id].finished

    def cut(self, camera_id: str, t0: float, t1: float, out_path: Path):
        return cut_clip(self.recorders[camera_id].segments(), t0, t1, out_path)


# camera_stats columns from CameraHealth.last_measures (migration 0008), in this order, then the open issues.
_MEASURES = (("luma_mean", "luma_mean"), ("luma_std", "luma_std"), ("sharpness", "sharpness"),
             ("sharpness_ratio", "sharpness_ratio"), ("changed", "changed"), ("scene_shift", "shift"),
             ("scene_response", "response"))
HEALTH_COLUMNS = (*(column for column, _ in _MEASURES), "health_issues")


def health_figures(health: CameraHealth | None, online: bool) -> tuple[float | list[str] | None, ...]:
    """The picture measures of the latest health sample (NULL while offline: they would be stale) and the
    open health incidents (video loss included, so also while offline)."""
    if health is None:
        return (None,) * len(HEALTH_COLUMNS)
    m = health.last_measures if online else {}
    issues = sorted({i.rule for i in health.open_incidents})
    return (*(round(float(m[key]), 5) if key in m else None for _, key in _MEASURES), issues or None)


class AnalysisObserver(Protocol):
    """Watches what the node hands to a camera's analytics (`Node(observer=...)`; `jianguan evaluate --record`
    keeps it so tracking, zones, rules and scoring can be run again without the detector). Called on the
    analysis thread, once per analysed frame, before the analytics sees it."""

    def frame(self, camera_id: str, ts: float, frame_wh: tuple[int, int], detections: sv.Detections,
              events: Sequence[ExternalEvent]) -> None:
        """`events`: the external events fed to the camera's rules just before this frame, in that order."""


def camera_analytics(cam: CameraConfig) -> CameraAnalytics:
    """Everything after the detector for one camera, as the node builds it (a replay builds it here too)."""
    return CameraAnalytics(cam.id, cam.analysis_fps, cam.zones, cam.analysis_rules, cam.tracking, cam.seating)


def analyse_detections(cam_analytics: CameraAnalytics, manager: AlertManager, ts: float, frame_wh: tuple[int, int],
                       det: sv.Detections, image: np.ndarray | None, events: Sequence[ExternalEvent] = ()
                       ) -> AnalysisResult:
    """One frame's detections through the camera's rules to the alert manager: the external events due before
    it first, then tracking, zones and rules. Shared by the node and `jianguan evaluate --replay`, so a replay
    judges exactly what the node would have (`image` is the evidence picture; None draws a black one)."""
    for external in events:
        for event in cam_analytics.feed_event(external):
            manager.handle(event, image, sv.Detections.empty(), None)
    result = cam_analytics.process(ts, frame_wh, det)
    for event in result.events:
        zone = next((z for z in cam_analytics.zones if z.id == event.incident.zone_id), None)
        polygon = zone.pixels(frame_wh) if zone else None
        manager.handle(event, image, result.observation.detections, polygon)
    return result


def is_file_source(url: str) -> bool:
    return "://" not in url or url.startswith("file:")


@dataclass
class Preflight:
    """What was checked before anything starts: the model loads, and sources answer."""

    detectors: dict[str, Detector]  # by name, in the site's order
    sources: dict[str, SourceInfo]
    unreachable: dict[str, str]  # live cameras that did not answer (their readers keep retrying)


def preflight(config: SiteConfig, probe_timeout_s: float = 5.0,
              build: Callable[[DetectorConfig], Detector] = build_detector) -> Preflight:
    """Fail fast with one clear error on what the user must fix: missing weights, missing files,
    or a site where not a single camera answers. A few dead live cameras are reported, not fatal.
    `build` makes each detector (a cluster's group may run YOLO on a shared server)."""
    detectors = {d.name: build(d) for d in config.all_detectors}
    sources: dict[str, SourceInfo] = {}
    unreachable: dict[str, str] = {}
    errors: list[SourceError] = []
    live = [c for c in config.cameras if not is_file_source(c.streams.detect)]
    for cam in config.cameras:
        if is_file_source(cam.streams.detect):
            sources[cam.id] = probe(cam.streams.detect, timeout_s=probe_timeout_s)
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {cam.id: pool.submit(probe, cam.streams.detect, probe_timeout_s) for cam in live}
        for cam_id, fut in futures.items():
            try:
                sources[cam_id] = fut.result()
            except SourceError as exc:
                unreachable[cam_id] = str(exc)
                errors.append(exc)
    if live and len(unreachable) == len(live) and not any(is_file_source(c.streams.detect) for c in config.cameras):
        # The first camera's own error as the value: its English today, its reader's language should the
        # mixin ever word nested errors too.
        raise SourceError(N_("no camera could be reached ({count} tried); first: {first}"), count=len(live),
                          first=errors[0])
    for cam_id, why in unreachable.items():
        log.warning("camera %s unreachable at start, will keep retrying: %s", cam_id, why)
    return Preflight(detectors, sources, unreachable)


class Node:
    def __init__(self, config: SiteConfig, dsn: str, *, checked: Preflight | None = None,
                 base_ts: float | None = None,
                 progress: Callable[[NodeReport], None] | None = None, progress_every_s: float = 3.0,
                 stats_every_s: float = 5.0, drain_s: float = 30.0, site_services: bool = True,
                 build_detector: Callable[[DetectorConfig], Detector] = build_detector,
                 observer: AnalysisObserver | None = None) -> None:
        self.config = config
        self.observer = observer  # None (the default) costs one comparison per frame
        self.build_detector = build_detector  # preflight's, when `checked` is not given
        # False in a cluster's camera group: the site's services run once, elsewhere (jianguan/site_services.py).
        self.site_services = site_services
        self.dsn = dsn
        self.checked = checked
        self.base_ts = time.time() if base_ts is None else base_ts
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.stats_every_s = stats_every_s
        self.drain_s = drain_s
        self.report = NodeReport(base_ts=self.base_ts, cameras={c.id: CameraCounters() for c in config.cameras})
        self.stop_event = threading.Event()
        self._detector_names = {c.id: [d.name for d in config.detectors_of(c)] for c in config.cameras}
        self._events: dict[str, list[ExternalEvent]] = {}
        self._posted: list[IncidentEvent] = []  # post_incidents(), for the analysis thread
        self._events_lock = threading.Lock()
        self._gates = {c.id: MotionGate(c.detect.motion) for c in config.cameras
                       if c.detect.motion is not None and c.detect.motion.enabled}
        # Staggered start: live camera i of n opens at i/n of the window (its recorder half a step later), so
        # 112 RTSP sessions are not opened in one burst. Files start at once: their time base is fixed.
        live_ids = [c.id for c in config.cameras if not is_file_source(c.streams.detect)]
        self._stagger_gap_s = config.recording.start_stagger_s / max(1, len(live_ids))
        self._start_offset = {cam_id: i * self._stagger_gap_s for i, cam_id in enumerate(live_ids)}
        self._health: dict[str, CameraHealth] = {}  # set up in _loop; read by the stats writer
        self._readers: dict[str, CameraReader] = {}  # set in _loop: health asks whether a camera still connects
        # What the metrics endpoint reads (jianguan/metrics.py), set as run() creates them.
        self._queues: dict[str, queue.Queue[Frame]] = {}
        self._manager: AlertManager | None = None
        self._outbox: OutboxWorker | None = None
        self._writers: list[BatchWriter] = []
        self.frame_cost_s = 0.0  # recent detection cost per frame (EWMA)
        self._recording_watch = RecordingWatch({})  # set in run(): live cameras that record
        self._next_recording_check = 0.0
        self._last_image: dict[str, np.ndarray] = {}
        self._needed_fps = {c.id: c.analysis_fps for c in config.cameras}
        self._vtime = dict.fromkeys(self._needed_fps, 0.0)  # seconds of needed frames analysed: fair shares
        self._overload = OverloadWatch(config.cameras[0].id, self._needed_fps)
        # The node's disk: filed under its first camera, as the overload alert is (an alert needs one).
        self._storage = Sustained("storage_failing", config.cameras[0].id, 0.0, STORAGE_CLEAR_S, "critical")
        self._refused_seen = 0
        self.report.needed_fps = sum(self._needed_fps.values()) / len(self._needed_fps)

    # -- set-up ------------------------------------------------------------------------------------
    def _open_sources(self) -> tuple[dict[str, CameraReader], dict[str, Recorder], dict[str, bool]]:
        readers, recorders, live = {}, {}, {}
        assert self.checked is not None
        for cam in self.config.cameras:
            live[cam.id] = not is_file_source(cam.streams.detect)
            info = self.checked.sources.get(cam.id)
            duration = getattr(info, "duration_s", None)
            if not live[cam.id] and info is not None and info.fps and duration:
                self.report.cameras[cam.id].expected_frames = int(duration * min(cam.analysis_fps, info.fps))
            offset = self._start_offset.get(cam.id, 0.0)
            readers[cam.id] = CameraReader(cam.id, cam.streams.detect, cam.analysis_fps, base_ts=self.base_ts,
                                           start_delay_s=offset,
                                           max_width=cam.detect.max_width)
            if cam.record.enabled:
                out = self.config.paths.recordings_dir / cam.id
                # A file's recording shares the reader's time base; a live recording starts its own clock.
                recorders[cam.id] = Recorder(cam.id, cam.streams.record or cam.streams.detect, out,
                                             segment_s=cam.record.segment_s,
                                             base_ts=None if live[cam.id] else self.base_ts,
                                             start_delay_s=offset + min(1.0, self._stagger_gap_s / 2)
                                             if live[cam.id] else 0.0)
        return readers, recorders, live

    def run(self) -> NodeReport:
        started = time.monotonic()
        cfg = self.config
        if self.checked is None:
            self.checked = preflight(cfg, build=self.build_detector)
        readers, recorders, live = self._open_sources()
        self._recording_watch = RecordingWatch({c: r for c, r in recorders.items() if live[c]})
        pool = ConnectionPool(self.dsn, min_size=1, max_size=4, kwargs={"application_name": "jianguan-node"},
                              open=True)
        sweeper: RetentionSweeper | None = None
        metrics_server = None
        # Lane sensors' records reach the lane rules of live cameras as they arrive at the intake.
        lane_feed = LaneEventFeed(self.dsn, cfg.site.id, lane_routes(cfg), self.post_event) \
            if any(live.values()) else None
        services = SiteServices(pool, cfg, self.dsn, refresh_rollups=any(live.values())) \
            if self.site_services else None
        try:
            notifiers = services.notifiers if services is not None else \
                {n.id: build_notifier(n) for n in cfg.alerts.notifiers}
            if services is not None:
                services.start()
                self._outbox = services.outbox
            areas = {c.id: c.area for c in cfg.cameras}
            manager = AlertManager(AlertStore(pool), cfg.alerts, notifiers, cfg.paths.evidence_dir,
                                   site_of=lambda _cam: cfg.site.id, clips=RecorderClips(recorders),
                                   area_of=areas.__getitem__, timezone=cfg.site.timezone,
                                   spool_dir=cfg.paths.data_dir / "spool", locale=cfg.site.language,
                                   camera_name_of=cfg.camera_name, zone_name_of=cfg.zone_name)
            self._manager = manager
            # Metrics spool to disk while the database is away and replay in order when it returns.
            spool = cfg.paths.data_dir / "spool"
            occupancy = BatchWriter(pool, "occupancy_samples", ["ts", "camera_id", "zone_id", "people"],
                                    spool_dir=spool)
            stats = BatchWriter(pool, "camera_stats", ["ts", "camera_id", "online", "camera_fps", "process_fps",
                                                       "skipped_fps", "detection_fps", "decode_ms", "lag_s",
                                                       "reconnects", *HEALTH_COLUMNS, "analysed_fps",
                                                       "dropped_fps", "needed_fps"], spool_dir=spool)
            self._writers = [occupancy, stats]
            if (port := role_port(cfg.metrics, "node")) is not None:
                metrics_server = serve_metrics(self, port, cfg.metrics.bind)
            for rec in recorders.values():
                rec.start()
            sweeper = RetentionSweeper(
                cfg.paths.recordings_dir, cfg.recording, ClipRetention(pool), recorders=recorders,
                keep_s={c.id: c.record.keep_s for c in cfg.cameras if c.record.keep_s is not None},
                clip_pre_s=cfg.alerts.clip_pre_s, max_clip_s=cfg.alerts.max_clip_s)
            sweeper.start()
            if lane_feed is not None:
                lane_feed.start()
            self._loop(readers, live, manager, occupancy, stats)
            self._write_stats(readers, stats, manager, final=True)
            occupancy.close()
            stats.close()
            manager.close(wait=True)
            if services is not None:
                services.stop(drain_s=self.drain_s)
            self.report.incidents = manager.stats.incidents
            self.report.alerts = manager.stats.alerts_opened
            self.report.alert_ids = list(manager.stats.alert_ids)
            self.report.alert_latency_s = list(manager.stats.latency_s)
            self.report.clips = manager.stats.clips
            self.report.clip_failures = manager.stats.clip_failures
            if services is not None:
                self.report.deliveries = services.outbox.stats.delivered
                self.report.failed_deliveries = services.outbox.stats.failed_attempts
                self.report.undelivered = services.outbox.pending_due()
        finally:
            if services is not None:  # after an error: stopped above otherwise (stop is once)
                services.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
            if sweeper is not None:
                sweeper.stop()
            if lane_feed is not None:
                lane_feed.stop()
            for reader in readers.values():
                reader.stop()
            for rec in recorders.values():
                rec.stop()
            pool.close()
        self.report.wall_s = time.monotonic() - started
        return self.report

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, readers: dict[str, CameraReader], live: dict[str, bool],
              manager: AlertManager, occupancy: BatchWriter, stats: BatchWriter) -> None:
        cams = {c.id: c for c in self.config.cameras}
        self._readers = readers
        analytics = {c.id: camera_analytics(c) for c in self.config.cameras}
        assert self.checked is not None
        self._detection = CameraDetection(self.checked.detectors, {
            c.id: (self._detector_names[c.id], c.zones, c.detect.roi) for c in self.config.cameras})
        # Camera health reads the same decoded frames; video loss is judged on the wall clock, live only.
        self._health = {c.id: CameraHealth(c.id, c.camera_health, started_at=time.time() + self._start_offset.get(
            c.id, 0.0)) for c in self.config.cameras}  # a staggered camera's video-loss clock starts with it
        queues: dict[str, queue.Queue[Frame]] = {c.id: queue.Queue(maxsize=c.detect.queue_frames(c.analysis_fps))
                                                for c in self.config.cameras}
        self._queues = queues
        finished: dict[str, threading.Event] = {c: threading.Event() for c in cams}
        last_ts: dict[str, float] = {}

        for cam_id, reader in readers.items():
            threading.Thread(target=self._pump, args=(reader, queues[cam_id], live[cam_id], finished[cam_id]),
                             name=f"pump:{cam_id}", daemon=True).start()

        # Detection (this thread) and everything after it (the analysis thread: tracking, rules, alerts, health,
        # stats) overlap: the runtimes release the GIL while a batch runs, so the next batch is detected while
        # the last one is analysed, and both cores stay busy. One batch in flight at most: a camera's frames are
        # analysed in order, and a slow analysis holds detection back instead of queueing without bound.
        handoff: queue.Queue[tuple[list[Frame], list[sv.Detections]] | None] = queue.Queue(maxsize=1)
        failed: list[BaseException] = []
        # The crop planners learn people's heights from what the analysis placed. Batch n is planned with what
        # batches up to n - 2 showed (n - 1 is still being analysed): the same every run, whatever the timing.
        done = threading.Condition()
        learnt: list[list[tuple]] = []  # per analysed batch not yet applied: its observations for the planners
        applied = 0  # batches whose observations the planners have: applied + len(learnt) batches are analysed

        def analyse() -> None:
            next_progress = time.monotonic()
            next_stats = float("inf")  # from the first analysed batch on: before it there is no picture to measure
            try:
                while True:
                    try:
                        item = handoff.get(timeout=0.05)
                    except queue.Empty:
                        item = ([], [])
                    if item is None:
                        return
                    observed = []
                    for frame, det in zip(*item, strict=True):
                        observed.append(self._analyse(frame, det, cams[frame.camera_id], analytics[frame.camera_id],
                                                      manager, occupancy))
                        last_ts[frame.camera_id] = frame.ts
                    if item[0]:
                        with done:
                            learnt.append(observed)
                            done.notify_all()
                        if next_stats == float("inf"):  # the first batch: stats from now on, every stats_every_s
                            next_stats = time.monotonic()
                    self._tick_health(live, manager)
                    with self._events_lock:
                        posted, self._posted = self._posted, []
                    self._hand_frameless(manager, posted)
                    now = time.monotonic()
                    if now >= next_stats:
                        self._write_stats(readers, stats, manager)
                        next_stats = now + self.stats_every_s
                    if self.progress and now >= next_progress:
                        self.progress(self.report)
                        next_progress = now + self.progress_every_s
            except BaseException as exc:  # the node stops and run() raises it
                with done:
                    failed.append(exc)
                    done.notify_all()
                self.stop_event.set()

        worker = threading.Thread(target=analyse, name="analysis", daemon=True)
        worker.start()
        sent = 0  # batches handed to the analysis
        try:
            frame_cost = 0.0
            while not self.stop_event.is_set():
                batch = self._form_batch(queues, cams, live, frame_cost)
                if not batch:
                    if all(e.is_set() for e in finished.values()) and all(q.empty() for q in queues.values()):
                        break
                    time.sleep(0.005)
                    continue
                with done:
                    done.wait_for(lambda n=sent, a=applied: a + len(learnt) >= n - 1 or bool(failed))
                    take = max(0, sent - 1 - applied)
                    ready, learnt[:take] = learnt[:take], []
                for observations in ready:
                    for observation in observations:
                        self._detection.observe(*observation)
                applied += take
                t0 = time.perf_counter()
                item = (batch, self._gated_detect(batch, cams))
                spent = (time.perf_counter() - t0) / len(batch)
                frame_cost = spent if frame_cost == 0.0 else 0.8 * frame_cost + 0.2 * spent
                self.frame_cost_s = frame_cost
                sent += 1
                while not self.stop_event.is_set():
                    with contextlib.suppress(queue.Full):
                        handoff.put(item, timeout=0.1)
                        break
        finally:
            while worker.is_alive():
                with contextlib.suppress(queue.Full):
                    handoff.put(None, timeout=0.1)
                    break
            worker.join()
        if failed:
            raise failed[0]

        # Observation is over: open incidents end where the footage ends.
        for cam_id, cam_analytics in analytics.items():
            if cam_id in last_ts:
                for event in [*cam_analytics.flush(last_ts[cam_id]), *self._health[cam_id].flush(last_ts[cam_id])]:
                    # A flush mostly closes; one that opens (a lane judged at stop) shows the last frame seen.
                    manager.handle(event, self._evidence_image(cam_id), sv.Detections.empty(), None)
        self._hand_frameless(manager, self._recording_watch.flush(time.time()))

    def _form_batch(self, queues: dict[str, queue.Queue[Frame]], cams: dict[str, CameraConfig],
                    live: dict[str, bool], frame_cost: float) -> list[Frame]:
        """The next round: at most one frame per camera, closed when the batch would take `BATCH_BUDGET_S` to
        detect at the recent cost per frame (DeepStream's batch deadline). Cameras are served in order of
        their virtual time (frames analysed / rate needed), so past capacity each gets the same share of the
        rate its rules need (a 5 frames/s exam camera three times a 2 frames/s window camera's frames, not
        the same), and one that was idle does not jump the queue. Without the deadline a round over every
        camera took seconds past capacity and each frame waited for it (alert latency 2.6 s p95 at 24)."""
        waiting = [c for c, q in queues.items() if not q.empty()]
        if not waiting:
            return []
        floor = min(self._vtime[c] for c in waiting)
        batch: list[Frame] = []
        for cam_id in sorted(waiting, key=self._vtime.__getitem__):
            with contextlib.suppress(queue.Empty):
                batch.append(self._next_frame(queues[cam_id], cams[cam_id], live[cam_id]))
                self._vtime[cam_id] = max(self._vtime[cam_id], floor) + 1.0 / self._needed_fps[cam_id]
                if frame_cost * len(batch) >= BATCH_BUDGET_S:
                    break
        return batch

    def _next_frame(self, q: queue.Queue[Frame], cam: CameraConfig, is_live: bool) -> Frame:
        """The camera's next frame. Past capacity a live camera's frames age in its queue: one older than
        `live_buffer_s` is dropped (and counted) while a newer one waits, so analysis follows the present and
        alert latency stays bounded instead of growing with the backlog."""
        frame = q.get_nowait()
        if is_live:
            oldest = time.time() - cam.detect.live_buffer_s
            while frame.ts < oldest and not q.empty():
                frame = q.get_nowait()
                self.report.cameras[cam.id].dropped += 1
        return frame

    def _gated_detect(self, batch: list[Frame], cams: dict[str, CameraConfig]) -> list[sv.Detections]:
        """Each detector runs once over the frames of the cameras that use it (one batch across cameras), on
        the crops each camera's planner chooses; results merge per frame (`CameraDetection`). Where a camera's
        motion gate is on, only the crops something moved in are run (the rest carry over what was last found
        there, so people who stand still stay seen), and the gate's keep-alive looks everywhere again."""
        motion: list[list[RegionOfInterest] | None] = []
        for frame in batch:
            gate = self._gates.get(frame.camera_id)
            if gate is None:
                motion.append(None)
                continue
            result = gate.update(frame.image, frame.ts, frame.luma)
            motion.append(None if result.due else result.boxes)
            if not result.run:
                self.report.cameras[frame.camera_id].gated += 1
        return self._detection.detect([f.camera_id for f in batch], [f.image for f in batch], motion)

    def post_incidents(self, events: list[IncidentEvent]) -> None:
        """Incidents found outside the node (a cluster's camera group restarted elsewhere): handed to the alert
        manager by the analysis thread at its next step, like the node's own health incidents."""
        with self._events_lock:
            self._posted.extend(events)

    def post_event(self, camera_id: str, event: ExternalEvent) -> None:
        """An event from outside the video for one camera's rules (lane sensor, inspection record). It reaches
        the rules just before the first frame at or after its time, so records and video stay in order."""
        with self._events_lock:
            bisect.insort(self._events.setdefault(camera_id, []), event, key=lambda e: e.ts)

    def _due_events(self, camera_id: str, ts: float) -> list[ExternalEvent]:
        with self._events_lock:
            pending = self._events.get(camera_id)
            if not pending or pending[0].ts > ts:
                return []
            cut = bisect.bisect_right(pending, ts, key=lambda e: e.ts)
            due, self._events[camera_id] = pending[:cut], pending[cut:]
            return due

    def _tick_health(self, live: dict[str, bool], manager: AlertManager) -> None:
        now = time.time()
        for cam_id, health in self._health.items():
            if not live[cam_id]:
                continue
            reader = self._readers.get(cam_id)
            if reader is not None and not reader.first_open.is_set():
                # Still connecting (a staggered start, an RTSP open waiting for a key frame): the video-loss
                # clock of a camera never seen starts when its first open is answered, or a slow open reads as
                # lost video.
                health.started_at = now
                continue
            if reader is not None:
                health.seen(reader.newest_ts)  # decoded frames count, not only analysed ones
            for event in health.tick(now):
                manager.handle(event, self._evidence_image(cam_id), sv.Detections.empty(), None)
        if now >= self._next_recording_check:  # reading the segment lists is file I/O: every few seconds
            self._next_recording_check = now + RECORDING_CHECK_S
            reading = {cam: live[cam] and reader.stats().online for cam, reader in self._readers.items()}
            try:
                events = self._recording_watch.step(now, reading)
            except Exception:  # a check of the recordings must never stop the analysis; the next one tries again
                log.exception("recording watch failed")
                events = []
            for event in events:
                cam_id = event.incident.camera_id
                manager.handle(event, self._evidence_image(cam_id), sv.Detections.empty(), None)

    def _hand_frameless(self, manager: AlertManager, events: list[IncidentEvent]) -> None:
        """Incidents without a frame of their own (health, overload, posted from outside): each with its camera's
        last frame as evidence."""
        for event in events:
            manager.handle(event, self._evidence_image(event.incident.camera_id), sv.Detections.empty(), None)

    def _evidence_image(self, cam_id: str) -> np.ndarray | None:
        """The picture for an alert that has no frame of its own (video lost, node overloaded): the camera's
        last frame seen; None before any (AlertManager.handle then draws its black placeholder)."""
        return self._last_image.get(cam_id)

    def _pump(self, reader: CameraReader, q: queue.Queue[Frame], is_live: bool, done: threading.Event) -> None:
        counters = self.report.cameras[reader.camera_id]
        try:
            for frame in reader.frames():
                if self.stop_event.is_set():
                    break
                if is_live:
                    # Live: never fall behind; keep the newest frames, count what we skip.
                    while True:
                        try:
                            q.put_nowait(frame)
                            break
                        except queue.Full:
                            try:
                                q.get_nowait()
                                counters.dropped += 1
                            except queue.Empty:
                                pass
                else:
                    # File: back-pressure, every sampled frame is analysed.
                    while not self.stop_event.is_set():
                        try:
                            q.put(frame, timeout=0.2)
                            break
                        except queue.Full:
                            continue
        except Exception:
            log.exception("reader %s stopped", reader.camera_id)
        finally:
            done.set()

    def _analyse(self, frame: Frame, det, cam: CameraConfig, cam_analytics: CameraAnalytics,
                 manager: AlertManager, occupancy: BatchWriter) -> tuple:
        """Rules, alerts, health and occupancy for one frame; returns what the crop planners learn from it
        (`CameraDetection.observe`'s arguments), applied by the detecting thread."""
        h, w = frame.image.shape[:2]
        due = self._due_events(cam.id, frame.ts)
        if self.observer is not None:
            self.observer.frame(cam.id, frame.ts, (w, h), det, due)
        counters = self.report.cameras[cam.id]
        counters.frames_analysed += 1
        counters.detections += len(det)
        result = analyse_detections(cam_analytics, manager, frame.ts, (w, h), det, frame.image, due)
        self._last_image[cam.id] = frame.image
        for event in self._health[cam.id].update(frame.ts, frame.image):
            manager.handle(event, frame.image, sv.Detections.empty(), None)
        for sample in result.occupancy:
            occupancy.add((datetime.fromtimestamp(sample.ts, tz=UTC), sample.camera_id, sample.zone_id,
                           sample.people))
        return cam.id, result.observation.detections, (w, h), result.observation.in_zone

    def _write_stats(self, readers: dict[str, CameraReader], stats: BatchWriter, manager: AlertManager,
                     final: bool = False) -> None:
        now = datetime.now(tz=UTC)
        totals = {c: (k.frames_analysed, k.dropped) for c, k in self.report.cameras.items()}
        events = self._overload.step(now.timestamp(), totals)
        # A spool the disk refuses (full, failing) is one critical health alert, not only a log line: the
        # evidence of everything raised while the database is away depends on it.
        spools = [w.spool for w in self._writers if w.spool is not None] + [manager.writer.spool]
        refused = sum(spool.write_errors for spool in spools)
        events += self._storage.step(now.timestamp(), refused > self._refused_seen,
                                     {"refused_writes": float(refused)})
        self._refused_seen = refused
        if final:
            events += self._overload.flush(now.timestamp()) + self._storage.reset(now.timestamp())
        self._hand_frameless(manager, events)
        for cam_id, reader in readers.items():
            s = reader.stats()
            counters = self.report.cameras[cam_id]
            det_fps = counters.detections / max(1e-6, counters.frames_analysed) * s.process_fps
            stats.add((now, cam_id, bool(s.online and not final), float(s.camera_fps), float(s.process_fps),
                       max(0.0, float(s.camera_fps) - float(s.process_fps)), float(det_fps),
                       float(s.decode_ms), float(s.lag_s), int(s.reconnects),
                       *health_figures(self._health.get(cam_id), bool(s.online and not final)),
                       *self._overload.rates.get(cam_id, (None, None)), self._needed_fps[cam_id]))
