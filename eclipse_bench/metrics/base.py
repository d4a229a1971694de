"""What every rule shares: the verdict type and the geometry and detection helpers (pure functions), and the record
shapes the detector providers share (detections per image, instance masks as run lengths).

A rule is a pure function (evidence, spec, reference_compat) -> Verdict, with no models, cheap to re-run on
stored evidence. `evidence` maps provider names ("vqa", "detect", "clip", "color", "depth") to that
provider's record for one image. Each metric lives in its own module beside this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from eclipse_bench.metrics.vocab import to_class
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


def object_classes(evidence: dict, spec: Spec, field_: str = "detect") -> tuple[Optional[list[str]], Optional[Verdict]]:
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


def above_threshold(score: float, threshold: float, inclusive: bool = False) -> bool:
    """The references keep a detection when its score is > the threshold (HRS masks: >=)."""
    return score >= threshold if inclusive else score > threshold


def detections_of(evidence: dict, cls: str, threshold: float, field_: str = "detect") -> list[dict]:
    """Detections of a class with score > threshold, most confident first."""
    ds = [d for d in evidence[field_]["detections"] if d["label"] == cls and above_threshold(d["score"], threshold)]
    return sorted(ds, key=lambda d: -d["score"])


# -- HRS-Bench detections ------------------------------------------------------------------------------

HRS_THRESHOLD = 0.5   # boxes: score > 0.5; instance masks (colour): score >= 0.5


def hrs_detections(evidence: dict, threshold: float = HRS_THRESHOLD, inclusive: bool = False) -> list[dict]:
    """Detections above the threshold; boxes with identical integer coordinates are merged, class-agnostic
    (the first label wins), as the reference does."""
    seen, out = set(), []
    for d in evidence["detect"]["detections"]:
        if not above_threshold(d["score"], threshold, inclusive):
            continue
        key = tuple(int(v) for v in d["box"])
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    return out


# -- evidence shapes shared by the detector providers -------------------------------------------------------

def detection_records(model_id: str, vocabulary: tuple[str, ...], images: Sequence[Any], items: Sequence[Any],
                      detections: Sequence[list]) -> list[dict]:
    """The detect provider's records: per image its detections and the detector class of each noun of the spec
    (objects, then exclusions), whichever detector made them."""
    records = []
    for im, item, d in zip(images, items, detections):
        nouns = [o.noun for o in item.spec.objects] + [e.noun for e in item.spec.exclude]
        records.append({"model": model_id, "image_size": list(im.size),
                        "classes": {n: to_class(n, vocabulary) for n in nouns}, "detections": d})
    return records


def rle(mask: np.ndarray) -> dict:
    """A binary mask as run lengths over its rows (zeros first): {"size": [h, w], "counts": [...]}."""
    flat = mask.astype(np.uint8).ravel()
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    counts = runs.tolist() if flat[0] == 0 else [0] + runs.tolist()
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def unrle(code: dict) -> np.ndarray:
    h, w = code["size"]
    values = np.zeros(len(code["counts"]), dtype=np.uint8)
    values[1::2] = 1
    return np.repeat(values, code["counts"]).reshape(h, w).astype(bool)
