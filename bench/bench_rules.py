"""Cost of the vision rules per frame (no detector, no tracker): an exam room with N seats and all five exam
rules, an inspection lane with all five lane rules, a service window with its three rules.

Run: .venv/bin/python bench/bench_rules.py [--seats 30] [--frames 300]
Prints milliseconds per frame; asserts nothing. Note the machine (cores, load) beside any figure you quote.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np
import supervision as sv
from pydantic import TypeAdapter

from analytics import Observation, RuleConfig, Zone
from analytics.rules import build_rule
from analytics.scene import Scene

WH = (1920, 1080)
rule_config = TypeAdapter(RuleConfig).validate_python


def detections(rows: list[tuple[list[float], int, int]], kps: np.ndarray | None = None) -> sv.Detections:
    det = sv.Detections(xyxy=np.array([r[0] for r in rows], dtype=float), class_id=np.array([r[1] for r in rows]),
                        tracker_id=np.array([r[2] for r in rows]), confidence=np.full(len(rows), 0.8))
    det.data["keypoints"] = kps if kps is not None else np.zeros((len(rows), 17, 3))
    return det


def exam_room(seats: int):
    cols = math.ceil(math.sqrt(seats))
    zones, rows = {"room": Zone("room", "room", ((0, 0), (1, 0), (1, 1), (0, 1)))}, []
    for k in range(seats):
        x0, y0 = 0.05 + (k % cols) * 0.9 / cols, 0.1 + (k // cols) * 0.85 / cols
        w, h = 0.8 / cols, 0.75 / cols
        zones[f"s{k}"] = Zone(f"s{k}", "seat", ((x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)))
        px, py = x0 * WH[0], y0 * WH[1]
        rows.append(([px + 5, py + 5, px + w * WH[0] - 5, py + h * WH[1] - 5], 0, k))
    rows += [([100, 900, 160, 1070], 0, 900), ([1500, 900, 1560, 1070], 0, 901), ([300, 300, 320, 330], 67, -1)]
    kps = np.zeros((len(rows), 17, 3))
    for i, (box, cls, _) in enumerate(rows):
        if cls == 0:
            cx, top = (box[0] + box[2]) / 2, box[1]
            kps[i, [0, 3, 4], :] = [[cx + 3, top + 20, 0.9], [cx - 10, top + 15, 0.9], [cx + 10, top + 15, 0.9]]
    configs = [{"type": t} for t in ("exam_phone", "exam_seat_crowded", "exam_candidate_absent", "exam_head_turned",
                                     "exam_no_examiner")]
    return zones, configs, lambda i: detections(rows, kps)


def lane():
    zones = {"lane": Zone("lane", "lane", ((0.2, 0.2), (0.8, 0.2), (0.8, 0.9), (0.2, 0.9)))}
    configs = [{"type": t, "zone": "lane"} for t in ("inspector_absent", "inspection_too_short",
                                                     "walkaround_incomplete", "inspection_without_vehicle",
                                                     "vehicle_left_uninspected")]

    def det(i):
        a = math.radians(i * 9)
        x, y = 960 + 300 * math.cos(a), 600 + 150 * math.sin(a)
        return detections([([760, 500, 1160, 700], 2, 1), ([x - 30, y - 160, x + 30, y], 0, 2)])
    return zones, configs, det


def window():
    zones = {"desk": Zone("desk", "staff", ((0, 0), (1, 0), (1, 0.4), (0, 0.4))),
             "wait": Zone("wait", "waiting", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)))}
    configs = [{"type": "zone_unattended", "zone": "desk"}, {"type": "staff_phone", "zone": "desk"},
               {"type": "waiting_over_limit", "zone": "wait", "limit": 10}]
    rows = [([900, 100, 1000, 400], 0, 1), ([940, 200, 960, 230], 67, -1)]
    rows += [([80 * k, 700, 80 * k + 60, 1000], 0, 10 + k) for k in range(20)]
    return zones, configs, lambda i: detections(rows)


def measure(name: str, scene, frames: int, shared: bool = True) -> float:
    """ms/frame of zones + scene + rules. `shared`: one Scene for the camera, as CameraAnalytics runs it;
    else each rule follows its own scene (one lane tracker per rule: the design before issue 19)."""
    zones, configs, det_at = scene
    camera = Scene(zones, 5.0)
    rules = [build_rule(rule_config(c), 5.0, zones, camera if shared else None) for c in configs]
    scenes = [camera] if shared else [r.scene for r in rules]
    dets = [det_at(i) for i in range(frames)]
    t0 = time.perf_counter()
    for i, det in enumerate(dets):
        in_zone = {z.id: z.contains(det, WH) for z in zones.values()}
        obs = Observation("bench", i / 5.0, WH, det, in_zone, scene=camera)
        for sc in scenes:
            obs.lanes.clear()  # each own scene fills the lanes its rule reads
            sc.update(obs)
            for r in rules if shared else [r for r in rules if r.scene is sc]:
                r.update(obs)
    ms = (time.perf_counter() - t0) * 1000 / frames
    how = "one scene" if shared else "a scene per rule"
    print(f"{name:<34} {len(rules)} rules, {len(dets[0])} detections, {how:<16}: {ms:6.2f} ms/frame "
          f"(zones + rules; {1000 / ms:5.0f} frames/s on one core)")
    return ms


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seats", type=int, default=30)
    p.add_argument("--frames", type=int, default=300)
    a = p.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    measure(f"exam room, {a.seats} seats", exam_room(a.seats), a.frames)
    shared = measure("inspection lane", lane(), a.frames)
    alone = measure("inspection lane", lane(), a.frames, shared=False)
    print(f"  one lane tracker for the five rules: {alone / shared:.1f}x faster than one per rule")
    measure("service window, 20 waiting", window(), a.frames)


if __name__ == "__main__":
    main()
