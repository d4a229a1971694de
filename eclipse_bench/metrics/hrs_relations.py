"""HRS-Bench spatial and size: every object found and every relation holds (box edges; box areas)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from eclipse_bench.metrics.base import Verdict, object_classes, hrs_detections, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec
from eclipse_bench.metrics.hrs_counting import HRS_DETECTION_RULES


def _hrs_box(evidence: dict, cls: str) -> Optional[list[float]]:
    ds = [d for d in hrs_detections(evidence) if d["label"] == cls]
    return ds[-1]["box"] if ds else None  # the reference keeps the last detection of a class


def hrs_relation_holds(name: str, b1: Sequence[float], b2: Sequence[float],
                       b3: Optional[Sequence[float]] = None) -> bool:
    if name == "right":
        return b1[2] > b2[2]
    if name == "left":
        return b1[0] < b2[0]
    if name == "above":
        return b1[1] < b2[1] or b1[3] < b2[3]
    if name == "below":
        return b1[1] > b2[1] or b1[3] > b2[3]
    if name == "between":  # from the edge predicates, as the reference (not from box centres)
        holds = hrs_relation_holds
        return ((holds("right", b1, b2) and holds("left", b1, b3)) or (holds("left", b1, b2) and holds("right", b1, b3))
                or (holds("below", b1, b2) and holds("above", b1, b3))
                or (holds("above", b1, b2) and holds("below", b1, b3)))
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    if name == "bigger":
        return area(b1) > area(b2)
    if name == "smaller":
        return area(b1) < area(b2)
    raise ValueError(f"unknown HRS relation {name!r}")


HRS_RELATION_NAMES = frozenset({"right", "left", "above", "below", "between", "bigger", "smaller"})


def hrs_relations(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """HRS spatial and size: pass (1) only if every named object is found and every relation holds.

    With reference_compat, hard spatial prompts (4 objects, 2 relations) are unscorable: the reference checks
    the second relation against a fifth object there and crashes; a 4-object 'between' prompt has no branch
    there and scores 0. Size prompts are scored at every level (its script does not crash there).
    """
    if not spec.relations:
        return unscorable("the spec has no relation")
    unknown = [r.name for r in spec.relations if r.name not in HRS_RELATION_NAMES
               or (r.name == "between" and r.object2 is None)]
    if unknown:
        return unscorable(f"{unknown[0]!r} is not an HRS-Bench relation (or 'between' lacks its second object)")
    size = all(r.name in ("bigger", "smaller") for r in spec.relations)
    if reference_compat and not size and len(spec.objects) >= 4:
        if any(r.name == "between" for r in spec.relations):
            return Verdict(0.0, "reference-compat: the HRS reference has no branch for 4-object 'between'")
        return unscorable("reference-compat: the HRS reference crashes on hard (4-object) spatial prompts")
    classes, bad = object_classes(evidence, spec)
    if bad:
        return bad
    boxes = [_hrs_box(evidence, c) for c in classes]
    missing = [c for c, b in zip(classes, boxes) if b is None]
    if missing:
        return Verdict(0.0, f"not found: {', '.join(missing)}")
    for r in spec.relations:
        b3 = boxes[r.object2] if r.object2 is not None else None
        if not hrs_relation_holds(r.name, boxes[r.subject], boxes[r.object], b3):
            return Verdict(0.0, f"{classes[r.subject]} {r.name} {classes[r.object]} does not hold")
    return Verdict(1.0, "every relation holds")


register_metric(MetricDef(
    "hrs-spatial", ("detect",), hrs_relations, "accuracy x100, mean over levels",
    help="HRS-Bench spatial: every object found and every relation holds (accuracy x100)",
    compat_note="level offset; hard prompts unscorable, as the reference crashes on them", follows_reference_images=True,
    reference_models="UniDet", equivalence="proxy", thresholds=HRS_DETECTION_RULES, display_threshold=0.5,
    fits=("HRS relations (left, right, above, below, between)",
          lambda spec, cat: bool(spec.relations) and all(r.name in HRS_RELATION_NAMES for r in spec.relations))))
register_metric(MetricDef(
    "hrs-size", ("detect",), hrs_relations, "accuracy x100, mean over levels",
    help="HRS-Bench size: box areas bigger/smaller (accuracy x100)", compat_note="level offset", follows_reference_images=True,
    reference_models="UniDet", equivalence="proxy", thresholds=HRS_DETECTION_RULES, display_threshold=0.5,
    fits=("HRS size relations (bigger, smaller)",
          lambda spec, cat: bool(spec.relations) and all(r.name in ("bigger", "smaller") for r in spec.relations))))
