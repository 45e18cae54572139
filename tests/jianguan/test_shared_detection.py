"""The detection server's batcher (jianguan/shared_detection.py) without Ray: batches formed under a deadline,
split back to their callers, a failed model run told to every caller of its batch. The server itself, with the
real model and real frames, runs in tests/jianguan/test_cluster.py."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
import supervision as sv

from jianguan.shared_detection import Batcher


def _tagged(inputs: list[np.ndarray]) -> list[sv.Detections]:
    """One detection per input whose confidence is the input's first pixel: which result went to whom."""
    out = []
    for x in inputs:
        det = sv.Detections(xyxy=np.zeros((1, 4)), confidence=np.array([float(x[0, 0, 0])]), class_id=np.array([0]))
        out.append(det)
    return out


def _inputs(*tags: int) -> list[np.ndarray]:
    return [np.full((8, 8, 3), t, np.uint8) for t in tags]


def test_calls_within_the_deadline_share_one_batch_and_get_their_own_results():
    runs: list[int] = []

    def run(inputs):
        runs.append(len(inputs))
        return _tagged(inputs)

    async def go():
        b = Batcher(run, max_batch=64, max_wait_s=0.05)
        calls = [b.submit(_inputs(10 * i, 10 * i + 1), caller=f"g{i}") for i in range(4)]
        return await asyncio.gather(*calls), b.stats

    results, stats = asyncio.run(go())
    assert runs == [8]
    assert [[float(d.confidence[0]) for d in r] for r in results] == [[0, 1], [10, 11], [20, 21], [30, 31]]
    assert (stats.batches, stats.requests, stats.inputs, stats.callers) == (1, 4, 8, 4)


def test_a_full_batch_runs_at_once_and_a_big_call_is_never_split():
    runs: list[int] = []

    def run(inputs):
        runs.append(len(inputs))
        return _tagged(inputs)

    async def go():
        b = Batcher(run, max_batch=4, max_wait_s=10.0)  # the deadline never comes: only "full" starts batches
        started = time.monotonic()
        await asyncio.gather(*(b.submit(_inputs(i, i)) for i in range(4)), b.submit(_inputs(*range(6))))
        return time.monotonic() - started

    took = asyncio.run(go())
    assert took < 5
    assert runs == [4, 4, 6]  # two calls a batch, then the call of 6 alone


def test_calls_arriving_while_the_model_runs_make_the_next_batch():
    gate = threading.Event()
    runs: list[int] = []

    def run(inputs):
        runs.append(len(inputs))
        if len(runs) == 1:
            gate.wait(5)
        return _tagged(inputs)

    async def go():
        b = Batcher(run, max_batch=64, max_wait_s=0.0)
        first = asyncio.ensure_future(b.submit(_inputs(1)))
        await asyncio.sleep(0.05)  # the first batch is running
        later = [asyncio.ensure_future(b.submit(_inputs(i))) for i in range(2, 5)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *later)

    asyncio.run(go())
    assert runs == [1, 3]


def test_a_failed_model_run_fails_every_call_of_its_batch_and_the_next_batch_runs():
    calls = 0

    def run(inputs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("CUDA error: out of memory")
        return _tagged(inputs)

    async def go():
        b = Batcher(run, max_batch=64, max_wait_s=0.02)
        failed = await asyncio.gather(b.submit(_inputs(1)), b.submit(_inputs(2)), return_exceptions=True)
        again = await b.submit(_inputs(3))
        return failed, again, b.stats

    failed, again, stats = asyncio.run(go())
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert float(again[0].confidence[0]) == 3
    assert (stats.failed, stats.batches) == (1, 1)


@pytest.mark.parametrize("size", [0, 1])
def test_an_empty_call_is_answered(size):
    async def go():
        return await Batcher(_tagged, max_batch=4, max_wait_s=0.01).submit(_inputs(*range(size)))

    assert len(asyncio.run(go())) == size
