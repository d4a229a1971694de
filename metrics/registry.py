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

    needs: tuple[str, ...] = ()   # providers whose evidence this one builds on (their keys enter its key)

    def load(self, scorers: str = "real", device: str = "cpu", batch_size: int = 64):
        return import_string(self.cls)(self.model(scorers), device=device, batch_size=batch_size)

    def identity(self, scorers: str) -> dict:
        """The provider's model and every setting that changes its output, without loading the model."""
        model = self.model(scorers)
        cls = import_string(self.cls)
        return {"provider": self.name, "model": model, **cls.settings_for(model)}


@dataclass(frozen=True)
class MetricDef:
    name: str
    providers: tuple[str, ...]   # evidence needed, in order (a later provider sees the earlier ones' records)
    rule: str                    # "module:function" (evidence, spec, reference_compat) -> Verdict
    aggregate: str = "mean"      # eclipse_bench.metrics.aggregate.AGGREGATES key
    version: str = "2"           # bump when the rule's meaning changes: runs of different versions don't compare
    help: str = ""
    compat_note: str = ""        # what --reference-compat changes
    # "module:function" (prompt_id, n) -> (prompt_id, n) | reason: under --reference-compat, the image whose
    # evidence the reference scripts actually score for a sample (HRS's level offset)
    compat_source: str = ""
    # Honest labels: the evidence models the benchmark itself uses, whether ours are the same family with the
    # same rule ("reference") or a stand-in ("proxy"), and the decision thresholds the rule applies.
    reference_models: str = ""
    equivalence: str = "reference"
    thresholds: tuple[tuple[str, str], ...] = ()
    display_threshold: float = 0.3   # detections drawn in the drill-down: those the rule can keep

    def label(self) -> dict:
        return {"equivalence": self.equivalence, "reference_models": self.reference_models,
                "thresholds": dict(self.thresholds)}

    def rule_fn(self):
        return import_string(self.rule)

    @property
    def needs_category(self) -> bool:
        """The rule also takes the item's category (per-category scoring of mixed suites)."""
        return self.rule.endswith(":per_category")

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
                "open_clip zero-shot colour of detected objects (GenEval)", needs=("detect",)),
):
    PROVIDERS.register(_p.name, _p, help=_p.help)

METRICS: Registry[MetricDef] = Registry("metric")
_R = "eclipse_bench.metrics.rules:"
_T2I_DET = (("detection", "score > 0.1 (T2I-CompBench's UniDet, hard-coded)"),)
_HRS_DET = (("detection", "score > 0.5"), ("identical integer boxes", "merged, first label wins"))
_HRS = "eclipse_bench.prompts.suites.hrs:reference_image"
for _m in (
    MetricDef("blip-vqa", ("vqa",), _R + "blip_vqa", help="T2I-CompBench attribute binding: product of BLIP P(yes) "
              "over noun phrases", compat_note="asks at most 8 phrases",
              reference_models="BLIP ViT-B VQA capfilt-large at 480 px", equivalence="reference",
              thresholds=(("rounding", "each P(yes) and the product to 4 decimals"),)),
    MetricDef("t2i-spatial", ("detect",), _R + "t2i_spatial", help="T2I-CompBench 2-D spatial (detection geometry)",
              compat_note="'on top of' scores 0 as in the reference", reference_models="UniDet (unified, R50)",
              equivalence="proxy", thresholds=_T2I_DET + (("image score", "< 0.5 -> 0"),), display_threshold=0.1),
    MetricDef("t2i-numeracy", ("detect",), _R + "t2i_numeracy", help="T2I-CompBench++ numeracy (detection counts)",
              compat_note="a detected class containing the object's name counts as it ('hot dog' -> dog)",
              reference_models="UniDet (unified, R50)", equivalence="proxy",
              thresholds=_T2I_DET + (("duplicates", "IoU or containment > 0.9, +1 px"),), display_threshold=0.1),
    MetricDef("clip-score", ("clip",), _R + "clip_score", help="T2I-CompBench non-spatial: raw CLIP cosine",
              reference_models="OpenAI CLIP ViT-B/32", equivalence="reference"),
    MetricDef("three-in-one", ("vqa", "detect", "clip"), _R + "three_in_one",
              help="T2I-CompBench complex: BLIP-VQA with spatial and/or CLIPScore by sub-category",
              compat_note="'on top of' scores 0 in the spatial part",
              reference_models="BLIP VQA + UniDet + OpenAI CLIP ViT-B/32", equivalence="proxy",
              thresholds=_T2I_DET, display_threshold=0.1),
    MetricDef("hrs-counting", ("detect",), _R + "hrs_counting", "micro F1 x100, mean over levels",
              help="HRS-Bench counting: micro precision/recall/F1 per level (x100)",
              compat_note="medium/hard read other prompts' images (level offset); a class named twice keeps "
                          "the last count", compat_source=_HRS, reference_models="UniDet", equivalence="proxy",
              thresholds=_HRS_DET, display_threshold=0.5),
    MetricDef("hrs-spatial", ("detect",), _R + "hrs_relations", "accuracy x100, mean over levels",
              help="HRS-Bench spatial: every object found and every relation holds (accuracy x100)",
              compat_note="level offset; hard prompts unscorable, as the reference crashes on them",
              compat_source=_HRS, reference_models="UniDet", equivalence="proxy", thresholds=_HRS_DET,
              display_threshold=0.5),
    MetricDef("hrs-size", ("detect",), _R + "hrs_relations", "accuracy x100, mean over levels",
              help="HRS-Bench size: box areas bigger/smaller (accuracy x100)", compat_note="level offset",
              compat_source=_HRS, reference_models="UniDet", equivalence="proxy", thresholds=_HRS_DET,
              display_threshold=0.5),
    MetricDef("hrs-color", ("detect",), _R + "hrs_color", "object accuracy x100, mean over levels",
              help="HRS-Bench color: mask hue bins per object (accuracy x100)",
              compat_note="image 00 only; a mask without hue counts as red", compat_source=_HRS,
              reference_models="MaskDINO instance masks", equivalence="proxy",
              thresholds=(("masks", "score >= 0.5"),), display_threshold=0.5),
    MetricDef("geneval", ("detect", "color"), _R + "geneval", "mean of tag means",
              help="GenEval: counts, colours, positions, exclusions; overall = mean of the tag means",
              reference_models="Mask2Former Swin-S (mmdet) + OpenAI CLIP ViT-L/14", equivalence="proxy",
              thresholds=(("detection", "score > 0.3; counting tag > 0.9"), ("per class", "at most 16"))),
    MetricDef("per-category", ("vqa", "detect", "clip"), _R + "per_category", "mean of category means",
              help="user suites mixing T2I-CompBench categories: each prompt by its category's metric; overall = "
                   "mean of the category means", reference_models="BLIP VQA + UniDet + OpenAI CLIP ViT-B/32",
              equivalence="proxy", thresholds=_T2I_DET, display_threshold=0.1),
):
    METRICS.register(_m.name, _m, help=_m.help)
