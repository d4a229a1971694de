"""Render time and size of the drill-down report of a 3,000-image run (300 prompts x 10 images, 256 px).

    python scripts/bench_report.py [--prompts 300] [--images-per-prompt 10] [--size 256]

Builds a synthetic run directory (smooth random images, BLIP-VQA-style evidence) in a temporary folder,
then times `eclipse-bench report` on it. Goal: under 10 s and under 50 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def build_run(out: Path, prompts: int, ipp: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (out / "images").mkdir(parents=True)
    rows = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(prompts):
        for n in range(ipp):
            c = rng.random((3, 3))
            img = np.stack([(c[k, 0] * xx + c[k, 1] * yy + c[k, 2] * xx * yy) for k in range(3)], -1)
            path = f"images/p{i:03d}-{n}.png"
            Image.fromarray((255 * img / img.max()).astype("uint8")).save(out / path)
            p = float(rng.random())
            rows.append({"key": f"{i}-{n}", "prompt_id": f"p{i:03d}", "prompt": f"a red car and a blue bench {i}",
                         "n": n, "image": path, "seed": 42 + n, "category": "color", "level": None,
                         "spec": {"phrases": ["a red car", "a blue bench"], "objects": [], "relation": None,
                                  "subcategory": None, "exclude": []},
                         "score": round(p * p, 4), "reason": "product of P(yes)", "details": {},
                         "evidence": {"vqa": {"questions": [{"phrase": "a red car", "question": "a red car?", "p_yes": p},
                                                            {"phrase": "a blue bench", "question": "a blue bench?",
                                                             "p_yes": p}]}}})
    (out / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "manifest.json").write_text(json.dumps({
        "version": "bench", "git_revision": None, "pairing": {"name": "bench", "prior": "eclipse", "decoder_id": "x",
                                                              "prior_id": "y"},
        "suite": {"name": "t2i-compbench/color", "source": "synthetic", "hash": "0" * 64},
        "metric": {"models": {"vqa": "synthetic"}}, "settings": {"images_per_prompt": ipp}}))
    scores = [r["score"] for r in rows]
    (out / "results.json").write_text(json.dumps({
        "pairing": "bench", "suite": "t2i-compbench/color", "metric": "blip-vqa", "score": sum(scores) / len(scores),
        "ci95": [0.3, 0.35], "n_prompts": prompts, "n_images": len(rows), "n_unscorable": 0, "metric_version": "1",
        "reference_compat": False, "timings": {}}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument("--images-per-prompt", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    from eclipse_bench.reports.html import render_run

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        build_run(run, args.prompts, args.images_per_prompt, args.size)
        t0 = time.perf_counter()
        out = render_run(run, Path(tmp) / "report.html")
        seconds = time.perf_counter() - t0
        mb = out.stat().st_size / 2**20
        t0 = time.perf_counter()
        linked = render_run(run, Path(tmp) / "report-linked.html", link_images=True)
        seconds_linked = time.perf_counter() - t0
        print(f"{args.prompts * args.images_per_prompt} images ({args.size} px): report rendered in {seconds:.2f} s, "
              f"{mb:.1f} MB self-contained; with --link-images {seconds_linked:.2f} s, "
              f"{linked.stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
