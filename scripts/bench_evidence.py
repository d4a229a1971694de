"""What chunk-independent evidence costs: each provider's evidence path (every image in forward passes of its own,
so its record never depends on the other images of a chunk) against the same outputs computed in passes batched
across images (what eclipse-bench gave up: batched kernels round each image's outputs by its neighbours).

    python scripts/bench_evidence.py [--images 32] [--full-size-blip]

Prints images/s both ways and the ratio; tiny twins on the CPU, and with --full-size-blip the real BLIP VQA
architecture (ViT-B/16 at 480 px + BERT-base, random weights). Offline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")


def _images(n, size=64):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def _items(n):
    from eclipse_bench.prompts.spec import Item, ObjectSpec, Spec

    nouns = [("bench", "car"), ("cat", "dog"), ("cup", "bowl"), ("horse", "sheep")]
    return [Item(str(i), f"a green {a} and a red {b}", "color",
                 Spec(phrases=(f"a green {a}", f"a red {b}"), objects=(ObjectSpec(a, ("green",)), ObjectSpec(b, ("red",)))))
            for i, (a, b) in ((i, nouns[i % 4]) for i in range(n))]


def _time(fn, repeat=3):
    fn()  # warm-up (lazy imports, first-call kernels)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _vqa_batched(vqa, images, items):
    """All (image, question) pairs of the chunk in one batch: one vision pass per image, shared kernels."""
    from eclipse_bench.metrics.vqa import question_for

    pairs = [(im, question_for(p)) for im, it in zip(images, items) for p in it.spec.phrases]
    return vqa.p_yes([im for im, _ in pairs], [q for _, q in pairs])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--full-size-blip", action="store_true")
    args = ap.parse_args()
    from eclipse_bench.metrics.clip import ClipScorer
    from eclipse_bench.metrics.detect import Detector
    from eclipse_bench.metrics.vqa import BlipVqa

    images, items = _images(args.images), _items(args.images)
    vqa = BlipVqa("tiny:blip-vqa")
    det = Detector("tiny:yolo-seg")
    clip = ClipScorer("tiny:clip")

    def det_batched():
        import numpy as np

        return det.model.predict([np.asarray(im)[:, :, ::-1] for im in images], conf=det.conf_floor, imgsz=det.imgsz,
                                 max_det=det.max_det, verbose=False)

    def clip_batched():
        clip.image_features(images)
        clip.text_features([i.prompt for i in items] * 2)

    cases = {
        "vqa (tiny BLIP, 2 questions/image)": (lambda: vqa.evidence(images, items), lambda: _vqa_batched(vqa, images, items)),
        "detection (tiny YOLO-seg)": (lambda: det.evidence(images, items), det_batched),
        "clip (tiny open_clip)": (lambda: clip.evidence(images, items), clip_batched),
    }
    if args.full_size_blip:
        sys.path.insert(0, str(Path(__file__).parent))
        import torch
        from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

        import full_size_configs as C
        from eclipse_bench.bench.core.tokenizers import build_tiny_bert_tokenizer

        torch.manual_seed(0)
        with tempfile.TemporaryDirectory() as tmp:
            BlipForQuestionAnswering(BlipConfig(**C.BLIP_VQA)).eval().save_pretrained(tmp)
            BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=build_tiny_bert_tokenizer()).save_pretrained(tmp)
            big = BlipVqa(tmp)
        n = min(args.images, 8)
        big_images, big_items = _images(n, 512), _items(n)
        cases[f"vqa (full-size BLIP at {big.image_size} px, {n} images)"] = (
            lambda: big.evidence(big_images, big_items), lambda: _vqa_batched(big, big_images, big_items))
    print(f"{args.images} images (CPU, {os.cpu_count()} cores, torch threads {__import__('torch').get_num_threads()}): "
          f"evidence per image (chunk-independent) vs batched across images, best of 3")
    for name, (ours, batched) in cases.items():
        t_ours, t_batched = _time(ours), _time(batched)
        n = len(big_images) if "full-size" in name else args.images
        print(f"  {name:44s} per image {n / t_ours:8.2f} img/s   batched {n / t_batched:8.2f} img/s   "
              f"cost of independence {t_ours / t_batched:5.2f}x")


if __name__ == "__main__":
    main()
