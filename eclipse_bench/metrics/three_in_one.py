"""T2I-CompBench complex: 3-in-1, BLIP-VQA with spatial and/or CLIPScore by sub-category (3_in_1.py)."""

from __future__ import annotations

from typing import Any

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec
from eclipse_bench.metrics.blip_vqa import blip_vqa
from eclipse_bench.metrics.t2i_spatial import T2I_DETECTION_RULES, t2i_spatial


def three_in_one(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """Complex prompts: mean of BLIP-VQA with spatial (spatial), CLIPScore without adjectives (action), or all three."""
    part = spec.subcategory
    if part not in ("action", "spatial", "spatialaction"):
        return unscorable("the spec has no complex sub-category (action / spatial / spatialaction)")
    parts = {"blip-vqa": blip_vqa(evidence, spec, reference_compat)}
    if part in ("spatial", "spatialaction"):
        if spec.relation is None or len(spec.objects) < 2:
            # the reference's --complex parse found no two objects around a relation phrase: it scores 0
            parts["spatial"] = Verdict(0.0, "no two objects around a relation phrase (the reference scores 0)")
        else:
            parts["spatial"] = t2i_spatial(evidence, spec, reference_compat)
    if part in ("action", "spatialaction"):
        clip = evidence.get("clip")
        parts["clip"] = (Verdict(float(clip["cosine_no_adjectives"]), "cosine without adjectives") if clip
                         else unscorable("no CLIP evidence"))
    missing = [k for k, v in parts.items() if v.score is None]
    if missing:
        return unscorable(f"{part}: {', '.join(missing)} unscorable ({parts[missing[0]].reason})")
    score = sum(v.score for v in parts.values()) / len(parts)
    return Verdict(score, f"{part}: " + "; ".join(f"{k} {v.score:.3f}" for k, v in parts.items()),
                   {k: v.score for k, v in parts.items()})


register_metric(MetricDef(
    "three-in-one", ("vqa", "detect", "clip"), three_in_one,
    help="T2I-CompBench complex: BLIP-VQA with spatial and/or CLIPScore by sub-category",
    compat_note="'on top of' scores 0 in the spatial part", reference_models="BLIP VQA + UniDet + OpenAI CLIP ViT-B/32",
    equivalence="proxy", thresholds=T2I_DETECTION_RULES, display_threshold=0.1,
    fits=("a complex sub-category", lambda spec, cat: spec.subcategory in ("action", "spatial", "spatialaction")),
    score_range=(-1.0, 1.0)))  # a cosine can be negative
