"""User suites that mix T2I-CompBench categories: each prompt scored with its category's metric."""

from __future__ import annotations

from typing import Any, Optional

from eclipse_bench.metrics.base import Verdict, unscorable
from eclipse_bench.metrics.registry import METRICS, MetricDef, register_metric
from eclipse_bench.prompts.registry import SUITE_FAMILIES
from eclipse_bench.prompts.spec import Spec


def category_metric(category: Optional[str]) -> Optional[str]:
    """The metric T2I-CompBench scores a category with, from its suite family's own table."""
    return SUITE_FAMILIES.get("t2i-compbench").category_metrics.get(category or "")


def per_category(evidence: dict[str, Any], spec: Spec, reference_compat: bool = False,
                 category: Optional[str] = None) -> Verdict:
    """A user suite mixing T2I-CompBench categories: each prompt scored with its category's metric."""
    name = category_metric(category)
    if name is None:
        return unscorable(f"category {category!r} has no T2I-CompBench metric; give each prompt one of "
                          f"{', '.join(SUITE_FAMILIES.get('t2i-compbench').category_metrics)}")
    v = METRICS.get(name).rule_fn()(evidence, spec, reference_compat)
    return Verdict(v.score, f"{name}: {v.reason}", {**v.details, "metric": name})


register_metric(MetricDef(
    "per-category", ("vqa", "detect", "clip"), per_category, "mean of category means",
    help="user suites mixing T2I-CompBench categories: each prompt by its category's metric; overall = mean of "
         "the category means", reference_models="BLIP VQA + UniDet + OpenAI CLIP ViT-B/32", equivalence="proxy",
    thresholds=(("detection", "score > 0.1 (T2I-CompBench's UniDet, hard-coded)"),), display_threshold=0.1,
    takes_category=True, fits=("a T2I-CompBench category", lambda spec, cat: category_metric(cat) is not None)))
