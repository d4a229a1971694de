"""CLIP evidence with open_clip: CLIPScore (raw cosine) and zero-shot colour classification for GenEval."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.tiny import register_tiny, resolve
from eclipse_bench.metrics.base import unrle
from eclipse_bench.metrics.geneval import GENEVAL_MAX_PER_CLASS, GENEVAL_THRESHOLD
from eclipse_bench.metrics.registry import ProviderDef, register_provider
from eclipse_bench.prompts.extract import remove_adjectives

REAL_CLIPSCORE = "ViT-B-32/openai"      # T2I-CompBench non-spatial: OpenAI CLIP ViT-B/32
REAL_COLOR_CLIP = "ViT-L-14/openai"     # GenEval colour classification
GENEVAL_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
COLOR_TEMPLATES = ("a photo of a {c} {obj}", "a photo of a {c}-colored {obj}", "a photo of a {c} object")


def model_kwargs(name: str, pretrained: str | None) -> dict:
    """OpenAI's CLIP weights were trained with QuickGELU; open_clip's plain 'ViT-B-32' config uses GELU and only
    warns on the mismatch, which changes every embedding. Force QuickGELU where the pretrained tag says so."""
    if not pretrained:
        return {}
    import open_clip  # lazy: open_clip

    cfg = open_clip.get_pretrained_cfg(name, pretrained) or {}
    return {"force_quick_gelu": True} if cfg.get("quick_gelu") else {}


class OpenClip:
    def __init__(self, model_id: str = REAL_CLIPSCORE, device: str = "cpu", batch_size: int = 32):
        import open_clip  # lazy: open_clip
        import torch  # lazy: torch

        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        if model_id.startswith("tiny:"):
            name, pretrained = "local-dir:" + resolve(model_id), None
        else:
            name, _, pretrained = model_id.partition("/")
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained or None, device=device, **model_kwargs(name, pretrained))
        except (RuntimeError, OSError, ValueError) as exc:
            raise UserError(f"cannot load CLIP {model_id}: {str(exc).splitlines()[0]}; pre-download its weights on "
                            f"a connected machine (open_clip caches them in the Hugging Face cache)") from None
        self.tokenizer = open_clip.get_tokenizer(name)
        self.model.eval()
        self.calls = 0
        self._torch = torch

    def image_features(self, images: Sequence[Any]) -> np.ndarray:
        torch = self._torch
        feats = []
        for start in range(0, len(images), self.batch_size):
            self.calls += 1
            batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images[start:start + self.batch_size]])
            with torch.no_grad():
                f = self.model.encode_image(batch.to(self.device)).float()
            feats.append(torch.nn.functional.normalize(f, dim=-1).cpu().numpy())
        return np.concatenate(feats) if feats else np.zeros((0, 1))

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            f = self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float()
        return torch.nn.functional.normalize(f, dim=-1).cpu().numpy()


class ClipScorer(OpenClip):
    """CLIPScore evidence: raw cosine of image and prompt (and of the prompt without adjectives)."""

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("clip model", model_id, "open_clip")]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        return {"second_text": "spec.clip_text (complex: ADJ tokens removed)"}


    def evidence(self, images: Sequence[Any], items: Sequence[Any], previous: Sequence[dict] | None = None) -> list[dict]:
        """Per image, in passes of its own (its image; its two texts): never dependent on the rest of a chunk."""
        out = []
        for im, item in zip(images, items):
            (a,) = self.image_features([im])
            # complex prompts: the spec's CLIP text (spaCy ADJ tokens removed, as the reference's --complex mode)
            b, c = self.text_features([item.prompt, item.spec.clip_text or remove_adjectives(item.prompt)])
            out.append({"cosine": round(float(a @ b), 6), "cosine_no_adjectives": round(float(a @ c), 6)})
        return out


class ColorClassifier(OpenClip):
    """GenEval colour evidence: each candidate detection, masked onto grey and cropped, classified zero-shot."""

    def __init__(self, model_id: str = REAL_COLOR_CLIP, device: str = "cpu", batch_size: int = 32):
        super().__init__(model_id, device, batch_size)
        self._prompts: dict[str, np.ndarray] = {}

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("color model", model_id, "open_clip")]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        return {"colors": list(GENEVAL_COLORS), "templates": list(COLOR_TEMPLATES),
                "candidates": f"score > {GENEVAL_THRESHOLD}, at most {GENEVAL_MAX_PER_CLASS}", "background": "#999999"}


    def _class_prompts(self, obj: str) -> np.ndarray:
        if obj not in self._prompts:
            per_color = []
            for c in GENEVAL_COLORS:
                f = self.text_features([t.format(c=c, obj=obj) for t in COLOR_TEMPLATES]).mean(axis=0)
                per_color.append(f / np.linalg.norm(f))
            self._prompts[obj] = np.stack(per_color)
        return self._prompts[obj]

    @staticmethod
    def masked_crop(image: Any, det: dict) -> Any:
        """The object on a #999999 background, cropped to its box (GenEval's colour input)."""
        box = [int(round(v)) for v in det["box"]]
        mask = Image.new("L", image.size, 0)
        if det.get("mask_rle"):   # an instance mask (Mask2Former), as GenEval composites it
            mask = Image.fromarray(unrle(det["mask_rle"]).astype(np.uint8) * 255)
        elif det.get("polygon") and len(det["polygon"]) >= 3:
            ImageDraw.Draw(mask).polygon([tuple(p) for p in det["polygon"]], fill=255)
        else:
            ImageDraw.Draw(mask).rectangle(box, fill=255)
        grey = Image.new("RGB", image.size, (153, 153, 153))
        composed = Image.composite(image.convert("RGB"), grey, mask)
        x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], image.size[0]), min(box[3], image.size[1])
        return composed.crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))

    def evidence(self, images: Sequence[Any], items: Sequence[Any], previous: Sequence[dict] | None = None) -> list[dict]:
        records = []
        for k, (im, item) in enumerate(zip(images, items)):
            det = (previous[k] or {}).get("detect") if previous else None
            colors: dict[str, str] = {}
            if det:
                for o in item.spec.objects:
                    cls = det["classes"].get(o.noun)
                    if not o.attributes or cls is None:
                        continue
                    cands = sorted((d for d in det["detections"] if d["label"] == cls
                                    and d["score"] > GENEVAL_THRESHOLD), key=lambda d: -d["score"])
                    cands = cands[:GENEVAL_MAX_PER_CLASS]
                    if not cands:
                        continue
                    feats = self.image_features([self.masked_crop(im, d) for d in cands])
                    logits = feats @ self._class_prompts(cls).T
                    for d, row in zip(cands, logits):
                        colors[str(d["id"])] = GENEVAL_COLORS[int(np.argmax(row))]
            records.append({"colors": colors})
        return records


# -- tiny twin (offline tests and tiny-* runs) ------------------------------------------------------------

TINY_CLIP_CFG = {
    "embed_dim": 512,  # as ViT-B/32: its text features also give YOLO-World its class embeddings
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def build_open_clip(out: Path) -> None:
    """Stands in for open_clip ViT-B-32 (openai) / ViT-L-14: a tiny CLIP from a config dict, saved for local-dir:."""
    import open_clip  # lazy: open_clip
    import torch  # lazy: torch
    from open_clip.factory import _MODEL_CONFIGS  # lazy: open_clip
    from safetensors.torch import save_file  # lazy: safetensors

    _MODEL_CONFIGS.setdefault("eclipse-bench-tiny-clip", TINY_CLIP_CFG)
    torch.manual_seed(0)
    logging.disable(logging.WARNING)  # "no pretrained weights loaded": random weights are the point here
    try:
        model = open_clip.create_model("eclipse-bench-tiny-clip", pretrained=None)
    finally:
        logging.disable(logging.NOTSET)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    (out / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": TINY_CLIP_CFG,
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                           "interpolation": "bicubic", "resize_mode": "shortest"},
    }))


register_tiny("clip", build_open_clip)


def clip_view(record: dict, metric) -> dict:
    return {"clip": f"cosine {record['cosine']:.4f} (without adjectives {record.get('cosine_no_adjectives', 0):.4f})"}


def color_view(record: dict, metric) -> dict:
    colors = record.get("colors") or {}
    return {"colors": ", ".join(f"#{k}: {v}" for k, v in colors.items())} if colors else {}


def clip_reads(item) -> dict:
    """The texts CLIPScore compares with the image: the prompt and the complex-mode text without adjectives."""
    return {"prompt": item.prompt, "clip_text": item.spec.clip_text or remove_adjectives(item.prompt)}


def color_reads(item) -> dict:
    """The objects whose detections are classified (those with a colour to check)."""
    return {"objects": [[o.noun, list(o.attributes)] for o in item.spec.objects]}


register_provider(ProviderDef("clip", "eclipse_bench.metrics.clip:ClipScorer", REAL_CLIPSCORE, "tiny:clip",
                              "open_clip image-prompt cosine", view=clip_view, reads=clip_reads,
                              record_fields=(("cosine", (int, float)), ("cosine_no_adjectives", (int, float)))))
register_provider(ProviderDef("color", "eclipse_bench.metrics.clip:ColorClassifier", REAL_COLOR_CLIP, "tiny:clip",
                              "open_clip zero-shot colour of detected objects (GenEval)", needs=("detect",),
                              view=color_view, reads=color_reads, record_fields=(("colors", dict),)))
