"""`jianguan evaluate --via-rtsp`: the labelled scenarios as live cameras, through the RTSP simulator.

Each scenario is served by `devkit.simulator` in play-once mode as its own camera (its rendered file is the
footage, rtsp://evaluation:<random password>@127.0.0.1:<port>/<scenario id>/main), and an ordinary `Node`
reads the rtsp:// URLs exactly as it reads a real site's cameras. Streams run in real time, so scenarios go
in batches small enough for the machine to analyse as they play.

How scenario time maps onto the node's clock
--------------------------------------------
A live reader stamps each frame with the wall clock at the moment it is decoded (`ingest.reader`,
`ts = time.time()`), not with the stream's own timestamps. So the scenario's time zero has to be a wall-clock
moment, and the frames have to reach the decoder when they are due:

- The stream starts for its first reader (the simulator starts a mount at its reader's PLAY and writes down
  the wall-clock epoch at which it sends the footage's first picture: `SimulatorHandle.started`). That epoch
  is the scenario's time zero, `t0`. A frame showing scenario time `t` leaves the server at `t0 + t` and is
  stamped `t0 + t + L`, where `L`, the transport and decoder latency, is about 0.1 s on one machine. `L` is
  left in: it is part of what a real camera costs, so the delays in the table include it.
- FFmpeg's stream probe (inside the reader's open) swallows the first ~20 frames of a stream and hands them
  out in one burst when the open returns; stamped at decode time they would squeeze that much of the
  scenario into a few milliseconds. So the simulator serves a 1.2 s still of the first picture before the
  footage (`LEAD_IN_S`, not part of scenario time), and serves at 25 frames/s, each scenario frame five
  times (the reader decimates back to the scenario's 5 frames/s by the stream's timestamps): the probe
  eats still frames only, and the decoder's few frames of threading delay are 40 ms each, not 200.
- External events (lane-sensor records, exam end) are posted at `t0 + t` as soon as `t0` is known, so they
  reach the rules just before the first frame at or after their time, as in file mode.
- Judging stops at the scenario's duration: the footage plays once and the stream then falls silent (the
  mount is withdrawn as it starts, so a reconnect gets 404, never a replay on an unknown clock); the rules see
  no frame after the end and are flushed at the last one when the batch ends, as a file is at its end.
  Incident times are read back relative to each camera's `t0`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analytics.rules import ExternalEvent
from devkit.scenarios import Scenario
from jianguan.evaluate import Found, analysis_rate, load_found, site_config
from jianguan.node import Node, NodeReport, Preflight, preflight

if TYPE_CHECKING:
    from devkit.simulator import SimulatorHandle

log = logging.getLogger(__name__)

SERVE_FPS = 25.0  # stream rate; scenario frames are repeated to it (see the module docstring)
LEAD_IN_S = 1.2  # still of the first picture before the footage, for FFmpeg's stream probe
STOP_AFTER_S = 1.0  # after the last scenario of a batch ends: its last frames are decoded and analysed
SETTLED_S = 2.0  # after time zero, the lead-in's stills have surely left the node's queue (see _check)
START_TIMEOUT_S = 30.0  # a camera whose stream has not started by then is given up
USER = "evaluation"
PASSWORD_VAR = "JIANGUAN_EVALUATION_RTSP_PASSWORD"  # the site config names it; its value never leaves memory


@dataclass
class LiveRun:
    found: dict[str, list[Found]] = field(default_factory=dict)
    report: NodeReport = field(default_factory=NodeReport)
    warnings: list[str] = field(default_factory=list)
    starts: dict[str, float] = field(default_factory=dict)  # scenario id -> epoch of its time zero


def batches(scenarios: Sequence[Scenario], size: int) -> list[list[Scenario]]:
    """Scenarios of similar length together: a camera whose scenario has ended is silent until its batch
    ends, and a silence longer than the reader's timeout (5 s) makes it reconnect (to a 404) and log it.

    >>> from types import SimpleNamespace as S
    >>> [[s.id for s in b] for b in batches([S(id="a", duration_s=50), S(id="b", duration_s=30),
    ...                                     S(id="c", duration_s=49)], 2)]
    [['b', 'c'], ['a']]
    """
    ordered = sorted(scenarios, key=lambda s: (s.duration_s, s.id))
    return [ordered[i:i + size] for i in range(0, len(ordered), max(1, size))]


def run_live(scenarios: Sequence[Scenario], videos: Mapping[str, Path], work_dir: Path, dsn: str, *,
             model: str, imgsz: int, batch: int = 2, say: Callable[[str], None] = lambda _m: None) -> LiveRun:
    """Serve and analyse the scenarios `batch` at a time; incidents relative to each scenario's time zero."""
    from devkit.simulator import MAIN, start_simulator

    fps = {sc.fps for sc in scenarios}
    if any(SERVE_FPS % f for f in fps):
        raise ValueError(f"scenario rates {sorted(fps)} do not divide the served {SERVE_FPS:g} frames/s")
    # Models load once for every batch, through preflight() of the rendered files (the same checks as file
    # mode); the batches' live streams are never probed: a probe would be a stream's first reader and start
    # the scenario for nobody.
    full = site_config(scenarios, videos, work_dir / "run", model=model, imgsz=imgsz)
    detectors = preflight(full).detectors
    # A model's first calls are several times slower (lazy set-up): made here, not on the live streams' time.
    w, h = max(sc.size for sc in scenarios)
    for detector in detectors.values():
        for _ in range(2):
            detector.detect([np.zeros((h, w, 3), np.uint8)] * min(batch, len(scenarios)))
    password = secrets.token_urlsafe(16)  # a real site's cameras ask for credentials; never logged
    run = LiveRun()
    groups = batches(scenarios, batch)
    for n, group in enumerate(groups, 1):
        ids = [sc.id for sc in group]
        say(f"batch {n}/{len(groups)}: {', '.join(ids)} (live, {max(sc.duration_s for sc in group):.0f} s)")
        with start_simulator(ids, fps=SERVE_FPS, user=USER, password=password, variants=(MAIN,), once=True,
                             sources={sc.id: videos[sc.id] for sc in group}, lead_in_s=LEAD_IN_S,
                             cache_dir=work_dir / "rtsp") as sim:
            # As a real site writes it: the password is a reference, filled from the environment given.
            urls = {sc.id: f"rtsp://{USER}:${{{PASSWORD_VAR}}}@{sim.host}:{sim.port}/{sc.id}/{MAIN.name}"
                    for sc in group}
            config = site_config(group, urls, work_dir / "run", model=model, imgsz=imgsz, live=True,
                                 env={PASSWORD_VAR: password})
            node = Node(config, dsn, checked=Preflight(detectors, {}, {}), drain_s=0.0,
                        progress=lambda r, n=n: say(f"batch {n}: analysed {r.frames} frames, dropped "
                                                    f"{sum(c.dropped for c in r.cameras.values())}"),
                        progress_every_s=10.0)
            starts: dict[str, float] = {}
            early: dict[str, int] = {}
            pacer = threading.Thread(target=_pace, args=(node, sim, group, starts, early, run.warnings),
                                     name="evaluate-pace", daemon=True)
            pacer.start()
            try:
                report = node.run()
            finally:
                node.stop_event.set()
                pacer.join(5.0)
        run.starts.update(starts)
        run.found.update(load_found(dsn, min(starts.values(), default=time.time()), list(starts), starts))
        run.warnings += _check(group, report, early)
        _merge(run.report, report)
    for w in run.warnings:
        log.warning("evaluate --via-rtsp: %s", w)
    return run


def _pace(node: Node, sim: SimulatorHandle, group: Sequence[Scenario], starts: dict[str, float],
          early: dict[str, int], warnings: list[str]) -> None:
    """Learn each scenario's time zero as its stream starts, post its external events on that clock, note
    each camera's dropped frames SETTLED_S after its time zero, and stop the node once the batch has played."""
    pending = {sc.id: sc for sc in group}
    deadline = time.monotonic() + START_TIMEOUT_S
    while pending and not node.stop_event.is_set():
        for cam, sc in list(pending.items()):
            played = sim.started(cam)
            if played:
                starts[cam] = played[0]
                for e in sc.events:
                    node.post_event(cam, ExternalEvent(played[0] + e.t, e.kind, e.zone or "*", e.payload))
                del pending[cam]
        if pending and time.monotonic() > deadline:
            warnings.append(f"{', '.join(pending)}: the stream never started within {START_TIMEOUT_S:g} s "
                            "(nothing analysed)")
            break
        node.stop_event.wait(0.02)
    marks = sorted((t0 + SETTLED_S, cam) for cam, t0 in starts.items())
    for at, cam in marks:
        if node.stop_event.wait(max(0.0, at - time.time())):
            return
        early[cam] = node.report.cameras[cam].dropped
    if starts:
        end = max(starts[sc.id] + sc.duration_s for sc in group if sc.id in starts) + STOP_AFTER_S
        node.stop_event.wait(max(0.0, end - time.time()))
    node.stop_event.set()


def _check(group: Sequence[Scenario], report: NodeReport, early: Mapping[str, int]) -> list[str]:
    """Where the figures are less than a full analysis: scenario frames dropped because the machine fell
    behind the live streams, or fewer frames than the scenario has (a reconnect, a stream that stopped).

    The lead-in's stills reach the node in one burst, possibly more than its per-camera queue
    (detect.live_buffer_s) holds, so a few of them may be dropped by design; the queue drops its oldest
    frame, so the stills go first. Drops counted up to SETTLED_S after time zero, as many as there are
    stills, are taken for theirs; every other is a scenario frame lost."""
    warnings = []
    for sc in group:
        c = report.cameras.get(sc.id)
        if c is None:
            continue
        fps = analysis_rate(sc)  # the rate its rules need
        stills = int(round(LEAD_IN_S * fps))  # analysed too: the first picture, just before time zero
        expected = int(round(sc.duration_s * fps)) + stills
        lost = c.dropped - min(early.get(sc.id, 0), stills)
        if lost > 0:
            warnings.append(f"{sc.id}: {lost} frames dropped, analysis fell behind the live stream "
                            "(lower --rtsp-batch or --imgsz)")
        if c.frames_analysed + c.dropped < expected - 1:
            warnings.append(f"{sc.id}: {c.frames_analysed + c.dropped} of {expected} frames arrived")
    return warnings


def _merge(total: NodeReport, part: NodeReport) -> None:
    total.cameras.update(part.cameras)
    total.wall_s += part.wall_s
    total.incidents += part.incidents
    total.alerts += part.alerts
    total.alert_ids += part.alert_ids
