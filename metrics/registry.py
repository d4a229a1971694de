"""Registries of evidence providers and metrics. Each provider and each metric registers itself in its own
module of eclipse_bench.metrics (discovered when a registry is first read); nothing else names them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from eclipse_bench.bench.core.registry import Registry, import_string


def _reads_nothing(item: Any) -> dict:
    return {}


@dataclass(frozen=True)
class ProviderDef:
    name: str
    cls: str             # "module:Class", constructed with (model_id, device=..., batch_size=...)
    real_model: str
    tiny_model: str
    help: str = ""
    needs: tuple[str, ...] = ()   # providers whose evidence this one builds on (their keys enter its key)
    view: Any = None              # (record, metric) -> dict: what the drill-down shows of its evidence
    # item -> the fields of the prompt and its spec this provider reads: exactly those enter its evidence keys, so an
    # edited spec recomputes the evidence that read it and nothing else
    reads: Callable[[Any], dict] = _reads_nothing
    # (key, type) every record of this provider holds: a stored record without them is damage, never "no answer"
    record_fields: tuple = ()

    def check_record(self, evidence: Any) -> Optional[str]:
        """Why a stored evidence record is not one of this provider's, or None."""
        if not isinstance(evidence, dict):
            return "the evidence is not an object"
        for key, kind in self.record_fields:
            if key not in evidence:
                return f"it lacks {key!r}"
            if not isinstance(evidence[key], kind) or isinstance(evidence[key], bool) and kind is not bool:
                return f"its {key!r} is not {getattr(kind, '__name__', kind)}"
        return None

    def model(self, scorers: str) -> str:
        return self.tiny_model if scorers == "tiny" else self.real_model

    def load(self, scorers: str = "real", device: str = "cpu", batch_size: int = 64, revision: Optional[str] = None):
        """The provider's model; `revision` pins a hub checkpoint to the commit its evidence keys name."""
        kw = {"revision": revision} if revision else {}
        return import_string(self.cls)(self.model(scorers), device=device, batch_size=batch_size, **kw)

    def checkpoints(self, scorers: str) -> list:
        """The checkpoints this provider loads (eclipse_bench.bench.core.keys.Checkpoint), known without loading them."""
        return list(import_string(self.cls).checkpoints(self.model(scorers)))

    def identity(self, scorers: str, identities: Any) -> Optional[dict]:
        """The provider's model, each checkpoint's identity and every setting that changes its output, without
        loading the model; None while a checkpoint's identity is unresolved (not downloaded yet)."""
        model = self.model(scorers)
        fps = {c.id: identities(c.id, c.kind) for c in self.checkpoints(scorers)}
        if any(v is None for v in fps.values()):
            return None
        return {"provider": self.name, "model": model, "checkpoints": fps,
                **import_string(self.cls).settings_for(model)}


@dataclass(frozen=True)
class MetricDef:
    name: str
    providers: tuple[str, ...]   # evidence needed, in order (a later provider sees the earlier ones' records)
    rule: Any                    # (evidence, spec, reference_compat) -> Verdict, or a "module:function" string
    aggregate: str = "mean"      # eclipse_bench.metrics.aggregate.AGGREGATES key
    version: str = "2"           # bump when the rule's meaning changes: runs of different versions don't compare
    help: str = ""
    compat_note: str = ""        # what --reference-compat changes
    # under --reference-compat, score the image the suite's own reference scripts score for a sample (the suite
    # names that mapping: HRS-Bench's level offset and image 00); metrics of other benchmarks ignore it
    follows_reference_images: bool = False
    # Honest labels: the evidence models the benchmark itself uses, whether ours are the same family with the
    # same rule ("reference") or a stand-in ("proxy"), and the decision thresholds the rule applies.
    reference_models: str = ""
    equivalence: str = "reference"
    thresholds: tuple[tuple[str, str], ...] = ()
    display_threshold: float = 0.3   # detections drawn in the drill-down: those the rule can keep
    takes_category: bool = False                 # the rule also takes the item's category (mixed suites)
    # what a prompt needs for this metric to judge it: (description, predicate(spec, category))
    fits: tuple = ("a prompt", lambda spec, category: True)

    def label(self) -> dict:
        return {"equivalence": self.equivalence, "reference_models": self.reference_models,
                "thresholds": dict(self.thresholds)}

    def rule_fn(self):
        return import_string(self.rule) if isinstance(self.rule, str) else self.rule

    def aggregator(self):
        from eclipse_bench.metrics.aggregate import AGGREGATES

        return AGGREGATES[self.aggregate]


# Providers and metrics register themselves in their own modules (eclipse_bench.metrics.*), found lazily.
PROVIDERS: Registry[ProviderDef] = Registry("evidence provider", packages=("eclipse_bench.metrics",))
METRICS: Registry[MetricDef] = Registry("metric", packages=("eclipse_bench.metrics",))


def register_provider(p: ProviderDef) -> ProviderDef:
    PROVIDERS.register(p.name, p, help=p.help)
    return p


def register_metric(m: MetricDef) -> MetricDef:
    METRICS.register(m.name, m, help=m.help)
    return m


def metric_fits(metric: str, items) -> tuple[int, str]:
    """How many items the metric can judge, and what it needs."""
    need, ok = METRICS.get(metric).fits
    return sum(1 for i in items if ok(i.spec, i.category)), need
