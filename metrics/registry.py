"""The metric registry: name -> evidence provider + rule, both lazy ("module:attr")."""

from __future__ import annotations

from dataclasses import dataclass

from eclipse_bench.registry import Registry, import_string


@dataclass(frozen=True)
class MetricDef:
    name: str
    provider: str        # "module:Class" of the evidence provider
    real_model: str      # hub id of the real scorer model
    tiny_model: str      # its offline twin
    rule: str            # "module:function" (evidence, spec, reference_compat) -> (score, reason)
    version: str = "1"   # bump when the rule's meaning changes: runs of different versions don't compare
    help: str = ""

    def load_provider(self, scorers: str = "real", device: str = "cpu", batch_size: int = 64):
        cls = import_string(self.provider)
        model = self.tiny_model if scorers == "tiny" else self.real_model
        return cls(model, device=device, batch_size=batch_size)

    def rule_fn(self):
        return import_string(self.rule)


METRICS: Registry[MetricDef] = Registry("metric")
METRICS.register("blip-vqa", MetricDef(
    "blip-vqa", "eclipse_bench.metrics.vqa:BlipVqa", "Salesforce/blip-vqa-capfilt-large", "tiny:blip-vqa",
    "eclipse_bench.metrics.rules:blip_vqa",
    help="T2I-CompBench attribute binding: product over noun phrases of BLIP P(yes)/(P(yes)+P(no))"),
    help="T2I-CompBench attribute binding (BLIP VQA)")
