"""GenEval: includes in order (count, colour, position), then excludes; overall = mean of the 6 tag means."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from eclipse_bench.metrics.base import Verdict, center, detections_of, object_classes, unscorable
from eclipse_bench.metrics.registry import MetricDef, PROVIDERS, register_metric
from eclipse_bench.prompts.spec import ObjectSpec, Spec


GENEVAL_THRESHOLD, GENEVAL_COUNTING_THRESHOLD, GENEVAL_MAX_PER_CLASS = 0.3, 0.9, 16
POSITION_SHRINK = 0.1


def geneval_relations(box_a: Sequence[float], box_b: Sequence[float]) -> set[str]:
    """Relations of A to B: offset of centres shrunk by 0.1 x the summed sizes, normalised by the raw offset."""
    ca, cb = center(box_a), center(box_b)
    off = (ca[0] - cb[0], ca[1] - cb[1])
    dims = ((box_a[2] - box_a[0]) + (box_b[2] - box_b[0]), (box_a[3] - box_a[1]) + (box_b[3] - box_b[1]))
    revised = [math.copysign(max(abs(o) - POSITION_SHRINK * d, 0.0), o) for o, d in zip(off, dims)]
    if all(abs(r) < 1e-3 for r in revised):
        return set()
    norm = math.hypot(*off)
    dx, dy = revised[0] / norm, revised[1] / norm
    rels = set()
    if dx < -0.5:
        rels.add("left of")
    if dx > 0.5:
        rels.add("right of")
    if dy < -0.5:
        rels.add("above")
    if dy > 0.5:
        rels.add("below")
    return rels


def geneval(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """GenEval's check: includes in order (count, then colour, then position), then excludes."""
    tag = spec.subcategory or ""
    classes, bad = object_classes(evidence, spec)
    if bad:
        return bad
    if not spec.objects and not spec.exclude:
        return unscorable("the spec names nothing to check")
    odd = [r.name for r in spec.relations if r.name not in ("left of", "right of", "above", "below")]
    if odd:
        return unscorable(f"{odd[0]!r} is not a GenEval position (left of, right of, above, below)")

    ex_spec = Spec(objects=tuple(ObjectSpec(e.noun) for e in spec.exclude)) if spec.exclude else None
    ex_classes = []
    if ex_spec:
        ex_classes, bad = object_classes(evidence, ex_spec)
        if bad:
            return bad
    threshold = GENEVAL_COUNTING_THRESHOLD if tag == "counting" else GENEVAL_THRESHOLD
    colors = evidence.get("color", {}).get("colors", {})  # detection id -> colour name

    def detected(cls: str) -> list[dict]:
        return detections_of(evidence, cls, threshold)[:GENEVAL_MAX_PER_CLASS]

    groups: list[Optional[list[dict]]] = []
    correct, reasons = True, []
    relation_of = {r.subject: r for r in spec.relations}
    for j, (o, cls) in enumerate(zip(spec.objects, classes)):
        need = 1 if o.count is None else int(o.count)
        found = detected(cls)[:need]
        matched = True
        if need == 0 and detected(cls):  # a count of 0 is real: the object must be absent
            matched = False
            reasons.append(f"expected no {cls}, found {len(detected(cls))}")
        elif len(found) < need:
            matched = False
            reasons.append(f"expected {cls} >= {need}, found {len(found)}")
        else:
            if o.attributes:
                got = [colors.get(str(d["id"])) for d in found]
                if got.count(o.attributes[0]) != len(found):
                    matched = False
                    reasons.append(f"expected {o.attributes[0]} {cls}, found {got}")
            rel = relation_of.get(j)
            if rel is not None and matched:
                target = groups[rel.object] if rel.object < len(groups) else None
                if target is None:
                    matched = False
                    reasons.append(f"no target for {cls} {rel.name}")
                else:
                    for a in found:
                        for b in target:
                            true_rels = geneval_relations(a["box"], b["box"])
                            if rel.name not in true_rels:
                                matched = False
                                reasons.append(f"{cls} not {rel.name} {b['label']} ({sorted(true_rels) or 'none'})")
                                break
                        if not matched:
                            break
        correct &= matched
        groups.append(found if matched else None)
    for e, cls in zip(spec.exclude, ex_classes):
        n = len(detected(cls))
        if n >= e.count:
            correct = False
            reasons.append(f"expected {cls} < {e.count}, found {n}")
    return Verdict(1.0 if correct else 0.0, "; ".join(reasons) or "all requirements hold")


def label(base: dict, choices: dict, items: list) -> dict:
    """YOLO stands in for GenEval's detector (proxy); --detector mask2former is its architecture with other weights."""
    variant = PROVIDERS.get("detect").variants.get(choices.get("detect") or "")
    if variant is None:
        return base
    return {**base, "equivalence": variant.equivalence, "reference_models": variant.reference_models}


register_metric(MetricDef(
    "geneval", ("detect", "color"), geneval, "mean of tag means", label_for=label,
    help="GenEval: counts, colours, positions, exclusions; overall = mean of the tag means",
    reference_models="Mask2Former Swin-S (mmdet) + OpenAI CLIP ViT-L/14", equivalence="proxy",
    thresholds=(("detection", "score > 0.3; counting tag > 0.9"), ("per class", "at most 16")),
    fits=("a GenEval tag", lambda spec, cat: (spec.subcategory or cat) in
          ("single_object", "two_object", "counting", "colors", "position", "color_attr"))))
