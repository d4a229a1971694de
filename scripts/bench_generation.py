"""Generation throughput of the tiny pairings on CPU: images/s at batch size 1 vs 8, and harness overhead.

    python scripts/bench_generation.py [--prompts 16] [--images-per-prompt 2]

Overhead per image = wall time of the generation stage outside model calls, / images. PNG encoding and writing
run on a writer thread; only the time the generating thread waits for it counts (PNG wait).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def measure(pairing: str, batch_size: int, prompts: int, ipp: int) -> dict:
    from eclipse_bench.bench.core.keys import Identities, plan_samples
    from eclipse_bench.bench.generation.generator import load_generator
    from eclipse_bench.bench.generation.pairings import get_pairing
    from eclipse_bench.bench.generation.stage import generate_images
    from eclipse_bench.prompts.load import load_suite

    spec = get_pairing(pairing)
    samples = plan_samples(load_suite("builtin/color").limit(prompts), spec, ipp, 42, Identities())
    gen = load_generator(spec, "cpu")
    gen.generate([samples[0].prompt], [samples[0].seed])   # warm-up, outside the measurement
    for stage in gen.timings:
        gen.timings[stage] = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        done = generate_images(Path(tmp), samples, gen, batch_size, "cpu", progress=False)
    seconds, n, model_s = done["seconds"], len(samples), sum(gen.timings.values())
    return {"images": n, "wall": seconds, "model": model_s, "png": done["png_seconds"],
            "png_wait": done["png_wait_seconds"], "overhead_ms": 1000 * (seconds - model_s) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--images-per-prompt", type=int, default=2)
    args = ap.parse_args()
    n = args.prompts * args.images_per_prompt
    print(f"tiny pairings on CPU, {n} images (64x64), model load excluded")
    for pairing in ("tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky"):
        r1 = measure(pairing, 1, args.prompts, args.images_per_prompt)
        r8 = measure(pairing, 8, args.prompts, args.images_per_prompt)
        print(f"  {pairing:24s} bs1 {r1['images'] / r1['wall']:6.1f} img/s   bs8 {r8['images'] / r8['wall']:6.1f} img/s"
              f"   harness overhead bs1 {r1['overhead_ms']:.2f} ms/img, bs8 {r8['overhead_ms']:.2f} ms/img"
              f"   (PNG {1000 * r8['png'] / r8['images']:.2f} ms/img on the writer thread, of which waited for "
              f"{1000 * r8['png_wait'] / r8['images']:.2f})")


if __name__ == "__main__":
    main()
