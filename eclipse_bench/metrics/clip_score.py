"""T2I-CompBench non-spatial: CLIPScore, the raw cosine of image and prompt (OpenAI CLIP ViT-B/32)."""

from __future__ import annotations

from typing import Any

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec


def clip_score(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    clip = evidence.get("clip")
    if clip is None:
        return unscorable("no CLIP evidence")
    return Verdict(float(clip["cosine"]), f"cosine(image, prompt) = {clip['cosine']:.4f}")


register_metric(MetricDef(
    "clip-score", ("clip",), clip_score, help="T2I-CompBench non-spatial: raw CLIP cosine",
    reference_models="OpenAI CLIP ViT-B/32", equivalence="reference", fits=("a prompt", lambda spec, cat: True),
    score_range=(-1.0, 1.0)))  # a cosine can be negative
