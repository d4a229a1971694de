"""Registries of evidence providers and metrics; both lazy ("module:attr"), nothing heavy is imported to list them."""

from __future__ import annotations

from dataclasses import dataclass

from eclipse_bench.registry import Registry, import_string


@dataclass(frozen=True)
class ProviderDef:
    name: str
    cls: str             # "module:Class", constructed with (model_id, device=..., batch_size=...)
    real_model: str
    tiny_model: str
    help: str = ""

    def model(self, scorers: str) -> str:
        return self.tiny_model if scorers == "tiny" else self.real_model

    def load(self, scorers: str = "real", device: str = "cpu", batch_size: int = 64):
        return import_string(self.cls)(self.model(scorers), device=device, batch_size=batch_size)


@dataclass(frozen=True)
class MetricDef:
    name: str
    providers: tuple[str, ...]   # evidence needed, in order (a later provider sees the earlier ones' records)
    rule: str                    # "module:function" (evidence, spec, reference_compat) -> Verdict
    aggregate: str = "mean"      # eclipse_bench.metrics.aggregate.AGGREGATES key
    version: str = "1"           # bump when the rule's meaning changes: runs of different versions don't compare
    help: str = ""
    compat_note: str = ""        # what --reference-compat changes

    def rule_fn(self):
        return import_string(self.rule)

    def aggregator(self):
        from eclipse_bench.metrics.aggregate import AGGREGATES

        return AGGREGATES[self.aggregate]


PROVIDERS: Registry[ProviderDef] = Registry("evidence provider")
for _p in (
    ProviderDef("vqa", "eclipse_bench.metrics.vqa:BlipVqa", "Salesforce/blip-vqa-capfilt-large", "tiny:blip-vqa",
                "BLIP VQA P(yes) per noun phrase"),
    ProviderDef("detect", "eclipse_bench.metrics.detect:Detector", "yolo11x-seg.pt|yolov8x-worldv2.pt",
                "tiny:yolo-seg|tiny:yolo-world",
                "YOLO boxes, classes, confidences, mask hues; YOLO-World for nouns outside COCO"),
    ProviderDef("clip", "eclipse_bench.metrics.clip:ClipScorer", "ViT-B-32/openai", "tiny:clip",
                "open_clip image-prompt cosine"),
    ProviderDef("color", "eclipse_bench.metrics.clip:ColorClassifier", "ViT-L-14/openai", "tiny:clip",
                "open_clip zero-shot colour of detected objects (GenEval)"),
):
    PROVIDERS.register(_p.name, _p, help=_p.help)

METRICS: Registry[MetricDef] = Registry("metric")
_R = "eclipse_bench.metrics.rules:"
for _m in (
    MetricDef("blip-vqa", ("vqa",), _R + "blip_vqa", help="T2I-CompBench attribute binding: product of BLIP P(yes) "
              "over noun phrases", compat_note="asks at most 8 phrases"),
    MetricDef("t2i-spatial", ("detect",), _R + "t2i_spatial", help="T2I-CompBench 2-D spatial (detection geometry)",
              compat_note="'on top of' scores 0 as in the reference"),
    MetricDef("t2i-numeracy", ("detect",), _R + "t2i_numeracy", help="T2I-CompBench++ numeracy (detection counts)"),
    MetricDef("clip-score", ("clip",), _R + "clip_score", help="T2I-CompBench non-spatial: raw CLIP cosine"),
    MetricDef("three-in-one", ("vqa", "detect", "clip"), _R + "three_in_one",
              help="T2I-CompBench complex: BLIP-VQA with spatial and/or CLIPScore by sub-category",
              compat_note="'on top of' scores 0 in the spatial part"),
    MetricDef("hrs-counting", ("detect",), _R + "hrs_counting", "micro F1 x100",
              help="HRS-Bench counting: micro precision/recall/F1 per level (x100)"),
    MetricDef("hrs-spatial", ("detect",), _R + "hrs_relations", "accuracy x100",
              help="HRS-Bench spatial: every object found and every relation holds (accuracy x100)",
              compat_note="hard prompts unscorable, as the reference crashes on them"),
    MetricDef("hrs-size", ("detect",), _R + "hrs_relations", "accuracy x100",
              help="HRS-Bench size: box areas bigger/smaller (accuracy x100)",
              compat_note="hard prompts unscorable, as the reference crashes on them"),
    MetricDef("hrs-color", ("detect",), _R + "hrs_color", "object accuracy x100",
              help="HRS-Bench color: mask hue bins per object (accuracy x100)"),
    MetricDef("geneval", ("detect", "color"), _R + "geneval", "mean of tag means",
              help="GenEval: counts, colours, positions, exclusions; overall = mean of the tag means"),
):
    METRICS.register(_m.name, _m, help=_m.help)
