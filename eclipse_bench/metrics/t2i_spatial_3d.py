"""T2I-CompBench++ 3D spatial: detection + depth (3D_spatial_eval.py).

Objects: the first and last noun of the spec; a detection matches an object when the object's class name is a
substring of its label, first in confidence order (UniDet: score > 0.1). With both found: 0.25*s1 + 0.25*s2 +
relation/2, where for 'in front of' IoU > 0.5 and d > 0 -> 1, 0 < IoU < 0.5 and d > 0 -> IoU/0.5, else 0
(d = mean depth in box 1 - in box 2, inverse depth: larger = nearer), and 'behind'/'hidden' the same with
d < 0; boxes that do not overlap score 0. One found: 0.25*s. No "below 0.5 -> 0" step here.
"""

from __future__ import annotations

from typing import Any, Optional

from eclipse_bench.metrics.base import Verdict, iou, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.metrics.t2i_spatial import T2I_DETECTION_THRESHOLD
from eclipse_bench.prompts.spec import Spec

RELATIONS_3D = ("in front of", "behind", "hidden")


def relation_3d_score(name: str, overlap: float, depth_diff: Optional[float]) -> tuple[float, str]:
    if depth_diff is None:
        return 0.0, "no depth inside a box (empty region)"
    nearer = depth_diff > 0 if name == "in front of" else depth_diff < 0
    if not nearer:
        return 0.0, f"depth difference {depth_diff:+.1f} has the wrong sign"
    if overlap > 0.5:
        return 1.0, f"IoU {overlap:.2f} > 0.5, depth difference {depth_diff:+.1f}"
    if 0 < overlap < 0.5:
        return overlap / 0.5, f"IoU {overlap:.2f} < 0.5: {overlap / 0.5:.2f}"
    return 0.0, f"IoU {overlap:.2f}: the boxes do not overlap as a 3-D relation needs"


def _first(dets: list[dict], cls: str) -> Optional[dict]:
    return next((d for d in dets if cls in d["label"]), None)


def t2i_3d_spatial(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    if spec.relation is None or spec.relation.name not in RELATIONS_3D or len(spec.objects) < 2:
        return unscorable("the spec has no 3-D relation (in front of, behind, hidden) between two objects")
    det, depth = evidence.get("detect"), evidence.get("depth")
    if det is None or depth is None:
        return unscorable("no detection or depth evidence")
    classes = [det.get("classes", {}).get(o.noun) for o in (spec.objects[0], spec.objects[-1])]
    if None in classes:
        missing = [o.noun for o, c in zip((spec.objects[0], spec.objects[-1]), classes) if c is None]
        return unscorable(f"object {missing[0]!r} is not in the detector's vocabulary ({det.get('model', '?')})")
    dets = sorted((d for d in det["detections"] if d["score"] > T2I_DETECTION_THRESHOLD), key=lambda d: -d["score"])
    a, b = _first(dets, classes[0]), _first(dets, classes[1])
    if a and b:
        means = depth.get("means", {})
        k = 1 if reference_compat else 0   # the reference indexes the depth map [x, y]
        ma, mb = (means.get(str(a["id"])) or [None, None])[k], (means.get(str(b["id"])) or [None, None])[k]
        diff = None if ma is None or mb is None else ma - mb
        rel, why = relation_3d_score(spec.relation.name, iou(a["box"], b["box"]), diff)
        score = 0.25 * a["score"] + 0.25 * b["score"] + rel / 2
        return Verdict(score, f"both found ({a['score']:.2f}, {b['score']:.2f}); {spec.relation.name}: {why}",
                       {"relation": rel})
    if a or b:
        one = a or b
        return Verdict(0.25 * one["score"], f"only {one['label']} found ({one['score']:.2f})")
    return Verdict(0.0, f"neither {classes[0]} nor {classes[1]} found")


register_metric(MetricDef(
    "t2i-3d-spatial", ("detect", "depth"), t2i_3d_spatial,
    help="T2I-CompBench++ 3-D spatial: detection + DPT-Hybrid depth (in front of, behind, hidden)",
    compat_note="the depth map indexed [x, y] as the reference does",
    reference_models="UniDet (unified, R50) + DPT-Hybrid MiDaS", equivalence="proxy",
    thresholds=(("detection", "score > 0.1 (T2I-CompBench's UniDet, hard-coded)"), ("3-D IoU", "0.5")),
    display_threshold=0.1,
    fits=("a 3-D relation (in front of, behind, hidden)",
          lambda spec, cat: spec.relation is not None and spec.relation.name in RELATIONS_3D)))
