"""Rules: pure functions of (evidence, spec) -> (score, reason). No models, cheap to re-run.

Facts of each rule are in shared/reference/metrics.md (T2I-CompBench, HRS-Bench, GenEval).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from eclipse_bench.prompts.spec import Spec


def yes_probability(logit_yes: float, logit_no: float) -> float:
    """P(yes) renormalised over {yes, no}: p(yes) / (p(yes) + p(no)) of a softmax over the vocabulary."""
    m = max(logit_yes, logit_no)
    ey, en = math.exp(logit_yes - m), math.exp(logit_no - m)
    return ey / (ey + en)


def blip_vqa(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False) -> tuple[float, str]:
    """T2I-CompBench BLIP-VQA: the product of P(yes) over the prompt's noun phrases, rounded to 4 decimals.

    The reference asks at most 8 phrases (a missing one counts 1); with reference_compat the 9th phrase
    on is ignored as there, otherwise every phrase counts.
    """
    answers: Sequence[dict[str, Any]] = evidence.get("questions", [])
    if reference_compat:
        answers = answers[:8]
    score = 1.0
    for a in answers:
        score *= float(a["p_yes"])
    parts = ", ".join(f"{a['question']} {float(a['p_yes']):.3f}" for a in answers) or "no phrase to ask"
    return round(score, 4), f"product of P(yes): {parts}"
