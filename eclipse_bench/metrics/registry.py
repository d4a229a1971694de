"""Registries of evidence providers and metrics. Each provider and each metric registers itself in its own
module of eclipse_bench.metrics (discovered when a registry is first read); nothing else names them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.registry import Registry, import_string
from eclipse_bench.metrics.aggregate import AGGREGATES


def _reads_nothing(item: Any) -> dict:
    return {}


@dataclass(frozen=True)
class ProviderVariant:
    """Another implementation of a provider's evidence, chosen by its option (--detector mask2former): its class, its
    real and tiny checkpoints, and how its evidence relates to the benchmark's ("reference-family": the benchmark's
    architecture with other weights)."""
    cls: str
    real_model: str
    tiny_model: str
    equivalence: str = ""
    reference_models: str = ""
    help: str = ""


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
    # the run option that picks this provider's model (--judge ID, --detector NAME), its named variants, the name of
    # the default implementation, and whether any checkpoint id is accepted (of the default class)
    option: str = ""
    option_help: str = ""         # the option's help text (the CLI flag and --config key derive from it)
    variants: dict = field(default_factory=dict)
    default_variant: str = ""
    any_model: bool = False
    # the class that asks a served model (an option value "served:MODEL@URL#...", made by --judge-endpoint)
    served_cls: str = ""

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

    def pick(self, scorers: str, choice: Optional[str] = None) -> tuple[str, str, Optional[str]]:
        """(class, model id, variant name or None) for the scorers and the option's value (`choice`: a variant's
        name, or any checkpoint id where the provider takes one; None: the default)."""
        if not choice or choice == self.default_variant:
            return self.cls, (self.tiny_model if scorers == "tiny" else self.real_model), None
        if self.served_cls and choice.startswith("served:"):
            return self.served_cls, choice, "served"
        if choice in self.variants:
            v = self.variants[choice]
            return v.cls, (v.tiny_model if scorers == "tiny" else v.real_model), choice
        if self.any_model:
            return self.cls, choice, None
        names = [self.default_variant, *self.variants] if self.default_variant else list(self.variants)
        raise UserError(f"--{self.option} {choice!r}: use one of {', '.join(names)}")

    def option_choices(self) -> tuple:
        """The values the option takes: its named variants (the default first); () when any checkpoint id is taken."""
        if self.any_model:
            return ()
        return tuple([self.default_variant] if self.default_variant else []) + tuple(self.variants)

    def model(self, scorers: str, choice: Optional[str] = None) -> str:
        return self.pick(scorers, choice)[1]

    def load(self, scorers: str = "real", device: str = "cpu", batch_size: int = 64, revision: Optional[str] = None,
             choice: Optional[str] = None):
        """The provider's model; `revision` pins a hub checkpoint to the commit its evidence keys name."""
        cls, model, _ = self.pick(scorers, choice)
        kw = {"revision": revision} if revision else {}
        return import_string(cls)(model, device=device, batch_size=batch_size, **kw)

    def checkpoints(self, scorers: str, choice: Optional[str] = None) -> list:
        """The checkpoints this provider loads (eclipse_bench.bench.core.keys.Checkpoint), known without loading them."""
        cls, model, _ = self.pick(scorers, choice)
        return list(import_string(cls).checkpoints(model))

    def identity(self, scorers: str, identities: Any, choice: Optional[str] = None) -> Optional[dict]:
        """The provider's model, each checkpoint's identity and every setting that changes its output, without
        loading the model; None while a checkpoint's identity is unresolved (not downloaded yet)."""
        cls, model, variant = self.pick(scorers, choice)
        fps = {c.id: identities(c.id, c.kind) for c in self.checkpoints(scorers, choice)}
        if any(v is None for v in fps.values()):
            return None
        impl = import_string(cls)
        key_model = impl.key_model(model) if hasattr(impl, "key_model") else model   # a served model: not its URL
        ident = {"provider": self.name, "model": key_model, "checkpoints": fps, **impl.settings_for(model)}
        if variant:   # only for a variant: the default's keys stay as they were
            ident["implementation"] = variant
        return ident


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
    score_range: tuple = (0.0, 1.0)  # what the rule gives one image (a cosine can be negative); aggregates scale it
    takes_category: bool = False                 # the rule also takes the item's category (mixed suites)
    # what a prompt needs for this metric to judge it: (description, predicate(spec, category))
    fits: tuple = ("a prompt", lambda spec, category: True)

    # "module:function" (label, choices, items) -> label: how the evidence relates to the benchmark's when it depends on
    # the option chosen (--detector, --judge) or on the prompts (a benchmark's own questions or generated ones)
    label_for: Any = None
    # "module:function" (scored rows) -> {title: {group: value}}: the benchmark's own analysis tables (GenEval 2's per
    # skill and per atom count), written to results.json and shown in the report
    breakdown: Any = None

    def label(self, choices: Optional[dict] = None, items: Optional[list] = None) -> dict:
        """equivalence, reference_models and thresholds of this metric's evidence, for the options chosen and the
        prompts scored."""
        out = {"equivalence": self.equivalence, "reference_models": self.reference_models,
               "thresholds": dict(self.thresholds)}
        if self.label_for is not None:
            fn = import_string(self.label_for) if isinstance(self.label_for, str) else self.label_for
            out = fn(out, choices or {}, list(items or ()))
        return out

    def breakdown_fn(self):
        if self.breakdown is None:
            return None
        return import_string(self.breakdown) if isinstance(self.breakdown, str) else self.breakdown

    def rule_fn(self):
        return import_string(self.rule) if isinstance(self.rule, str) else self.rule

    def aggregator(self):
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


def choices_from(settings: Optional[dict], metric: Optional["MetricDef"] = None) -> dict:
    """provider -> the value of the option that picks its model (--judge, --detector), from run options or a
    manifest's settings; only the providers of `metric` when given, only options that are set."""
    settings = settings or {}
    names = metric.providers if metric is not None else PROVIDERS.names()
    out = {}
    for p in names:
        pdef = PROVIDERS.get(p)
        if pdef.option and settings.get(pdef.option):
            out[p] = str(settings[pdef.option])
    return out


def check_choices(settings: Optional[dict], metric: "MetricDef") -> None:
    """An option that picks a provider's model (--judge, --detector) given to a metric without that provider is an
    error, never silently ignored."""
    settings = settings or {}
    for p in PROVIDERS.names():
        pdef = PROVIDERS.get(p)
        if pdef.option and settings.get(pdef.option) and p not in metric.providers:
            users = [m for m in METRICS.names() if p in METRICS.get(m).providers]
            raise UserError(f"--{pdef.option} {settings[pdef.option]}: metric {metric.name} does not use the {p} "
                            f"evidence it picks; it applies to {', '.join(users)}")


def metric_fits(metric: str, items) -> tuple[int, str]:
    """How many items the metric can judge, and what it needs."""
    need, ok = METRICS.get(metric).fits
    return sum(1 for i in items if ok(i.spec, i.category)), need


def provider_option(option: str) -> ProviderDef:
    """The provider whose model the run option `option` (judge, detector) picks."""
    for name in PROVIDERS.names():
        pdef = PROVIDERS.get(name)
        if pdef.option == option:
            return pdef
    raise KeyError(f"no evidence provider declares the option {option!r}")


def provider_options() -> list[str]:
    """Every run option an evidence provider declares (judge, detector)."""
    return sorted(PROVIDERS.get(n).option for n in PROVIDERS.names() if PROVIDERS.get(n).option)


def check_scores(results: Any, samples: list, results_path: Any, samples_path: Any) -> None:
    """Every score a run holds is a number on its metric's scale: each sample's within the rule's range, the
    aggregates (score, CI, per-group values) within the aggregate's; anything else is an error naming file:line."""
    if results.metric not in METRICS:
        return
    metric = METRICS.get(results.metric)
    lo, hi = metric.score_range
    for lineno, s in enumerate(samples, 1):
        if s.score is not None and not lo <= s.score <= hi:
            raise UserError(f"{samples_path}:{lineno}: score {s.score!r} is outside metric {metric.name}'s range "
                            f"[{lo:g}, {hi:g}]: the file was edited or damaged; rebuild it from the evidence with "
                            f"`eclipse-bench rescore {Path(str(results_path)).parent}`")
    k = 100.0 if metric.aggregator().scale == "0-100" else 1.0
    values = {"score": results.score, "ci95": results.ci95, "pooled": results.pooled, "by_level": results.by_level,
              "by_category": results.by_category}
    for field_name, value in values.items():
        for v in (value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]):
            if v is not None and not (isinstance(v, (int, float)) and lo * k - 1e-9 <= v <= hi * k + 1e-9):
                raise UserError(f"{results_path}: {field_name} {v!r} is outside metric {metric.name}'s range "
                                f"[{lo * k:g}, {hi * k:g}]: the file was edited or damaged; rebuild it from the "
                                f"evidence with `eclipse-bench rescore {Path(str(results_path)).parent}`")
