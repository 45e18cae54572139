"""RTSP ingest cost: N simulated cameras (640x360 H.264 sub streams at 10 fps), read with CameraReader at 5 fps.

Run: .venv/bin/python bench/bench_ingest_rtsp.py [--cameras 20] [--seconds 20]
Prints the readers' CPU per camera (decode + BGR conversion of the kept frames, this process only), the
number of cameras one core can ingest at that rate, and the simulator's own CPU. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

from devkit.simulator import start_simulator
from ingest import CameraReader


def cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()
    cams = [f"cam-{i:03d}" for i in range(args.cameras)]
    with start_simulator(cams) as sim:
        counts = dict.fromkeys(cams, 0)

        def on_frame(f) -> None:
            counts[f.camera_id] += 1

        readers = [CameraReader(c, sim.url(c, "sub"), fps=args.fps) for c in cams]
        for r in readers:
            r.start(on_frame)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(counts.values()) < 10:
            time.sleep(0.2)
        time.sleep(2.0)  # past the open bursts
        n0, c0, s0, t0 = sum(counts.values()), cpu_self(), cpu_of(sim.pid), time.monotonic()
        time.sleep(args.seconds)
        n1, c1, s1, t1 = sum(counts.values()), cpu_self(), cpu_of(sim.pid), time.monotonic()
        stats = [r.stats() for r in readers]
        for r in readers:
            r.stop()
    wall = t1 - t0
    cpu_per_cam = (c1 - c0) / wall / len(cams)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load avg {os.getloadavg()[0]:.2f}")
    print(f"{len(cams)} cameras, sub stream 640x360 H.264 10 fps, read at {args.fps:g} fps for {wall:.1f} s")
    print(f"frames delivered: {(n1 - n0) / wall:.1f}/s in all, {(n1 - n0) / wall / len(cams):.2f}/s per camera; "
          f"online {sum(s.online for s in stats)}/{len(cams)}; reconnects {sum(s.reconnects for s in stats)}")
    print(f"reader CPU: {100 * cpu_per_cam:.2f} % of a core per camera "
          f"(decode_ms avg {sum(s.decode_ms for s in stats) / len(stats):.2f} per decoded frame)")
    print(f"=> one core ingests about {1 / cpu_per_cam:.0f} cameras at {args.fps:g} fps (decode + BGR only)")
    print(f"simulator CPU: {100 * (s1 - s0) / wall / len(cams):.2f} % of a core per camera "
          f"({100 * (s1 - s0) / wall:.1f} % in all)")


if __name__ == "__main__":
    main()
