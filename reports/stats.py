"""Aggregates and bootstrap confidence intervals (scipy)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Optional

import numpy as np


def per_prompt_means(samples: Iterable[dict]) -> dict[str, float]:
    """Mean score of each prompt over its images (unscorable samples, score None, are left out)."""
    acc: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if s.get("score") is not None:
            acc[s["prompt_id"]].append(float(s["score"]))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def bootstrap_ci(values: Iterable[float], confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[Optional[float], Optional[float]]:
    """Percentile bootstrap CI of the mean, resampling prompts (images of a prompt are not independent)."""
    from scipy import stats

    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return (None, None)
    if arr.size == 1 or np.all(arr == arr[0]):
        return (float(arr[0]), float(arr[0]))
    res = stats.bootstrap((arr,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                          method="percentile", random_state=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))
