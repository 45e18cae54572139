"""Ingest costs on real footage: reader decode+convert rate, recorder CPU per minute of video.

Run: .venv/bin/python bench/bench_ingest.py [--video PATH] [--repeat 3]
Prints figures; asserts nothing. Note the machine (cores) beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import av
import cv2

from ingest import CameraReader, Recorder, probe

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def reader_rate(video: str, fps: float, max_width: int | None = None, repeat: int = 3) -> tuple[float, float, int]:
    """Best of `repeat`: (source frames decoded per s, frames emitted per s, emitted)."""
    best = (0.0, 0.0, 0)
    for _ in range(repeat):
        reader = CameraReader("bench", video, fps=fps, base_ts=0.0, max_width=max_width)
        t0 = time.perf_counter()
        n = sum(1 for _ in reader.frames())
        dt = time.perf_counter() - t0
        s = reader.stats()
        if s.frames_in / dt > best[0]:
            best = (s.frames_in / dt, n / dt, n)
    return best


def pyav_bgr_rate(video: str) -> float:
    """Baseline: PyAV's own to_ndarray('bgr24') on every frame (what the reader avoids)."""
    t0 = time.perf_counter()
    n = 0
    with av.open(video) as c:
        c.streams.video[0].thread_type = "AUTO"
        for frame in c.decode(video=0):
            frame.to_ndarray(format="bgr24")
            n += 1
    return n / (time.perf_counter() - t0)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def recorder_cpu(video: str, out_dir: Path, transcode: bool) -> tuple[float, float, int]:
    """(ffmpeg CPU seconds per minute of video, wall seconds, segments) for one file recording."""
    duration = probe(video).duration_s or 0.0
    before = children_cpu()
    t0 = time.perf_counter()
    rec = Recorder("bench", video, out_dir, segment_s=10, base_ts=0.0, transcode=transcode)
    rec.start()
    rec.wait()
    wall = time.perf_counter() - t0
    cpu = children_cpu() - before
    return cpu / (duration / 60.0), wall, len(rec.segments())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--video", default=VIDEO)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    info = probe(args.video)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; cv2 {cv2.__version__}, PyAV {av.__version__}")
    print(f"video: {args.video} {info.width}x{info.height} {info.fps:g} fps {info.codec}, {info.duration_s:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        h264 = Path(tmp) / "h264.mp4"  # cameras send H.264, and copy mode needs it: make one from the footage
        subprocess.run(["ffmpeg", "-v", "error", "-i", args.video, "-an", "-c:v", "libx264", "-preset", "veryfast",
                        "-g", "20", "-pix_fmt", "yuv420p", str(h264)], check=True)

        print("\nreader (PyAV decode, YUV->BGR with cv2), file read as fast as possible, best of", args.repeat)
        for name, video in ((info.codec, args.video), ("h264", str(h264))):
            for fps, width in ((info.fps, None), (5.0, None), (5.0, 640)):
                src, out, n = reader_rate(video, fps, width, args.repeat)
                label = f"{name} fps={fps:g}" + (f" max_width={width}" if width else "")
                print(f"  {label:30s} {src:6.0f} source frames/s decoded, {out:6.0f} frames/s emitted ({n} frames)")
            print(f"  {name + ' baseline PyAV bgr24':30s} {pyav_bgr_rate(video):6.0f} frames/s "
                  "(decode + to_ndarray('bgr24'), every frame)")

        print("\nrecorder (ffmpeg subprocess, 10 s segments), CPU seconds per minute of video")
        for label, src, transcode in (("copy (H.264 source)", str(h264), False),
                                      (f"transcode {info.codec} -> libx264", args.video, True)):
            cpu, wall, segs = recorder_cpu(src, Path(tmp) / label.split()[0], transcode)
            print(f"  {label:32s} {cpu:6.2f} CPU s/min of video ({wall:.1f} s wall, {segs} segments)")

if __name__ == "__main__":
    main()
