"""Incidents become alerts: snapshot, alert and pushes written off the analysis thread through a spool
(alerts/writer.py), clip as soon as the recording has it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import supervision as sv

from alerts.config import AlertsConfig
from alerts.links import LinkSigner
from alerts.notifiers import Notifier
from alerts.routing import AlertFacts, route
from alerts.store import AlertRef, AlertStore, Message
from alerts.writer import AlertWriter, Closing, Opening, new_uid
from analytics import Incident, IncidentEvent
from analytics.health import HEALTH_RULES
from analytics.texts import alert_title, rule_texts
from common.model import severity_at_least
from i18n import DEFAULT_LOCALE, local_datetime

log = logging.getLogger(__name__)

def repages(rule: str) -> bool:
    """Whether each outage of `rule` pages again and its end is pushed too: camera health and recording
    (analytics.health.HEALTH_RULES and the node's recording watch), whose catalogue entry has a
    resolved title (analytics/texts.py)."""
    text = rule_texts().get(rule)
    return text is not None and text.resolved is not None


assert all(repages(rule) for rule in HEALTH_RULES)


class ClipSource(Protocol):
    """What the alert side needs from recording: whether a camera records, how far it reaches, a clip."""

    def records(self, camera_id: str) -> bool: ...

    def covered_until(self, camera_id: str) -> float: ...

    def finished(self, camera_id: str) -> bool: ...

    def cut(self, camera_id: str, t0: float, t1: float, out_path: Path) -> Any: ...


@dataclass
class AlertStats:
    incidents: int = 0
    alerts_opened: int = 0
    merged: int = 0
    clips: int = 0
    clip_failures: int = 0
    alert_ids: list[int] = field(default_factory=list)
    # wall clock when an alert was written minus the time of the frame that raised it (live cameras: the
    # whole path from decode through analysis to the database)
    latency_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _ClipJob:
    alert_id: int
    camera_id: str
    t0: float
    t1: float
    deadline: float


class AlertManager:
    def __init__(
        self,
        store: AlertStore,
        config: AlertsConfig,
        notifiers: dict[str, Notifier],
        evidence_dir: Path,
        site_of: Callable[[str], str],
        clips: ClipSource | None = None,
        clip_wait_s: float = 120.0,
        area_of: Callable[[str], str] = lambda _camera: "",
        timezone: str = "Asia/Shanghai",
        spool_dir: Path | None = None,
        locale: str = DEFAULT_LOCALE,
        camera_name_of: Callable[[str], str] = lambda camera: camera,
        zone_name_of: Callable[[str, str], str] = lambda _camera, zone: zone,
    ) -> None:
        self.store = store
        self.config = config
        self.notifiers = notifiers
        self.evidence_dir = evidence_dir
        self.site_of = site_of
        self.clips = clips
        self.clip_wait_s = clip_wait_s
        self.area_of = area_of
        self.timezone = timezone
        # What people read (titles, pushes, captions) is in the site's language, at the site's local time.
        self.locale = locale
        self.camera_name_of = camera_name_of
        self.zone_name_of = zone_name_of
        secret = config.link_secret.get_secret_value() if config.link_secret else None
        self.links = LinkSigner(secret, max_age_s=int(config.link_ttl_h * 3600)) if secret else None
        self.stats = AlertStats()
        self._live: dict[int, str] = {}  # id(incident) -> its uid, from opening to closing
        self._jobs: queue.Queue[_ClipJob | None] = queue.Queue()
        self._clipper = threading.Thread(target=self._clip_loop, name="clipper", daemon=True)
        self._clipper.start()
        self.writer = AlertWriter(store, spool_dir or Path(evidence_dir).parent / "spool",
                                  cooldown_s=config.cooldown_s, messages=self._messages, on_opened=self._recorded,
                                  on_merged=self._merged, repage=lambda inc: repages(inc.rule),
                                  closing_messages=self._closing_messages)

    def handle(self, event: IncidentEvent, image: np.ndarray | None, detections: sv.Detections | None,
               zone_polygon: np.ndarray | None) -> None:
        """Hand an incident's opening (with its snapshot: `image`, or a black picture when there is no frame,
        e.g. a rule judged at the end of observation) or closing to the writer, and return at once: a
        database that is away never holds the analysis (alerts/writer.py)."""
        inc = event.incident
        if event.kind == "opened":
            self.stats.incidents += 1
            uid = new_uid()
            self._live[id(inc)] = uid
            copy = deepcopy(inc)  # the rule goes on changing its own
            title = self._title(inc)
            stamp = datetime.fromtimestamp(inc.raised_at, tz=UTC).strftime("%Y%m%dT%H%M%S")
            base = self.evidence_dir / inc.camera_id / f"{stamp}-{inc.rule}-{inc.zone_id or 'frame'}"
            caption = (f"{self.camera_name_of(inc.camera_id)}  {title}  "
                       f"{local_datetime(inc.raised_at, self.timezone, offset=True)}")
            self.writer.put(Opening(
                uid, copy, self.site_of(inc.camera_id), title, caption, str(base.with_suffix(".jpg")),
                image if image is not None else np.zeros((360, 640, 3), np.uint8),
                detections if detections is not None else sv.Detections.empty(), zone_polygon))
        else:
            uid = self._live.pop(id(inc), None)
            if uid is not None:
                self.writer.put(Closing(uid, deepcopy(inc)))

    def _recorded(self, ref: AlertRef, inc: Incident) -> None:
        """The writer opened an alert: count it and queue its clip."""
        self.stats.alerts_opened += 1
        self.stats.alert_ids.append(ref.alert_id)
        self.stats.latency_s.append(time.time() - inc.raised_at)
        if self.clips is not None and self.clips.records(inc.camera_id):
            t0 = inc.started_at - self.config.clip_pre_s
            t1 = min(inc.raised_at + self.config.clip_post_s, t0 + self.config.max_clip_s)
            self._jobs.put(_ClipJob(ref.alert_id, inc.camera_id, t0, t1, time.monotonic() + self.clip_wait_s))

    def _merged(self, _ref: AlertRef, _inc: Incident) -> None:
        self.stats.merged += 1

    def _messages(self, inc: Incident, title: str) -> Callable[[int], list[Message]]:
        """The pushes of an alert opened for `inc`, given its id (written with the alert, one transaction)."""
        return self._pushes(inc, title, "opened")

    def _title(self, inc: Incident, resolved: bool = False) -> str:
        zone = self.zone_name_of(inc.camera_id, inc.zone_id) if inc.zone_id else None
        return alert_title(inc.rule, inc.measures, zone, self.locale, resolved=resolved)

    def _closing_messages(self, inc: Incident) -> Callable[[int], list[Message]] | None:
        """A camera-health incident's end is pushed too ("Video restored"); other incidents end quietly."""
        return self._pushes(inc, self._title(inc, resolved=True), "resolved") if repages(inc.rule) else None

    def _pushes(self, inc: Incident, title: str, kind: str) -> Callable[[int], list[Message]]:

        def build(alert_id: int) -> list[Message]:
            payload = {
                "event": f"alert.{kind}",
                "alert_id": alert_id,
                "site_id": self.site_of(inc.camera_id),
                "camera_id": inc.camera_id,
                "rule": inc.rule,
                "zone_id": inc.zone_id,
                "severity": inc.severity,
                "title": title,
                "started_at": datetime.fromtimestamp(inc.started_at, tz=UTC).isoformat(),
                "raised_at": datetime.fromtimestamp(inc.raised_at, tz=UTC).isoformat(),
                "ended_at": None if inc.ended_at is None else datetime.fromtimestamp(inc.ended_at, tz=UTC).isoformat(),
                "confidence": inc.confidence,
                "measures": inc.measures,
                "review_url": f"{self.config.review_base_url.rstrip('/')}/alerts/{alert_id}",
                # What the push shows people (alerts/notifiers/render.py), in the site's language.
                "locale": self.locale,
                "camera_name": self.camera_name_of(inc.camera_id),
                "zone_name": self.zone_name_of(inc.camera_id, inc.zone_id) if inc.zone_id else None,
            }
            facts = AlertFacts(payload["site_id"], self.area_of(inc.camera_id), inc.rule, inc.severity,
                               datetime.fromtimestamp(inc.raised_at, tz=UTC))
            targets = route(self.config.routes, facts, self.timezone, default=list(self.notifiers))
            base = self.config.review_base_url.rstrip("/")
            out = []
            for name in targets:
                notifier = self.notifiers.get(name)
                if notifier is not None and not severity_at_least(inc.severity, notifier.min_severity):
                    continue
                message = dict(payload)
                if self.links is not None:
                    message["ack_url"] = f"{base}/ack/{self.links.sign(alert_id, 'acknowledge', name)}"
                out.append((name, message, f"alert-{alert_id}-{kind}-{name}"))
            return out

        return build

    # -- clips: cut on a worker thread, because the recording must first reach t1 --------------------
    def _clip_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._cut(job)
            except Exception as exc:  # a bad clip must not take the alert path down
                log.exception("clip for alert %s failed", job.alert_id)
                self.stats.clip_failures += 1
                self.store.clip_failed(job.alert_id, str(exc).splitlines()[0][:300])
            finally:
                self._jobs.task_done()

    def _cut(self, job: _ClipJob) -> None:
        assert self.clips is not None
        while (self.clips.covered_until(job.camera_id) < job.t1 and not self.clips.finished(job.camera_id)
               and time.monotonic() < job.deadline):
            time.sleep(0.5)
        out = self.evidence_dir / job.camera_id / f"alert-{job.alert_id}.mp4"
        clip = self.clips.cut(job.camera_id, job.t0, job.t1, out)
        self.store.attach_clip(job.alert_id, job.camera_id, clip)
        self.stats.clips += 1

    def close(self, wait: bool = True, drain_s: float = 10.0) -> None:
        """Write what the writer holds (within `drain_s`; the rest stays spooled for the next run), finish
        pending clip jobs (they wait for the recording) and stop the clip thread."""
        self.writer.close(drain_s if wait else 0.0)
        if wait:
            self._jobs.join()
        self._jobs.put(None)
        self._clipper.join(timeout=5)
