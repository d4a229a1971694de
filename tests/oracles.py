"""Rule oracles written from the reference facts (shared/reference/metrics.md), independent of metrics/*.py."""

from __future__ import annotations

import numpy as np


def blip_vqa_score(p_yes: list[float]) -> float:
    """T2I-CompBench's BLIP-VQA image score: each P(yes) rounded to 4 decimals, multiplied in float32, the product
    rounded to 4 decimals."""
    product = np.float32(1.0)
    for p in p_yes:
        product = np.float32(product * np.float32(round(float(p), 4)))
    return round(float(product), 4)
