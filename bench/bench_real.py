"""Recall against cost on the real-footage set: the detector's crops and input size, side by side.

For each setting the whole pipeline (`jianguan evaluate --real`: the node's detection and analytics, truth
from labels read by eye) runs on the chosen copies of the real clips and prints per setting: precision and
recall over all rules, how often a zone's count was exact, detector ms per frame, model inputs per frame, and
cameras at 5 fps that 2 cores would hold at that cost (1000 / ms / 5), plus the ratio of cost and of recall to
the baseline (full frame at 640, the old default). Twice: with all the clip's zones (they cover most of the
frame: the worst case for crops), and with three zones covering about a fifth of it (an office camera).

Run: .venv/bin/python bench/bench_real.py [--variant original] [--work-dir var/bench-real]
Detections are cached per copy and setting under the work dir; delete it to re-measure cost. Prints figures;
asserts nothing. Quote the machine beside any figure.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from analytics import YoloConfig
from jianguan.evaluate_real import evaluate_real

SETTINGS = {
    "full frame 640 (old default)": YoloConfig(name="pose", crops="full", imgsz=640),
    "full frame 1280": YoloConfig(name="pose", crops="full", imgsz=1280),
    "zone crops, person 80 px": YoloConfig(name="pose", person_px=80),
    "zone crops, person 112 px (default)": YoloConfig(name="pose"),
    "zone crops, person 144 px": YoloConfig(name="pose", person_px=144),
}
OFFICE_ZONES = ["left_path", "sign", "far_road"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", help="copies to run (default: original)")
    ap.add_argument("--work-dir", type=Path, default=Path("var/bench-real"))
    args = ap.parse_args()
    variants = args.variant or ["original"]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; copies: {', '.join(variants)}")
    for title, zones in (("all 8 zones (most of the frame)", None), (f"3 zones {OFFICE_ZONES}", OFFICE_ZONES)):
        print(f"\n## {title}")
        print(f"{'setting':<36} {'P':>5} {'R':>5} {'count ok':>8} {'ms/frame':>8} {'inputs':>6} {'cams@5fps':>9} "
              f"{'cost x':>6} {'recall x':>8}")
        base = None
        for name, cfg in SETTINGS.items():
            res = evaluate_real(args.work_dir, [cfg], variants=variants, only_zones=zones)
            tp = sum(s.tp for s in res.scores.values())
            fp = sum(s.fp for s in res.scores.values())
            fn = sum(s.fn for s in res.scores.values())
            p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
            ms = sum(c.ms_per_frame for c in res.copies) / len(res.copies)
            count = sum(c.count_exact for c in res.copies) / len(res.copies)
            inputs = sum(c.crops_per_frame for c in res.copies) / len(res.copies)
            base = base or (ms, r)
            print(f"{name:<36} {p:5.2f} {r:5.2f} {count:8.2f} {ms:8.1f} {inputs:6.1f} {1000 / ms / 5:9.1f} "
                  f"{ms / base[0]:6.1f} {r / max(base[1], 1e-9):8.2f}", flush=True)


if __name__ == "__main__":
    main()
