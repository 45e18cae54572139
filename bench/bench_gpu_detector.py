"""How many cameras one GPU serves: yolo11n-pose throughput on CUDA by batch size and input size.

Run where a GPU is (the node batches frames of all cameras into one call, so batch size is the lever):

    python bench/bench_gpu_detector.py --model yolo11n-pose.pt [--half]

Prints ms per batch, frames/s and the number of cameras at 5 fps that this rate sustains. Frames are the
real photos shipped in the ultralytics wheel (bus.jpg, zidane.jpg) resized to 768x576, cycled.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo11n-pose.pt")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--half", action="store_true", help="FP16 inference")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()

    import torch
    from ultralytics import YOLO

    assets = resources.files("ultralytics") / "assets"
    photos = [cv2.resize(cv2.imread(str(assets / n)), (768, 576)) for n in ("bus.jpg", "zidane.jpg")]
    model = YOLO(args.model)
    extra = {"half": True} if args.half else {}
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device
    print(f"device: {name}; model {args.model}; half={args.half}")
    print(f"{'imgsz':>5} {'batch':>5} {'ms/batch':>9} {'ms/frame':>9} {'frames/s':>9} {'cams@5fps':>9}")
    for imgsz in args.imgsz:
        for batch in args.batch:
            frames = [photos[i % 2] + np.uint8(i % 3) for i in range(batch)]
            for _ in range(3):  # warm-up: CUDA context, cuDNN autotune, allocator
                model.predict(frames, imgsz=imgsz, device=args.device, verbose=False, **extra)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(args.rounds):
                model.predict(frames, imgsz=imgsz, device=args.device, verbose=False, **extra)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            per_batch = (time.perf_counter() - t0) / args.rounds
            fps = batch / per_batch
            print(f"{imgsz:>5} {batch:>5} {per_batch * 1000:>9.1f} {per_batch * 1000 / batch:>9.2f} {fps:>9.0f} "
                  f"{fps / 5:>9.0f}")


if __name__ == "__main__":
    main()
