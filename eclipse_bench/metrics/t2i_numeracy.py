"""T2I-CompBench++ numeracy: detection counts per object (numeracy_eval.py)."""

from __future__ import annotations

from typing import Any, Sequence

from eclipse_bench.metrics.base import Verdict, above_threshold, object_classes, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec
from eclipse_bench.metrics.t2i_spatial import T2I_DETECTION_THRESHOLD, T2I_DETECTION_RULES


def _duplicate(a: Sequence[float], b: Sequence[float], threshold: float = 0.9) -> bool:
    """T2I-CompBench numeracy's duplicate test: IoU or either box's covered share > 0.9, widths and heights + 1 px."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    union = area_a + area_b - inter
    return (union > 0 and inter / union > threshold) or (area_a > 0 and inter / area_a > threshold) or \
        (area_b > 0 and inter / area_b > threshold)


def merge_duplicates(dets: list[dict], threshold: float = 0.9) -> list[dict]:
    """Drop same-class detections that duplicate a kept one (most confident kept first)."""
    kept: list[dict] = []
    for d in sorted(dets, key=lambda d: -d["score"]):
        if not any(k["label"] == d["label"] and _duplicate(d["box"], k["box"], threshold) for k in kept):
            kept.append(d)
    return kept


def t2i_numeracy(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """Per object (weight 1/#objects): half for being present, the other half for the exact count."""
    objs = [o for o in spec.objects if o.count is not None]
    if not objs:
        return unscorable("the spec has no counted object")
    sub = Spec(objects=tuple(objs))
    classes, bad = object_classes(evidence, sub)
    if bad:
        return bad
    dets = merge_duplicates([d for d in evidence["detect"]["detections"]
                             if above_threshold(d["score"], T2I_DETECTION_THRESHOLD)])
    labels = [d["label"] for d in dets]
    w = 1.0 / len(objs)
    score, parts = 0.0, []
    for o, cls in zip(objs, classes):
        if reference_compat and cls not in labels:
            # the reference renames every detected class whose name contains the object's ('hot dog' -> 'dog')
            labels = [cls if cls in lab else lab for lab in labels]
        n = labels.count(cls)
        if n > 0:
            score += 0.5 * w
        if n == o.count:
            score += 0.5 * w
        parts.append(f"{cls}: {n}/{o.count}")
    return Verdict(score, "counted " + ", ".join(parts))


register_metric(MetricDef(
    "t2i-numeracy", ("detect",), t2i_numeracy, help="T2I-CompBench++ numeracy (detection counts)",
    compat_note="a detected class containing the object's name counts as it ('hot dog' -> dog)",
    reference_models="UniDet (unified, R50)", equivalence="proxy",
    thresholds=T2I_DETECTION_RULES + (("duplicates", "IoU or containment > 0.9, +1 px"),), display_threshold=0.1,
    fits=("counted objects (a numeracy or counting category)",
          lambda spec, cat: cat in ("numeracy", "counting") and any(o.count is not None for o in spec.objects))))
