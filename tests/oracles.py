"""Rule oracles written from the reference facts (shared/reference/metrics.md), independent of metrics/*.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def blip_vqa_score(p_yes: list[float]) -> float:
    """T2I-CompBench's BLIP-VQA image score: each P(yes) rounded to 4 decimals, multiplied in float32, the product
    rounded to 4 decimals."""
    product = np.float32(1.0)
    for p in p_yes:
        product = np.float32(product * np.float32(round(float(p), 4)))
    return round(float(product), 4)


def run_files(out: Path) -> dict:
    """What a finished run says, timings aside: every image's bytes by sample, the samples and the results (the
    oracle a disturbed, resumed or sharded run is compared with)."""
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines() if line.strip()]
    results = json.loads((out / "results.json").read_text())
    results.pop("timings")
    return {"images": {s["key"]: (out / s["image"]).read_bytes() for s in samples},
            "samples": (out / "samples.jsonl").read_bytes(), "results": results}
