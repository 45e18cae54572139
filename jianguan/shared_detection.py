"""Shared detection (issue 16): YOLO served for a cluster's camera groups by detection servers, Ray actors on
the machines with GPUs, with batches formed across cameras, groups and sites under a deadline (DeepStream's
batched-push-timeout: the first input of a batch waits at most `max_wait_ms` for others, or until `max_batch`
inputs wait).

A group keeps everything but the network: it picks its regions, crops and scales them to model inputs
(`YoloDetector._inputs`: a 320x320 crop is 300 KB where the 1280x720 frame is 2.7 MB) and sends those; the
server runs them with the inputs of every other caller (inputs of one shape in one batch, `YoloModel.run`) and
answers each caller with its detections in its inputs' pixels; the group maps them back to its frames. A server
that does not answer within `timeout_s` (its machine died, Ray is restarting it elsewhere) does not stop the
cameras: the group detects with its own copy of the model until the server answers again.

Why not Ray Serve: its `serve.batch` is this batcher, but Serve brings an HTTP/gRPC proxy, a controller and
the dashboard agent's dependencies (grpcio, aiohttp, opentelemetry) to every machine for one internal call; an
asyncio actor with a deadline is ~60 lines, and Ray already gives placement by GPU, restarts and named lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import supervision as sv

from analytics.config import YoloConfig
from analytics.detectors.yolo import YoloModel
from jianguan.cluster import NAMESPACE, ask_named

log = logging.getLogger(__name__)


@dataclass
class BatchStats:
    requests: int = 0  # calls answered (one per group detection step)
    inputs: int = 0  # model inputs run
    batches: int = 0  # model runs
    wait_ms: float = 0.0  # summed time requests waited for their batch to start
    run_ms: float = 0.0  # summed model time
    failed: int = 0  # batches whose model run raised (their callers detect locally)
    callers: int = 0  # distinct callers seen


class Batcher:
    """Requests (lists of model inputs) gathered into batches: a batch starts when `max_batch` inputs wait or
    the oldest waiting request has waited `max_wait_s`; it runs on one worker thread (one model, one device),
    and while it runs the next batch gathers.

    >>> async def demo():
    ...     b = Batcher(lambda xs: [sv.Detections.empty() for _ in xs], max_batch=8, max_wait_s=0.05)
    ...     out = await asyncio.gather(*(b.submit([np.zeros((32, 32, 3), np.uint8)] * 2, caller=str(i))
    ...                                  for i in range(3)))
    ...     return [len(o) for o in out], b.stats.batches, b.stats.inputs
    >>> asyncio.run(demo())
    ([2, 2, 2], 1, 6)
    """

    def __init__(self, run: Callable[[list[np.ndarray]], list[sv.Detections]], max_batch: int,
                 max_wait_s: float) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[list[np.ndarray], asyncio.Future, float]] = []
        self._worker: asyncio.Task | None = None
        self._full = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="detect")
        self._callers: set[str] = set()
        self.stats = BatchStats()

    async def submit(self, inputs: Sequence[np.ndarray], caller: str = "") -> list[sv.Detections]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((list(inputs), future, loop.time()))
        self._callers.add(caller)
        if self._waiting() >= self.max_batch:
            self._full.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    def _waiting(self) -> int:
        return sum(len(inputs) for inputs, _, _ in self._pending)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            deadline = self._pending[0][2] + self.max_wait_s
            while self._waiting() < self.max_batch and (left := deadline - loop.time()) > 0:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), left)
                except TimeoutError:
                    break
            batch, count = [], 0
            while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_batch):
                batch.append(self._pending.pop(0))
                count += len(batch[-1][0])
            await self._serve(batch, loop.time())

    async def _serve(self, batch: list[tuple[list[np.ndarray], asyncio.Future, float]], started: float) -> None:
        flat = [x for inputs, _, _ in batch for x in inputs]
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(self._executor, self._run, flat) if flat else []
        except Exception as exc:  # noqa: BLE001 - every caller hears it and detects locally
            self.stats.failed += 1
            log.exception("detection server: a batch of %d inputs failed", len(flat))
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        s = self.stats
        s.batches += 1
        s.inputs += len(flat)
        s.requests += len(batch)
        s.wait_ms += sum(started - arrived for _, _, arrived in batch) * 1000
        s.run_ms += (loop.time() - started) * 1000
        s.callers = len(self._callers)
        at = 0
        for inputs, future, _ in batch:
            if not future.done():
                future.set_result(found[at:at + len(inputs)])
            at += len(inputs)


def encode(inputs: Sequence[np.ndarray], quality: int | None) -> list[np.ndarray | bytes]:
    """Model inputs for the trip to the server: as they are, or (`quality`) each as JPEG bytes."""
    if quality is None:
        return list(inputs)
    out: list[np.ndarray | bytes] = []
    for x in inputs:
        ok, data = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError(f"cannot encode a {x.shape} model input as JPEG")
        out.append(data.tobytes())
    return out


def decode(inputs: Sequence[np.ndarray | bytes]) -> list[np.ndarray]:
    return [x if isinstance(x, np.ndarray) else cv2.imdecode(np.frombuffer(x, np.uint8), cv2.IMREAD_COLOR)
            for x in inputs]


class DetectionServer:
    """The body of a detection-server actor: one YOLO model on the actor's device, behind a `Batcher`."""

    def __init__(self, config: YoloConfig, max_batch: int, max_wait_ms: float) -> None:
        self.config = config
        self.model = YoloModel(config)
        self.batcher: Batcher | None = None  # made in the actor's event loop, on the first call
        self.max_batch, self.max_wait_s = max_batch, max_wait_ms / 1000

    async def run(self, inputs: list[np.ndarray | bytes], caller: str = "") -> list[sv.Detections]:
        if self.batcher is None:
            self.batcher = Batcher(self.model.run, self.max_batch, self.max_wait_s)
        if not all(isinstance(x, np.ndarray) for x in inputs):  # JPEG: decoded off the event loop
            inputs = await asyncio.get_running_loop().run_in_executor(None, decode, inputs)
        return await self.batcher.submit(inputs, caller)

    async def info(self) -> dict[str, Any]:
        import ray

        stats = asdict(self.batcher.stats) if self.batcher else asdict(BatchStats())
        return {"pose": self.model.pose, "model": self.model.path.name, "device": self.config.device,
                "node_id": ray.get_runtime_context().get_node_id(), **process_usage(), **stats}


def process_usage() -> dict[str, float]:
    """This process's CPU seconds so far and resident memory (what a group or server costs its machine)."""
    import resource

    rss_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return {"cpu_s": round(time.process_time(), 2),
            "rss_mb": round(rss_pages * resource.getpagesize() / 2**20, 1)}


def server_config(detector: YoloConfig, gpus: float, cpus: float) -> YoloConfig:
    """The detector config a server runs: the site's, on the GPU Ray gave it (Ray sets CUDA_VISIBLE_DEVICES,
    so it is device 0 in the actor) or on `cpus` threads."""
    if gpus > 0:
        return detector.model_copy(update={"device": "cuda:0"})
    return detector.model_copy(update={"device": "cpu", "threads": max(1, round(cpus))})


def server_names(detector: YoloConfig, replicas: int) -> list[str]:
    """The servers of one detector config: named by what changes their results (weights, thresholds,
    classes), so sites with the same detector share their batches.

    >>> server_names(YoloConfig(), 2) == server_names(YoloConfig(name="other", imgsz=320), 2)
    True
    >>> server_names(YoloConfig(), 1) == server_names(YoloConfig(confidence=0.5), 1)
    False
    """
    key = json.dumps([detector.model, detector.confidence, detector.iou, detector.classes, detector.pack,
                      detector.runtime])
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return [f"detector:{digest}:{i}" for i in range(replicas)]


class SharedModel:
    """A `ModelRunner` (analytics/detectors/yolo.py) whose network is a detection server; when the server does
    not answer, the group's own copy of the model (loaded on first need) runs until `retry_s` has passed."""

    def __init__(self, name: str, config: YoloConfig, caller: str, timeout_s: float = 5.0,
                 retry_s: float = 30.0, local: Callable[[], YoloModel] | None = None,
                 jpeg_quality: int | None = None) -> None:
        import ray

        self._ray = ray
        self.name, self.caller, self.timeout_s, self.retry_s = name, caller, timeout_s, retry_s
        self.jpeg_quality = jpeg_quality  # None: raw pixels
        self._local_factory = local or (lambda: YoloModel(config))
        self._local: YoloModel | None = None
        self._server: Any = None
        self._away_until = 0.0
        self._lock = threading.Lock()
        self.remote_calls = self.local_calls = 0
        self.round_trip_ms = 0.0
        self.bytes_sent = 0
        try:
            self._server = ray.get_actor(name, namespace=NAMESPACE)
            self.pose = bool(ray.get(self._server.info.remote(), timeout=60)["pose"])
        except Exception as exc:  # noqa: BLE001 - no server yet (restarting): start on the local model
            self._away(exc)
            self.pose = self._local_model().pose

    def _away(self, exc: BaseException) -> None:
        self._away_until = time.monotonic() + self.retry_s
        log.warning("detection server %s did not answer (%s): detecting locally for %.0f s",
                    self.name, type(exc).__name__, self.retry_s)

    def _local_model(self) -> YoloModel:
        with self._lock:
            if self._local is None:
                self._local = self._local_factory()
            return self._local

    def run(self, inputs: Sequence[np.ndarray]) -> list[sv.Detections]:
        if time.monotonic() >= self._away_until:
            started = time.perf_counter()
            try:
                if self._server is None:
                    self._server = self._ray.get_actor(self.name, namespace=NAMESPACE)
                sent = encode(inputs, self.jpeg_quality)
                found = self._ray.get(self._server.run.remote(sent, self.caller), timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - any failure of the server: detect here, ask again later
                self._away(exc)
            else:
                self.remote_calls += 1
                self.round_trip_ms += (time.perf_counter() - started) * 1000
                self.bytes_sent += sum(x.nbytes if isinstance(x, np.ndarray) else len(x) for x in sent)
                return found
        self.local_calls += 1
        return self._local_model().run(inputs)

    def usage(self) -> dict[str, Any]:
        """What this caller sent: calls served remotely and locally, their mean round trip, bytes sent."""
        return {"server": self.name, "remote_calls": self.remote_calls, "local_calls": self.local_calls,
                "round_trip_ms": round(self.round_trip_ms / max(1, self.remote_calls), 1),
                "bytes_sent": self.bytes_sent}


def start_servers(detector: YoloConfig, gpus: float, cpus: float, resources: dict[str, float],
                  replicas: int, max_batch: int, max_wait_ms: float) -> list[Any]:
    """The detection servers of one detector config, created unless they run already (another site of the
    cluster started them); Ray restarts a server whose machine died on another with the resources free."""
    import ray

    actor = ray.remote(DetectionServer)
    config = server_config(detector, gpus, cpus)
    return [actor.options(name=name, namespace=NAMESPACE, get_if_exists=True, num_gpus=gpus, num_cpus=cpus,
                          resources=dict(resources), max_restarts=-1, max_concurrency=1000)
            .remote(config, max_batch, max_wait_ms) for name in server_names(detector, replicas)]


def server_statuses(timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Every detection server of the cluster this process is connected to, with its batching figures."""
    return [{"server": name, "running": False, "error": type(answer).__name__} if isinstance(answer, Exception)
            else {"server": name, "running": True, **answer}
            for name, answer in ask_named("detector:", "info", timeout_s)]
