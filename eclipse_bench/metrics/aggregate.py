"""Aggregates: per-prompt sufficient statistics, combined into a suite score, with a bootstrap CI.

Each aggregate maps a scored sample to a small vector, sums them per prompt, and combines a sum into
the score. The bootstrap resamples prompts (images of one prompt are not independent) and recombines,
which works the same for a mean, a micro F1 or a mean of tag means.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

GENEVAL_TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


@dataclass(frozen=True)
class Aggregate:
    name: str
    stats: Callable[[dict], list[float]]          # one scored sample -> vector
    combine: Callable[[np.ndarray], np.ndarray]   # (..., k) sums -> (...) scores
    scale: str = "0-1"
    pooled: Optional[Callable[[np.ndarray], np.ndarray]] = None  # an extra figure from the same sums


def _mean_combine(s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return s[..., 0] / s[..., 1]


MEAN = Aggregate("mean", lambda r: [r["score"], 1.0], _mean_combine)
PERCENT = Aggregate("accuracy x100", lambda r: [r["score"], 1.0], lambda s: 100 * _mean_combine(s), "0-100")
# a soft score (GenEval 2's Soft-TIFA, VQAScore): the mean of per-image values in 0..1, x100 as the benchmark reports
MEAN100 = Aggregate("mean x100", lambda r: [r["score"], 1.0], lambda s: 100 * _mean_combine(s), "0-100")


def _f1(s: np.ndarray) -> np.ndarray:
    tp, fp, fn = s[..., 0], s[..., 1], s[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100 * 2 * tp / (2 * tp + fp + fn)


MICRO_F1 = Aggregate("micro F1 x100", lambda r: [r["details"]["tp"], r["details"]["fp"], r["details"]["fn"]], _f1,
                     "0-100")
OBJECT_ACCURACY = Aggregate("object accuracy x100",
                            lambda r: [r["details"]["correct"], r["details"]["objects"]],
                            lambda s: 100 * _mean_combine(s), "0-100")


def mean_of_group_means(name: str, groups: tuple) -> Aggregate:
    """Unweighted mean over groups (a row's category) of each group's mean score; rows of other groups are
    kept in a last, separate group."""
    k = len(groups) + 1

    def stats(r: dict) -> list[float]:
        v = [0.0] * (2 * k)
        i = groups.index(r.get("category")) if r.get("category") in groups else k - 1
        v[2 * i], v[2 * i + 1] = r["score"], 1.0
        return v

    def combine(s: np.ndarray) -> np.ndarray:
        s = s.reshape(*s.shape[:-1], k, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = s[..., 0] / s[..., 1]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.where(s[..., 1] > 0, means, np.nan), axis=-1)

    return Aggregate(name, stats, combine)


GENEVAL_OVERALL = mean_of_group_means("mean of tag means", GENEVAL_TAGS)
T2I_CATEGORIES = ("color", "shape", "texture", "spatial", "non_spatial", "complex", "numeracy", "3d_spatial")
CATEGORY_MEANS = mean_of_group_means("mean of category means", T2I_CATEGORIES)

# HRS-Bench reports each level's value per image set (image n of every prompt), and its headline is the
# mean of those values over levels and image sets, not one value pooled over all prompts.
HRS_LEVELS = ("easy", "medium", "hard", None)
MAX_IMAGE_SETS = 10


def level_mean(inner: Aggregate, k: int) -> Aggregate:
    cells = len(HRS_LEVELS) * MAX_IMAGE_SETS

    def stats(r: dict) -> list[float]:
        v = [0.0] * (cells * k)
        level = r.get("level") if r.get("level") in HRS_LEVELS else None
        cell = HRS_LEVELS.index(level) * MAX_IMAGE_SETS + min(int(r.get("n") or 0), MAX_IMAGE_SETS - 1)
        v[cell * k:(cell + 1) * k] = inner.stats(r)
        return v

    def combine(s: np.ndarray) -> np.ndarray:
        per_cell = inner.combine(s.reshape(*s.shape[:-1], cells, k))
        with np.errstate(invalid="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-empty resamples are NaN
                return np.nanmean(per_cell, axis=-1)

    def pooled(s: np.ndarray) -> np.ndarray:
        return inner.combine(s.reshape(*s.shape[:-1], cells, k).sum(axis=-2))

    return Aggregate(f"{inner.name}, mean over levels", stats, combine, inner.scale, pooled)


LEVEL_F1 = level_mean(MICRO_F1, 3)
LEVEL_ACCURACY = level_mean(PERCENT, 2)
LEVEL_OBJECT_ACCURACY = level_mean(OBJECT_ACCURACY, 2)

AGGREGATES = {a.name: a for a in (MEAN, PERCENT, MEAN100, MICRO_F1, OBJECT_ACCURACY, GENEVAL_OVERALL, LEVEL_F1, LEVEL_ACCURACY,
                                  LEVEL_OBJECT_ACCURACY, CATEGORY_MEANS)}


def bootstrap_ci(statistic: Callable[[np.ndarray], np.ndarray], n: int, n_resamples: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> list:
    """Percentile bootstrap over n prompts: `statistic` maps resampled prompt indices (n_resamples, n) to one
    value per resample (NaN resamples dropped). The one resampling used by summaries, compare and reports."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    boot = np.asarray(statistic(idx), dtype=float)
    boot = boot[~np.isnan(boot)]
    if not boot.size:
        return [None, None]
    a = (1 - confidence) / 2
    return [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))]


def per_prompt_stats(rows: Iterable[dict], agg: Aggregate) -> tuple[list[str], np.ndarray]:
    by_prompt: dict[str, np.ndarray] = {}
    for r in rows:
        if r.get("score") is None:
            continue
        v = np.asarray(agg.stats(r), dtype=float)
        by_prompt[r["prompt_id"]] = by_prompt.get(r["prompt_id"], 0) + v
    ids = list(by_prompt)
    return ids, (np.stack([by_prompt[i] for i in ids]) if ids else np.zeros((0, 1)))


def summarise(rows: list[dict], agg: Aggregate, n_resamples: int = 2000, seed: int = 0,
              confidence: float = 0.95) -> dict:
    """Score, percentile-bootstrap CI over prompts, and breakdowns by level and category."""
    ids, P = per_prompt_stats(rows, agg)
    out: dict = {"score": None, "ci95": [None, None], "n_prompts": len(ids)}
    if not ids:
        return out
    total = P.sum(axis=0)
    score = float(agg.combine(total))
    out["score"] = None if np.isnan(score) else score
    if agg.pooled is not None:
        pooled = float(agg.pooled(total))
        out["pooled"] = None if np.isnan(pooled) else pooled
    if len(ids) > 1:
        out["ci95"] = bootstrap_ci(lambda idx: agg.combine(P[idx].sum(axis=1)), len(ids), n_resamples, seed,
                                   confidence)
    else:
        out["ci95"] = [out["score"], out["score"]]
    for key in ("level", "category"):
        # numeric levels in numeric order (GenEval 2's atom counts 3..10), names alphabetically
        groups = sorted({r.get(key) for r in rows if r.get(key)},
                        key=lambda g: (0, int(g), "") if str(g).isdigit() else (1, 0, str(g)))
        if len(groups) > 1 or (key == "level" and groups):
            out[f"by_{key}"] = {}
            for g in groups:
                _, Pg = per_prompt_stats([r for r in rows if r.get(key) == g], agg)
                if len(Pg):
                    v = float(agg.combine(Pg.sum(axis=0)))
                    out[f"by_{key}"][g] = None if np.isnan(v) else v
    return out


def per_prompt_scores(rows: list[dict], agg: Aggregate) -> dict[str, Optional[float]]:
    """Each prompt's own aggregate (used by compare's paired tests)."""
    ids, P = per_prompt_stats(rows, agg)
    vals = agg.combine(P) if len(ids) else np.zeros(0)
    return {i: (None if np.isnan(v) else float(v)) for i, v in zip(ids, vals)}
