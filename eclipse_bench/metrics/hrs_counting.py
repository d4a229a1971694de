"""HRS-Bench counting: TP/FP/FN per class, F1 per level and image set, headline = their mean."""

from __future__ import annotations

from typing import Any

from eclipse_bench.metrics.base import Verdict, object_classes, hrs_detections, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec

HRS_DETECTION_RULES = (("detection", "score > 0.5"), ("identical integer boxes", "merged, first label wins"))


def hrs_counting(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """TP/FP/FN per object class; the score of one image is its F1, the suite's is F1 per level (x100).

    A class named twice in one prompt ("3 potted plant and 2 potted plant") is one class whose counts add
    up (5); the reference keeps them in a dict and so keeps only the last count (reference_compat)."""
    classes, bad = object_classes(evidence, spec)
    if bad:
        return bad
    dets = hrs_detections(evidence)
    want: dict[str, int] = {}
    for o, cls in zip(spec.objects, classes):
        want[cls] = int(o.count or 0) + (0 if reference_compat else want.get(cls, 0))
    tp = fp = fn = 0
    parts = []
    for cls, gt in want.items():
        pred = sum(1 for d in dets if d["label"] == cls)
        tp += min(gt, pred)
        fp += max(pred - gt, 0)
        fn += max(gt - pred, 0)
        parts.append(f"{cls}: {pred}/{gt}")
    if tp + fp + fn == 0:
        return unscorable("nothing to count (every count is 0 and nothing was detected)")
    f1 = 2 * tp / (2 * tp + fp + fn)
    return Verdict(f1, "counted " + ", ".join(parts), {"tp": tp, "fp": fp, "fn": fn})


register_metric(MetricDef(
    "hrs-counting", ("detect",), hrs_counting, "micro F1 x100, mean over levels",
    help="HRS-Bench counting: micro precision/recall/F1 per level (x100)",
    compat_note="medium/hard read other prompts' images (level offset); a class named twice keeps the last count",
    follows_reference_images=True, reference_models="UniDet", equivalence="proxy", thresholds=HRS_DETECTION_RULES, display_threshold=0.5,
    fits=("counted objects (a counting or numeracy category)",
          lambda spec, cat: cat in ("counting", "numeracy") and any(o.count is not None for o in spec.objects))))
