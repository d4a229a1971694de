"""Rules: pure functions of (evidence, spec) -> Verdict. No models; cheap to re-run on stored evidence.

`evidence` maps provider names ("vqa", "detect", "clip", "color") to that provider's record for one image.
Facts of each rule: shared/reference/metrics.md (T2I-CompBench, HRS-Bench, GenEval). Where the reference
has a bug, the default implements the intended rule and `reference_compat=True` reproduces the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from eclipse_bench.prompts.spec import Spec


@dataclass
class Verdict:
    score: Optional[float]           # None: unscorable (reason says why)
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def unscorable(reason: str) -> Verdict:
    return Verdict(None, reason)


# -- shared helpers ---------------------------------------------------------------------------------

def yes_probability(logit_yes: float, logit_no: float) -> float:
    """P(yes) renormalised over {yes, no}: p(yes) / (p(yes) + p(no)) of a softmax over the vocabulary."""
    m = max(logit_yes, logit_no)
    ey, en = math.exp(logit_yes - m), math.exp(logit_no - m)
    return ey / (ey + en)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def containment(a: Sequence[float], b: Sequence[float]) -> float:
    """Share of the smaller box inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def center(box: Sequence[float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def _classes(evidence: dict, spec: Spec, field_: str = "detect") -> tuple[Optional[list[str]], Optional[Verdict]]:
    """Detector class of each object of the spec, or an unscorable verdict naming the missing one."""
    det = evidence.get(field_)
    if det is None:
        return None, unscorable("no detection evidence")
    mapping = det.get("classes", {})
    out = []
    for o in spec.objects:
        cls = mapping.get(o.noun)
        if cls is None:
            return None, unscorable(f"object {o.noun!r} is not in the detector's vocabulary ({det.get('model', '?')})")
        out.append(cls)
    return out, None


def _above(score: float, threshold: float, inclusive: bool = False) -> bool:
    """The references keep a detection when its score is > the threshold (HRS masks: >=)."""
    return score >= threshold if inclusive else score > threshold


def _dets(evidence: dict, cls: str, threshold: float, field_: str = "detect") -> list[dict]:
    """Detections of a class with score > threshold, most confident first."""
    ds = [d for d in evidence[field_]["detections"] if d["label"] == cls and _above(d["score"], threshold)]
    return sorted(ds, key=lambda d: -d["score"])


# -- T2I-CompBench -----------------------------------------------------------------------------------

def blip_vqa(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """The product of P(yes) over the prompt's noun phrases, as the reference rounds it: each P(yes) to 4
    decimals, the product in float32, the product to 4 decimals.

    The reference asks at most 8 phrases (a missing one counts 1); with reference_compat the 9th phrase
    on is ignored as there, otherwise every phrase counts. No phrase to ask: unscorable.
    """
    import numpy as np

    vqa = evidence.get("vqa")
    if vqa is None:
        return unscorable("no VQA evidence")
    answers: Sequence[dict[str, Any]] = vqa.get("questions", [])
    if not answers:
        return unscorable("no noun phrase to ask about")
    if reference_compat:
        answers = answers[:8]
    product = np.float32(1.0)
    for a in answers:
        product = np.float32(product * np.float32(float(f"{float(a['p_yes']):.4f}")))
    parts = ", ".join(f"{a['question']} {float(a['p_yes']):.4f}" for a in answers)
    return Verdict(float(f"{float(product):.4f}"), f"product of P(yes): {parts}")


SPATIAL_DIRECTIONS = {"on the left of", "on the right of", "on the top of", "on the bottom of", "on top of"}
SPATIAL_NEAR = {"next to", "near", "on side of"}
# T2I-CompBench's UniDet keeps boxes with score > 0.1 (a hard-coded threshold; spatial, numeracy, complex, 3D).
T2I_DETECTION_THRESHOLD = 0.1


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
    classes, bad = _classes(evidence, spec)
    if bad:
        return bad
    det = evidence["detect"]
    w, h = det["image_size"]
    s = _resize_scale(w, h)
    found = []
    for cls in classes[:2]:
        ds = _dets(evidence, cls, T2I_DETECTION_THRESHOLD)
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
    classes, bad = _classes(evidence, sub)
    if bad:
        return bad
    dets = merge_duplicates([d for d in evidence["detect"]["detections"]
                             if _above(d["score"], T2I_DETECTION_THRESHOLD)])
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


def clip_score(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    clip = evidence.get("clip")
    if clip is None:
        return unscorable("no CLIP evidence")
    return Verdict(float(clip["cosine"]), f"cosine(image, prompt) = {clip['cosine']:.4f}")


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


# -- HRS-Bench ---------------------------------------------------------------------------------------

HRS_THRESHOLD = 0.5   # boxes: score > 0.5; instance masks (colour): score >= 0.5


def _hrs_dets(evidence: dict, threshold: float = HRS_THRESHOLD, inclusive: bool = False) -> list[dict]:
    """Detections above the threshold; boxes with identical integer coordinates are merged, class-agnostic
    (the first label wins), as the reference does."""
    seen, out = set(), []
    for d in evidence["detect"]["detections"]:
        if not _above(d["score"], threshold, inclusive):
            continue
        key = tuple(int(v) for v in d["box"])
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    return out


def hrs_counting(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """TP/FP/FN per object class; the score of one image is its F1, the suite's is F1 per level (x100).

    A class named twice in one prompt ("3 potted plant and 2 potted plant") is one class whose counts add
    up (5); the reference keeps them in a dict and so keeps only the last count (reference_compat)."""
    classes, bad = _classes(evidence, spec)
    if bad:
        return bad
    dets = _hrs_dets(evidence)
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


def _hrs_box(evidence: dict, cls: str) -> Optional[list[float]]:
    ds = [d for d in _hrs_dets(evidence) if d["label"] == cls]
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
    classes, bad = _classes(evidence, spec)
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


HUE_BINS = ((15, "red"), (22, "orange"), (39, "yellow"), (78, "green"), (131, "blue"))


def hue_color(hue: float) -> str:
    """OpenCV hue (0-179) -> colour name, HRS-Bench's bins."""
    for upper, name in HUE_BINS:
        if hue < upper:
            return name
    return "red"


def hrs_color(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """An object is correct if any mask of its class has its colour (mean hue bin); score = share correct."""
    classes, bad = _classes(evidence, spec)
    if bad:
        return bad
    # a mask without any non-zero hue has no colour; the reference's NaN mean falls to 'red' (reference_compat)
    dets = [d for d in _hrs_dets(evidence, inclusive=True) if d.get("mean_hue") is not None or (reference_compat and "mean_hue" in d)]
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


# -- GenEval -------------------------------------------------------------------------------------------

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
    classes, bad = _classes(evidence, spec)
    if bad:
        return bad
    if not spec.objects and not spec.exclude:
        return unscorable("the spec names nothing to check")
    odd = [r.name for r in spec.relations if r.name not in ("left of", "right of", "above", "below")]
    if odd:
        return unscorable(f"{odd[0]!r} is not a GenEval position (left of, right of, above, below)")
    from eclipse_bench.prompts.spec import ObjectSpec

    ex_spec = Spec(objects=tuple(ObjectSpec(e.noun) for e in spec.exclude)) if spec.exclude else None
    ex_classes = []
    if ex_spec:
        ex_classes, bad = _classes(evidence, ex_spec)
        if bad:
            return bad
    threshold = GENEVAL_COUNTING_THRESHOLD if tag == "counting" else GENEVAL_THRESHOLD
    colors = evidence.get("color", {}).get("colors", {})  # detection id -> colour name

    def detected(cls: str) -> list[dict]:
        return _dets(evidence, cls, threshold)[:GENEVAL_MAX_PER_CLASS]

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


# -- which prompts a metric can judge (a metric that fits no prompt of a suite is a usage error) ---------------

_HRS_RELATIONS = {"left", "right", "above", "below", "between", "bigger", "smaller"}
FITS = {
    "blip-vqa": ("noun phrases to ask about", lambda spec, cat: bool(spec.phrases)),
    "clip-score": ("a prompt", lambda spec, cat: True),
    "t2i-spatial": ("a relation between two objects",
                    lambda spec, cat: spec.relation is not None and len(spec.objects) >= 2),
    "t2i-numeracy": ("counted objects (a numeracy or counting category)",
                     lambda spec, cat: cat in ("numeracy", "counting") and any(o.count is not None for o in spec.objects)),
    "three-in-one": ("a complex sub-category", lambda spec, cat: spec.subcategory in ("action", "spatial", "spatialaction")),
    "hrs-counting": ("counted objects (a counting or numeracy category)",
                     lambda spec, cat: cat in ("counting", "numeracy") and any(o.count is not None for o in spec.objects)),
    "hrs-spatial": ("HRS relations (left, right, above, below, between)",
                    lambda spec, cat: bool(spec.relations) and all(r.name in _HRS_RELATIONS for r in spec.relations)),
    "hrs-size": ("HRS size relations (bigger, smaller)",
                 lambda spec, cat: bool(spec.relations) and all(r.name in ("bigger", "smaller") for r in spec.relations)),
    "hrs-color": ("objects with a colour", lambda spec, cat: any(o.attributes for o in spec.objects)),
    "per-category": ("a T2I-CompBench category", lambda spec, cat: cat in CATEGORY_METRICS),
    "geneval": ("a GenEval tag", lambda spec, cat: (spec.subcategory or cat) in
                ("single_object", "two_object", "counting", "colors", "position", "color_attr")),
}


def metric_fits(metric: str, items) -> tuple[int, str]:
    """How many items the metric can judge, and what it needs."""
    need, ok = FITS.get(metric, ("", lambda spec, cat: True))
    return sum(1 for i in items if ok(i.spec, i.category)), need


# -- mixed-category suites: each prompt judged by its own category's metric ----------------------------------

CATEGORY_METRICS = {"color": "blip-vqa", "shape": "blip-vqa", "texture": "blip-vqa", "spatial": "t2i-spatial",
                    "non_spatial": "clip-score", "complex": "three-in-one", "numeracy": "t2i-numeracy"}
_CATEGORY_RULES = {"blip-vqa": blip_vqa, "t2i-spatial": t2i_spatial, "clip-score": clip_score,
                   "three-in-one": three_in_one, "t2i-numeracy": t2i_numeracy}


def per_category(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False,
                 category: Optional[str] = None) -> Verdict:
    """A user suite mixing T2I-CompBench categories: each prompt scored with its category's metric."""
    name = CATEGORY_METRICS.get(category or "")
    if name is None:
        return unscorable(f"category {category!r} has no T2I-CompBench metric; give each prompt one of "
                          f"{', '.join(CATEGORY_METRICS)}")
    v = _CATEGORY_RULES[name](evidence, spec, reference_compat)
    return Verdict(v.score, f"{name}: {v.reason}", {**v.details, "metric": name})
