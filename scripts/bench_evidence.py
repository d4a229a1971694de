"""Throughput of the evidence providers, batched vs one image at a time, on 64 images (tiny models, CPU).

    python scripts/bench_evidence.py [--images 64] [--batch 64]

Prints images/s for each provider both ways and the ratio. Offline: tiny twins only.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def _images(n):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


def _time(fn, repeat=3):
    fn()  # warm-up (lazy imports, first-call kernels)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    from eclipse_bench.metrics.clip import ClipScorer
    from eclipse_bench.metrics.detect import Detector
    from eclipse_bench.metrics.vqa import BlipVqa

    images = _images(args.images)
    questions = ["a green bench?", "a red car?", "the fluffy cat with a big round hat?", "a dog?"]
    qs = [questions[i % 4] for i in range(len(images))]
    vqa = BlipVqa("tiny:blip-vqa")
    det = Detector("tiny:yolo-seg")
    clip = ClipScorer("tiny:clip")
    cases = {
        "vqa (BLIP, 1 question/image)": (vqa, lambda: vqa.p_yes(images, qs)),
        "detection (YOLO-seg)": (det, lambda: det.detect(images)),
        "clip (open_clip image features)": (clip, lambda: clip.image_features(images)),
    }
    print(f"{args.images} images, batch {args.batch} vs 1, best of 3 (CPU, tiny models)")
    for name, (provider, fn) in cases.items():
        provider.batch_size = args.batch
        t_batched = _time(fn)
        provider.batch_size = 1
        t_single = _time(fn)
        print(f"  {name:34s} batched {args.images / t_batched:8.1f} img/s   one-at-a-time "
              f"{args.images / t_single:8.1f} img/s   ratio {t_single / t_batched:5.1f}x")


if __name__ == "__main__":
    main()
