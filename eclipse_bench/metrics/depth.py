"""Depth evidence: DPT-Hybrid MiDaS (Intel/dpt-hybrid-midas, transformers DPTForDepthEstimation), as
T2I-CompBench++'s 3D_spatial_eval.py runs it: PIL bilinear resize to 480 x 480, normalise with mean = std = 0.5,
relative inverse depth (larger = nearer) min-max normalised per image, resized bilinearly (align_corners=True) to
the image size and quantised to an 8-bit greyscale map. The record holds the mean depth inside each detection box
the 3D rule may use (both the intended [y, x] indexing and the reference's [x, y]) and a thumbnail of the map.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.loaders import load
from eclipse_bench.bench.core.tiny import register_tiny
from eclipse_bench.metrics.registry import ProviderDef, register_provider

REAL_DEPTH = "Intel/dpt-hybrid-midas"
REFERENCE_SIZE = 480          # T2I-CompBench++'s transform for the depth expert
CANDIDATE_THRESHOLD = 0.1     # the boxes the 3D rule can use (UniDet: score > 0.1)


def reference_size(config: Any) -> int:
    """480 px for the DPT-Hybrid ViT-B/16 checkpoint (hidden 768, as the reference runs it); a twin's own size."""
    return REFERENCE_SIZE if int(config.hidden_size) == 768 and getattr(config, "is_hybrid", False) \
        else int(config.image_size)


def box_means(depth: np.ndarray, box: Sequence[float]) -> list:
    """Mean depth inside a box, indexed [y, x] (intended) and [x, y] (the reference's slip); None if empty."""
    x0, y0, x1, y1 = (int(v) for v in box)
    out = []
    for region in (depth[y0:y1, x0:x1], depth[x0:x1, y0:y1]):
        out.append(round(float(region.mean()), 4) if region.size else None)
    return out


class DepthEstimator:
    def __init__(self, model_id: str = REAL_DEPTH, device: str = "cpu", batch_size: int = 8,
                 image_size: int | None = None, revision: str | None = None):
        import torch  # lazy: torch
        from transformers import DPTForDepthEstimation  # lazy: transformers

        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        self.model = load(DPTForDepthEstimation, model_id, revision=revision).to(device).eval()
        self.size = int(image_size) if image_size else reference_size(self.model.config)
        if getattr(self.model.config, "is_hybrid", False):
            # MiDaS resamples the position embeddings to any input size; transformers' hybrid embeddings check
            # the input against image_size first, so tell them the size we feed.
            self.model.dpt.embeddings.image_size = (self.size, self.size)
        self._torch = torch
        self.calls = 0

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("depth model", model_id)]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        return {"input": "pil-bilinear 480 (reference size)",
                "normalise": "mean 0.5 std 0.5", "map": "min-max, bilinear align_corners, 8-bit",
                "boxes": f"detections > {CANDIDATE_THRESHOLD} of the prompt's classes"}

    def depth_maps(self, images: Sequence[Any]) -> list[np.ndarray]:
        """8-bit depth maps at each image's own size (the reference's saved PNGs, as arrays)."""
        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            arr = np.stack([np.asarray(im.convert("RGB").resize((self.size, self.size), Image.BILINEAR),
                                       dtype=np.float32) / 255.0 for im in batch])
            pixels = torch.from_numpy((arr - 0.5) / 0.5).permute(0, 3, 1, 2).to(self.device, self.model.dtype)
            self.calls += 1
            with torch.no_grad():
                pred = self.model(pixel_values=pixels).predicted_depth.float()
            for im, d in zip(batch, pred):
                span = d.max() - d.min()
                d = (d - d.min()) / span if span > 0 else torch.zeros_like(d)
                d = torch.nn.functional.interpolate(d[None, None], size=(im.size[1], im.size[0]), mode="bilinear",
                                                    align_corners=True)[0, 0]
                out.append(np.asarray(Image.fromarray(255 * d.cpu().numpy()).convert("L")))
        return out

    def evidence(self, images: Sequence[Any], items: Sequence[Any], previous: Sequence[dict] | None = None) -> list[dict]:
        maps = [m for im in images for m in self.depth_maps([im])]  # one image per pass: never chunk-dependent
        records = []
        for k, (depth, item) in enumerate(zip(maps, items)):
            det = (previous[k] or {}).get("detect") if previous else None
            means = {}
            if det:
                wanted = {c for c in det.get("classes", {}).values() if c}
                for d in det["detections"]:
                    if d["score"] > CANDIDATE_THRESHOLD and any(w in d["label"] for w in wanted):
                        means[str(d["id"])] = box_means(depth, d["box"])
            thumb = io.BytesIO()
            Image.fromarray(depth).resize((96, 96), Image.BILINEAR).save(thumb, format="PNG")
            records.append({"size": [int(depth.shape[1]), int(depth.shape[0])], "means": means,
                            "thumb": "data:image/png;base64," + base64.b64encode(thumb.getvalue()).decode()})
        return records


def report_view(record: dict, metric) -> dict:
    """The depth map drawn beside the image (brighter = nearer)."""
    return {"overlay": record.get("thumb"), "overlay_label": "depth (DPT-Hybrid; brighter = nearer)"}


# -- tiny twin (offline tests and tiny-* runs) ------------------------------------------------------------

def build_dpt_hybrid(out: Path) -> None:
    """Stands in for Intel/dpt-hybrid-midas: DPTForDepthEstimation with a hybrid (BiT + ViT) backbone, tiny."""
    import torch  # lazy: torch
    from transformers import DPTConfig, DPTForDepthEstimation  # lazy: transformers

    cfg = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=32,
                    patch_size=16, is_hybrid=True, backbone_out_indices=[0, 1, 2, 3],
                    backbone_featmap_shape=[1, 16, 2, 2],
                    backbone_config={"global_padding": "same", "layer_type": "bottleneck", "depths": [1, 1, 2],
                                     "hidden_sizes": [4, 8, 16], "num_groups": 2,
                                     "out_features": ["stage1", "stage2", "stage3"]},
                    neck_hidden_sizes=[8, 8, 32, 32], fusion_hidden_size=16, reassemble_factors=[1, 1, 1, 0.5],
                    head_in_index=-1)
    torch.manual_seed(0)
    DPTForDepthEstimation(cfg).eval().save_pretrained(out)


register_tiny("dpt-hybrid", build_dpt_hybrid)
register_provider(ProviderDef("depth", "eclipse_bench.metrics.depth:DepthEstimator", REAL_DEPTH, "tiny:dpt-hybrid",
                              "DPT-Hybrid MiDaS relative depth; mean depth per detection box", needs=("detect",),
                              view=report_view, record_fields=(("means", dict), ("size", list))))
