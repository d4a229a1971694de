"""T2I-CompBench 2-D spatial: detection geometry of the first and last noun (2D_spatial_eval.py)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from eclipse_bench.metrics.base import Verdict, object_classes, detections_of, center, iou, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec


SPATIAL_DIRECTIONS = {"on the left of", "on the right of", "on the top of", "on the bottom of", "on top of"}
SPATIAL_NEAR = {"next to", "near", "on side of"}
# T2I-CompBench's UniDet keeps boxes with score > 0.1 (a hard-coded threshold; spatial, numeracy, complex, 3D).
T2I_DETECTION_THRESHOLD = 0.1
T2I_DETECTION_RULES = (("detection", "score > 0.1 (T2I-CompBench's UniDet, hard-coded)"),)


def _resize_scale(width: float, height: float, short: float = 479, long: float = 480) -> float:
    """Scale of a shortest-edge resize to `short`, capped so the long side stays <= `long` (UniDet input)."""
    s = short / min(width, height)
    return min(s, long / max(width, height))


def spatial_relation_score(name: str, box1: Sequence[float], box2: Sequence[float],
                           reference_compat: bool = False) -> tuple[Optional[float], str]:
    """T2I-CompBench's geometric score of `name` between two boxes (already in resized pixels); None for a
    relation T2I-CompBench does not know."""
    (x1, y1), (x2, y2) = center(box1), center(box2)
    dx, dy = x2 - x1, y2 - y1
    if name in SPATIAL_NEAR:
        if abs(dx) < 150 or abs(dy) < 150:
            return 1.0, f"|dx|={abs(dx):.0f} or |dy|={abs(dy):.0f} < 150"
        return 150.0 / max(abs(dx), abs(dy)), f"distance {max(abs(dx), abs(dy)):.0f} px > 150"
    if name == "on top of" and reference_compat:
        return 0.0, "'on top of' has no branch in the reference (always 0)"
    holds = {
        "on the left of": dx > 0 and abs(dx) > abs(dy),
        "on the right of": dx < 0 and abs(dx) > abs(dy),
        "on the top of": dy > 0 and abs(dy) > abs(dx),
        "on top of": dy > 0 and abs(dy) > abs(dx),
        "on the bottom of": dy < 0 and abs(dy) > abs(dx),
    }.get(name)
    if holds is None:
        return None, f"{name!r} is not a T2I-CompBench relation"
    if not holds:
        return 0.0, f"direction does not hold (dx={dx:.0f}, dy={dy:.0f})"
    overlap = iou(box1, box2)
    if overlap < 0.1:
        return 1.0, f"direction holds, IoU {overlap:.2f} < 0.1"
    return 0.1 / overlap, f"direction holds, IoU {overlap:.2f} penalised"


def t2i_spatial(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """0.25*conf1 + 0.25*conf2 + 0.5*relation with both objects found, 0.25*conf with one; below 0.5 -> 0."""
    if spec.relation is None or len(spec.objects) < 2:
        return unscorable("the spec has no relation between two objects")
    if spec.relation.name not in SPATIAL_DIRECTIONS | SPATIAL_NEAR:
        return unscorable(f"{spec.relation.name!r} is not a T2I-CompBench relation")
    classes, bad = object_classes(evidence, spec)
    if bad:
        return bad
    det = evidence["detect"]
    w, h = det["image_size"]
    s = _resize_scale(w, h)
    found = []
    for cls in classes[:2]:
        ds = detections_of(evidence, cls, T2I_DETECTION_THRESHOLD)
        found.append(ds[0] if ds else None)
    a, b = found
    if a and b:
        box1 = [v * s for v in a["box"]]
        box2 = [v * s for v in b["box"]]
        rel, why = spatial_relation_score(spec.relation.name, box1, box2, reference_compat)
        if rel is None:
            return unscorable(why)
        score = 0.25 * a["score"] + 0.25 * b["score"] + 0.5 * rel
        reason = f"both found ({a['score']:.2f}, {b['score']:.2f}); {spec.relation.name}: {why} -> {rel:.2f}"
    elif a or b:
        one = a or b
        score = 0.25 * one["score"]
        reason = f"only {one['label']} found ({one['score']:.2f})"
    else:
        score, reason = 0.0, f"neither {classes[0]} nor {classes[1]} found"
    if score < 0.5:
        reason += f"; {score:.3f} < 0.5 -> 0"
        score = 0.0
    return Verdict(score, reason)


register_metric(MetricDef(
    "t2i-spatial", ("detect",), t2i_spatial, help="T2I-CompBench 2-D spatial (detection geometry)",
    compat_note="'on top of' scores 0 as in the reference", reference_models="UniDet (unified, R50)",
    equivalence="proxy", thresholds=T2I_DETECTION_RULES + (("image score", "< 0.5 -> 0"),), display_threshold=0.1,
    fits=("a relation between two objects", lambda spec, cat: spec.relation is not None and len(spec.objects) >= 2)))
