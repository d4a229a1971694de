"""GenEval's detector family: Mask2Former Swin-S with COCO instance weights, through transformers
(Mask2FormerForUniversalSegmentation, facebook/mask2former-swin-small-coco-instance), as `--detector mask2former` of
the detect evidence.

GenEval runs mmdet's Mask2Former Swin-S (mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco). transformers has the same
architecture with COCO instance weights from another training run (Meta's), so its numbers are "reference-family":
close to GenEval's, not equal. Everything around the network follows mmdet's test pipeline for that config, which
GenEval inherits: resize keeping the aspect ratio to fit 1333 x 800 (bilinear), pad to a multiple of 32 with 128,
normalise with ImageNet's mean and std (RGB); masks upsampled to the padded size, cropped to the resized image and
resized to the original one (bilinear), then the instance post-processing: class probabilities (softmax without
the no-object class) top-100 over queries x classes, mask = logit > 0, score = class probability x mean mask
probability inside the mask, box = the mask's extent. The records have the YOLO detector's shape (label, score, box,
per-mask hue, the mask itself for colour crops), so every rule reads them unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.loaders import load, quiet
from eclipse_bench.bench.core.tiny import register_tiny
from eclipse_bench.metrics.base import detection_records, rle
from eclipse_bench.metrics.vocab import COCO80

REAL_MASK2FORMER = "facebook/mask2former-swin-small-coco-instance"
TEST_SCALE = (1333, 800)        # mmdet test pipeline: Resize(img_scale=(1333, 800), keep_ratio=True)
TINY_TEST_SCALE = (160, 96)     # the twin's: the same pipeline at a scale a CPU runs in tests
SIZE_DIVISOR, PAD_VALUE = 32, 128
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
MAX_PER_IMAGE = 100             # test_cfg.max_per_image
MASK_MIN_SCORE = 0.3            # masks are kept for detections a colour rule may look at (GenEval: score > 0.3)


def rescaled_size(width: int, height: int, scale: tuple[int, int] = TEST_SCALE) -> tuple[int, int]:
    """mmcv's keep-ratio rescale: the largest size with long side <= scale's long and short side <= its short."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(width, height), short_edge / min(width, height))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def preprocess(image: Any, scale: tuple[int, int] = TEST_SCALE):
    """(pixel tensor [1, 3, H_pad, W_pad], (w, h) resized) as mmdet's test pipeline makes them."""
    import cv2  # lazy: cv2
    import torch  # lazy: torch

    rgb = np.asarray(image.convert("RGB"))
    w, h = rescaled_size(rgb.shape[1], rgb.shape[0], scale)
    resized = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    pad_h, pad_w = -(-h // SIZE_DIVISOR) * SIZE_DIVISOR, -(-w // SIZE_DIVISOR) * SIZE_DIVISOR
    padded = np.full((pad_h, pad_w, 3), PAD_VALUE, dtype=np.float32)
    padded[:h, :w] = resized
    normed = (padded - np.asarray(MEAN, dtype=np.float32)) / np.asarray(STD, dtype=np.float32)
    return torch.from_numpy(normed).permute(2, 0, 1)[None].contiguous(), (w, h)


def mask_boxes(binary) -> list[list[float]]:
    """mmdet's mask2bbox: [x_min, y_min, x_max + 1, y_max + 1] of each mask's pixels; zeros for an empty mask."""
    out = []
    for m in binary:
        ys, xs = np.nonzero(m)
        out.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)] if len(xs) else
                   [0.0, 0.0, 0.0, 0.0])
    return out


def instances(class_logits, mask_logits, padded_hw: tuple[int, int], resized_wh: tuple[int, int],
              original_wh: tuple[int, int], max_per_image: int = MAX_PER_IMAGE):
    """One image's instances from the network's raw outputs (class logits [Q, C + 1], mask logits [Q, h, w]):
    (labels, scores, binary masks at the original size, mask probabilities)."""
    import torch  # lazy: torch
    import torch.nn.functional as F  # lazy: torch

    masks = F.interpolate(mask_logits[None].float(), size=padded_hw, mode="bilinear", align_corners=False)[0]
    masks = masks[:, :resized_wh[1], :resized_wh[0]]
    masks = F.interpolate(masks[None], size=(original_wh[1], original_wh[0]), mode="bilinear",
                          align_corners=False)[0]
    probs = F.softmax(class_logits.float(), dim=-1)[:, :-1]
    n_queries, n_classes = probs.shape
    labels = torch.arange(n_classes).repeat(n_queries)
    top_scores, top = probs.flatten().topk(min(max_per_image, probs.numel()), sorted=False)
    query = torch.div(top, n_classes, rounding_mode="floor")
    masks = masks[query]
    binary = masks > 0
    mask_scores = (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    return labels[top], top_scores * mask_scores, binary


class Mask2FormerDetector:
    """Mask2Former instance detections in the detect provider's record shape."""

    def __init__(self, model_id: str = REAL_MASK2FORMER, device: str = "cpu", batch_size: int = 16,
                 revision: str | None = None):
        import torch  # lazy: torch
        from transformers import Mask2FormerForUniversalSegmentation  # lazy: transformers

        self.model_id, self.device = model_id, device
        self.model = load(Mask2FormerForUniversalSegmentation, model_id, revision=revision).to(device).eval()
        self.names = {int(k): v for k, v in self.model.config.id2label.items()}
        self.vocabulary = tuple(self.names[i] for i in sorted(self.names))
        self.scale = self.settings_for(model_id)["test_scale"]
        self.calls = 0
        self._torch = torch

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("detector (Mask2Former)", model_id, expect=("config.json",))]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        scale = TINY_TEST_SCALE if model_id.startswith("tiny:") else TEST_SCALE
        return {"test_scale": list(scale), "pipeline": "mmdet test: keep-ratio bilinear resize, pad 32 with 128, "
                "ImageNet mean/std", "post": "top-100 (query, class); score = class p x mean mask p; box = mask extent",
                "max_per_image": MAX_PER_IMAGE}

    def raw(self, image: Any):
        """The network's outputs for one image: (class logits [Q, C + 1], mask logits [Q, h, w], padded (h, w), resized
        (w, h))."""
        torch = self._torch
        pixels, resized = preprocess(image, tuple(self.scale))
        self.calls += 1
        with torch.no_grad():
            out = self.model(pixel_values=pixels.to(self.device, self.model.dtype))
        return out.class_queries_logits[0].cpu(), out.masks_queries_logits[0].cpu(), tuple(pixels.shape[-2:]), resized

    def detect(self, images: Sequence[Any]) -> list[list[dict]]:
        """Each image in its own pass (never batched with others: its detections depend on it alone)."""
        import cv2  # lazy: cv2

        out = []
        for im in images:
            cls, masks, padded, resized = self.raw(im)
            labels, scores, binary = instances(cls, masks, padded, resized, im.size)
            binary = binary.numpy()
            boxes = mask_boxes(binary)
            hsv = cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2HSV)
            recs = []
            for i, (k, s, box, m) in enumerate(zip(labels.tolist(), scores.tolist(), boxes, binary)):
                rec: dict[str, Any] = {"id": i, "label": self.names[int(k)], "score": round(float(s), 6),
                                       "box": [round(v, 3) for v in box]}
                hue = hsv[:, :, 0][m & (hsv[:, :, 0] > 0)]
                rec["mean_hue"] = round(float(hue.mean()), 3) if hue.size else None
                if s > MASK_MIN_SCORE and m.any():
                    rec["mask_rle"] = rle(m)
                recs.append(rec)
            out.append(recs)
        return out

    def evidence(self, images: Sequence[Any], items: Sequence[Any], previous: Sequence[dict] | None = None) -> list[dict]:
        return detection_records(self.model_id, self.vocabulary, images, items, self.detect(images))


# -- tiny twin -----------------------------------------------------------------------------------------------------

def build_mask2former(out: Path) -> None:
    """Stands in for facebook/mask2former-swin-small-coco-instance: Mask2FormerForUniversalSegmentation with a Swin
    backbone, COCO's 80 classes, from configs. It listens (tests/test_twins.py): with the default init every query has
    the same near-uniform class distribution (scores ~0.05, under every threshold) and every mask covers the whole
    image (one box for all). The class head is widened (x40), and the mask embeddings are centred on fixed random
    images (their bias moved against the pixel features' mean, so the mean mask logit is 0): scores reach the
    rules' thresholds and masks, boxes and labels move with the image."""
    import torch  # lazy: torch
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig  # lazy: transformers

    quiet()
    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4, image_size=96,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
                            dim_feedforward=64, num_queries=20, num_labels=len(COCO80),
                            id2label={i: n for i, n in enumerate(COCO80)}, label2id={n: i for i, n in enumerate(COCO80)})
    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(cfg).eval()
    with torch.no_grad():
        model.class_predictor.weight.mul_(40.0)
        embed = model.get_submodule("model.transformer_module.decoder.mask_predictor.mask_embedder.2.0")
        calibration = torch.rand(8, 3, 96, 96, generator=torch.Generator().manual_seed(0)) * 4 - 2
        mean_logit = model(pixel_values=calibration).masks_queries_logits.mean()
        mu = model.model(pixel_values=calibration).pixel_decoder_last_hidden_state.mean(dim=(0, 2, 3))
        embed.bias.sub_(mean_logit * mu / (mu @ mu))
    model.save_pretrained(out)


register_tiny("mask2former", build_mask2former, uses=("eclipse_bench.metrics.vocab",))
