"""T2I-CompBench attribute binding (color, shape, texture): BLIP-VQA, product of P(yes) over noun phrases."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.registry import MetricDef, register_metric
from eclipse_bench.prompts.spec import Spec


def blip_vqa(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> Verdict:
    """The product of P(yes) over the prompt's noun phrases, as the reference rounds it: each P(yes) to 4
    decimals, the product in float32, the product to 4 decimals.

    The reference asks at most 8 phrases (a missing one counts 1); with reference_compat the 9th phrase
    on is ignored as there, otherwise every phrase counts. No phrase to ask: unscorable.
    """
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


register_metric(MetricDef(
    "blip-vqa", ("vqa",), blip_vqa, help="T2I-CompBench attribute binding: product of BLIP P(yes) over noun phrases",
    compat_note="asks at most 8 phrases", reference_models="BLIP ViT-B VQA capfilt-large at 480 px",
    equivalence="reference", thresholds=(("rounding", "each P(yes) and the product to 4 decimals"),),
    fits=("noun phrases to ask about", lambda spec, cat: bool(spec.phrases))))
