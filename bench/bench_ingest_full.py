"""Full ingest cost per camera: sub stream decoded at 5 fps (CameraReader) + main stream remuxed (Recorder).

Run: .venv/bin/python bench/bench_ingest_full.py [--cameras 4 8 16] [--seconds 20] [--stagger 2]

For each N, the RTSP simulator (`jianguan simulate`: 640x360 sub at 10 fps, 768x576 main at 1.5 Mbit/s) serves
N cameras; N readers decode the sub streams at 5 fps and N recorders remux the main streams into 10 s MP4
segments (ffmpeg -c copy). CPU time is read from /proc, separately for: the readers (this process: PyAV
decode + BGR conversion, plus the recorders' Python supervision, which is idle), the recorders' ffmpeg
children, and the simulator (not part of a node's cost: real cameras encode for free). CPU *time* is used,
not wall-clock shares, so other users of a shared machine slow the run but change the figures little.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from devkit.simulator import start_simulator
from ingest import CameraReader, Recorder, RecordingConfig, RetentionSweeper

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def pss_mb(pid: int) -> float:
    """Proportional set size: shared libraries split between the processes that map them (RSS would count
    libavcodec once per ffmpeg)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, PermissionError):
        pass
    return 0.0


def children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except FileNotFoundError:
            continue
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def run(n: int, seconds: float, fps: float, stagger_s: float) -> dict[str, float]:
    cams = [f"cam-{i:03d}" for i in range(n)]
    out_dir = Path(tempfile.mkdtemp(prefix="jg-bench-rec-"))
    me = os.getpid()
    with start_simulator(cams) as sim:
        counts = dict.fromkeys(cams, 0)
        lock = threading.Lock()

        def on_frame(f) -> None:
            with lock:
                counts[f.camera_id] += 1

        gap = stagger_s / n
        readers = [CameraReader(c, sim.url(c, "sub"), fps=fps, start_delay_s=i * gap) for i, c in enumerate(cams)]
        recorders = {c: Recorder(c, sim.url(c, "main"), out_dir / c, segment_s=10, transcode=False,
                                 start_delay_s=i * gap + gap / 2) for i, c in enumerate(cams)}
        started = time.monotonic()
        for r in readers:
            r.start(on_frame)
        for rec in recorders.values():
            rec.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(counts.values()) < 10:
            time.sleep(0.2)
        ready_s = time.monotonic() - started
        time.sleep(2.0)  # past the open bursts
        ffmpegs = {p for p in children(me) if comm(p) == "ffmpeg"}
        n0, self0, sim0, t0 = sum(counts.values()), cpu_of(me), cpu_of(sim.pid), time.monotonic()
        ff0 = {p: cpu_of(p) for p in ffmpegs}
        time.sleep(seconds)
        ffmpegs |= {p for p in children(me) if comm(p) == "ffmpeg"}  # restarted ones too
        n1, self1, sim1, t1 = sum(counts.values()), cpu_of(me), cpu_of(sim.pid), time.monotonic()
        ff = sum(cpu_of(p) - ff0.get(p, 0.0) for p in ffmpegs)
        pss_self, pss_ff = pss_mb(me), sum(pss_mb(p) for p in ffmpegs)
        stats = [r.stats() for r in readers]
        for r in readers:
            r.stop()
        for rec in recorders.values():
            rec.stop()
        segments = sum(len(rec.segments()) for rec in recorders.values())
        bytes_ = sum(p.stat().st_size for p in out_dir.rglob("*.mp4"))
        sweep_t = time.perf_counter()
        RetentionSweeper(out_dir, RecordingConfig(disk_budget_gb=None), recorders=recorders).sweep()
        sweep_ms = (time.perf_counter() - sweep_t) * 1000
    wall = t1 - t0
    return {
        "n": n, "wall": wall, "ready_s": ready_s, "fps_per_cam": (n1 - n0) / wall / n,
        "online": sum(s.online for s in stats), "reconnects": sum(s.reconnects for s in stats),
        "restarts": sum(rec.restarts for rec in recorders.values()), "ffmpegs": len(ffmpegs),
        "reader_pct": 100 * (self1 - self0) / wall / n, "remux_pct": 100 * ff / wall / n,
        "sim_pct": 100 * (sim1 - sim0) / wall / n, "decode_ms": sum(s.decode_ms for s in stats) / n,
        "pss_self_mb": pss_self, "pss_ff_mb_per_cam": pss_ff / max(1, len(ffmpegs)),
        "segments": segments, "mbit_s_per_cam": bytes_ * 8 / 1e6 / max(1e-6, time.monotonic() - started) / n,
        "sweep_ms": sweep_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--stagger", type=float, default=2.0, help="start spread, seconds")
    ap.add_argument("--target", type=int, default=112, help="cameras to size for")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load avg before {os.getloadavg()[0]:.2f} "
          "(shared machine: other jobs run beside this bench)")
    print(f"per camera: sub 640x360 H.264 10 fps read at {args.fps:g} fps + main 768x576 1.5 Mbit/s remuxed "
          f"into 10 s segments; {args.seconds:g} s measured per N")
    print(f"{'N':>4} {'reader %':>9} {'remux %':>8} {'node %':>7} {'sim %':>6} {'fps/cam':>8} {'dec ms':>7} "
          f"{'online':>7} {'pss MB':>7} {'ff MB':>6} {'ready s':>8}")
    results = []
    for n in args.cameras:
        r = run(n, args.seconds, args.fps, args.stagger)
        results.append(r)
        node = r["reader_pct"] + r["remux_pct"]
        print(f"{n:>4} {r['reader_pct']:>9.2f} {r['remux_pct']:>8.2f} {node:>7.2f} {r['sim_pct']:>6.2f} "
              f"{r['fps_per_cam']:>8.2f} {r['decode_ms']:>7.2f} {r['online']:>4}/{n:<2} {r['pss_self_mb']:>7.0f} "
              f"{r['pss_ff_mb_per_cam']:>6.1f} {r['ready_s']:>8.1f}")
        print(f"      ffmpeg remuxers {r['ffmpegs']}, restarts {r['restarts']}, reader reconnects {r['reconnects']}, "
              f"segments {r['segments']}, recorded {r['mbit_s_per_cam']:.2f} Mbit/s per camera, "
              f"one retention sweep {r['sweep_ms']:.1f} ms")
    best = min(results, key=lambda r: r["reader_pct"] + r["remux_pct"])  # least disturbed by other load
    worst = max(results, key=lambda r: r["reader_pct"] + r["remux_pct"])
    lo, hi = (best["reader_pct"] + best["remux_pct"]), (worst["reader_pct"] + worst["remux_pct"])
    print(f"=> one core ingests about {100 / hi:.0f}-{100 / lo:.0f} cameras (decode at {args.fps:g} fps + remux); "
          f"{args.target} cameras need {args.target * lo / 100:.1f}-{args.target * hi / 100:.1f} cores for ingest "
          f"alone, disk {args.target * best['mbit_s_per_cam'] / 8 * 3600 / 1000:.0f} GB per hour of recording")


if __name__ == "__main__":
    main()
