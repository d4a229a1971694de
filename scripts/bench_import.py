"""What importing images costs next to scoring them: `eclipse-bench score`'s import (match the files to the suite,
read, decode-check, sha256, copy into the run directory byte for byte) for N images of 512 px, against the evidence
stage on the same kind of image with the full-size BLIP VQA architecture (ViT-B/16 at 480 px + BERT-base, random
weights: the cost, not the answers), measured in one run.

    python scripts/bench_import.py [--images 3000] [--evidence-images 12]

Prints seconds per image for both and the import's share of the evidence stage's time. Offline; writes its images
to a temporary folder (about 1 GB for 3000) and removes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def _images(folder: Path, n: int, prompts: list[str]) -> Path:
    """n 512 px PNGs with the detail of a generated image (smooth shapes plus noise), and their manifest."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    lines = []
    for i in range(n):
        a, b, c = rng.random(3)
        base = np.stack([np.sin(6 * xx * a + b), np.cos(5 * yy * b + c), np.sin(4 * (xx + yy) * c)], -1)
        img = ((base * 0.35 + 0.5 + rng.normal(0, 0.04, base.shape)).clip(0, 1) * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
        lines.append(json.dumps({"prompt": prompts[i % len(prompts)], "image": f"{i:05d}.png", "n": i // len(prompts)}))
    (folder / "images.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "images.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--evidence-images", type=int, default=12)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import torch
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    import full_size_configs as C
    from eclipse_bench.bench.app.importer import Importer, read_images
    from eclipse_bench.bench.app.layouts import read
    from eclipse_bench.bench.core.keys import PlannedSample, digest
    from eclipse_bench.bench.core.tokenizers import build_tiny_bert_tokenizer
    from eclipse_bench.metrics.stage import load_image
    from eclipse_bench.metrics.vqa import BlipVqa
    from eclipse_bench.prompts.load import load_suite

    suite = load_suite("builtin/color")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "src").mkdir()
        t0 = time.perf_counter()
        manifest = _images(tmp / "src", args.images, [i.prompt for i in suite.items])
        size = sum(p.stat().st_size for p in (tmp / "src").glob("*.png")) / args.images
        print(f"{args.images} PNGs of 512 px written in {time.perf_counter() - t0:.0f} s ({size / 1e3:.0f} kB each)")
        os.sync()
        t0 = time.perf_counter()
        found = read(manifest, suite, "manifest")
        good, bad = read_images(found)
        samples, data = [], {}
        for m, raw, sha, orientation in good:
            key = digest({"imported": sha, "prompt": m.item.prompt, "n": m.n})
            samples.append(PlannedSample(key, m.item, m.n, None, f"images/{sha}.png", sha256=sha,
                                         orientation=orientation, source=str(m.path)))
            data[key] = raw
        out = tmp / "run"
        out.mkdir()
        Importer.store(out, samples, data)
        imported = time.perf_counter() - t0
        assert not bad and len(samples) == args.images
        per_import = imported / args.images
        print(f"import (match, read, decode-check, sha256, copy): {imported:.1f} s, {1e3 * per_import:.2f} ms per image")

        torch.manual_seed(0)
        with tempfile.TemporaryDirectory() as ckpt:
            BlipForQuestionAnswering(BlipConfig(**C.BLIP_VQA)).eval().save_pretrained(ckpt)
            BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=build_tiny_bert_tokenizer()).save_pretrained(ckpt)
            vqa = BlipVqa(ckpt)
        chosen = samples[: args.evidence_images]
        images = [load_image(out, s.image, s.sha256) for s in chosen]
        items = [s.item for s in chosen]
        vqa.evidence(images[:1], items[:1])   # warm-up
        t0 = time.perf_counter()
        for s, it in zip(chosen, items):       # the evidence stage's work per image: decode, verify, answer
            vqa.evidence([load_image(out, s.image, s.sha256)], [it])
        per_evidence = (time.perf_counter() - t0) / len(chosen)
    print(f"evidence stage, full-size BLIP VQA ({C.n_params(vqa.model):.0f}M, {vqa.image_size} px, 2 questions/image, "
          f"CPU {os.cpu_count()} cores): {per_evidence:.2f} s per image")
    print(f"import adds {100 * per_import / per_evidence:.3f}% to the evidence stage's time "
          f"({args.images} images: {imported:.1f} s vs {per_evidence * args.images:.0f} s)")


if __name__ == "__main__":
    main()
