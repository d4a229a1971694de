"""HRS-Bench color: mean OpenCV hue of each instance mask, HRS hue bins, accuracy per object."""

from __future__ import annotations

from typing import Any

from eclipse_bench.metrics.base import Verdict, object_classes, hrs_detections, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec


HUE_BINS = ((15, "red"), (22, "orange"), (39, "yellow"), (78, "green"), (131, "blue"))


def hue_color(hue: float) -> str:
    """OpenCV hue (0-179) -> colour name, HRS-Bench's bins."""
    for upper, name in HUE_BINS:
        if hue < upper:
            return name
    return "red"


def hrs_color(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """An object is correct if any mask of its class has its colour (mean hue bin); score = share correct."""
    classes, bad = object_classes(evidence, spec)
    if bad:
        return bad
    # a mask without any non-zero hue has no colour; the reference's NaN mean falls to 'red' (reference_compat)
    dets = [d for d in hrs_detections(evidence, inclusive=True) if d.get("mean_hue") is not None or (reference_compat and "mean_hue" in d)]
    correct, parts = 0, []
    for o, cls in zip(spec.objects, classes):
        want = o.attributes[0] if o.attributes else None
        seen = [hue_color(d["mean_hue"]) if d.get("mean_hue") is not None else "red" for d in dets
                if d["label"] == cls]
        ok = want is not None and want in seen
        correct += ok
        parts.append(f"{cls}: want {want}, masks {seen or 'none'}")
    n = len(spec.objects)
    if not n:
        return unscorable("the spec names no object")
    return Verdict(correct / n, "; ".join(parts), {"correct": correct, "objects": n})


register_metric(MetricDef(
    "hrs-color", ("detect",), hrs_color, "object accuracy x100, mean over levels",
    help="HRS-Bench color: mask hue bins per object (accuracy x100)",
    compat_note="image 00 only; a mask without hue counts as red", follows_reference_images=True,
    reference_models="MaskDINO instance masks", equivalence="proxy", thresholds=(("masks", "score >= 0.5"),),
    display_threshold=0.5, fits=("objects with a colour", lambda spec, cat: any(o.attributes for o in spec.objects))))
