"""Tiny random-weight twins of every model eclipse-bench loads, built from configs.

Same classes as the real checkpoints, tiny dimensions, weights drawn under torch.manual_seed(0).
Each twin is saved once with save_pretrained into the user cache and then loaded back through the
same loader as the real hub ids (eclipse_bench.models.loaders), so the tests run the real code path.
Shapes follow diffusers' own fast tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from eclipse_bench.paths import cache_dir

RECIPE = "v5"  # bump when a builder changes: twins are cached by name + recipe
HIDDEN = 32


def _clip_text(seed: int = 0, hidden: int = HIDDEN):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(hidden_size=hidden, projection_dim=hidden, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=5, vocab_size=49408, max_position_embeddings=77,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, layer_norm_eps=1e-5)
    return CLIPTextModelWithProjection(cfg).eval()


def build_clip_text(out: Path) -> None:
    """Stands in for laion/CLIP-ViT-bigG-14-laion2B-39B-b160k: a whole CLIPModel at the root, its config
    without projection_dim (as older snapshots of that repo), so the text tower loads only with an explicit
    projection_dim; tokenizer at the root."""
    import json

    import torch
    from transformers import CLIPConfig, CLIPModel

    from eclipse_bench.models.tokenizers import build_clip_tokenizer

    text = _clip_text().config.to_dict()
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, projection_dim=HIDDEN, vision_config=dict(
        hidden_size=HIDDEN, image_size=32, patch_size=8, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=37))).eval()
    model.save_pretrained(out)
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("projection_dim", None)
    for sub in ("text_config", "vision_config"):
        cfg.get(sub, {}).pop("projection_dim", None)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    build_clip_tokenizer().save_pretrained(out)


def _eclipse_prior(seed: int):
    import torch

    from eclipse_bench.models.eclipse_prior import EclipsePriorTransformer

    torch.manual_seed(seed)
    prior = EclipsePriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=HIDDEN, num_layers=1)
    with torch.no_grad():  # zeros at init would hide the positional and prd paths
        prior.positional_embedding.normal_(0, 0.02)
        prior.prd_embedding.normal_(0, 0.02)
        prior.clip_std.fill_(1.0)
    return prior.eval()


def build_eclipse_karlo_prior(out: Path) -> None:
    _eclipse_prior(1).save_pretrained(out)


def build_eclipse_kandinsky_prior(out: Path) -> None:
    _eclipse_prior(2).save_pretrained(out)


def _damp(unet, factor: float = 0.05):
    """Shrink a random UNet's output layer. Undamped random UNets predict huge noise, saturate every pixel
    and amplify float rounding over the denoising steps (batch-size tests would then compare chaos)."""
    import torch

    with torch.no_grad():
        unet.conv_out.weight.mul_(factor)
        unet.conv_out.bias.mul_(factor)
    return unet


def _diffusion_prior():
    import torch
    from diffusers import PriorTransformer

    torch.manual_seed(0)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=HIDDEN, num_layers=1)
    with torch.no_grad():
        prior.clip_std.fill_(1.0)  # random init leaves clip_std = 0 and every embedding zero
    return prior.eval()


def build_karlo(out: Path) -> None:
    """Stands in for kakaobrain/karlo-v1-alpha: the full UnCLIP pipeline layout."""
    import torch
    from diffusers import UNet2DConditionModel, UNet2DModel, UnCLIPScheduler
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline, UnCLIPTextProjModel

    from eclipse_bench.models.tokenizers import build_clip_tokenizer

    torch.manual_seed(0)
    text_proj = UnCLIPTextProjModel(clip_embeddings_dim=HIDDEN, time_embed_dim=128, cross_attention_dim=100)
    torch.manual_seed(0)
    decoder = UNet2DConditionModel(
        sample_size=32, in_channels=3, out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        cross_attention_dim=100, attention_head_dim=4, resnet_time_scale_shift="scale_shift",
        class_embed_type="identity",
    )
    sr = dict(sample_size=64, layers_per_block=1, block_out_channels=(32, 64), in_channels=6, out_channels=3,
              down_block_types=("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"),
              up_block_types=("ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"))
    torch.manual_seed(0)
    sr_first = _damp(UNet2DModel(**sr))
    torch.manual_seed(1)
    sr_last = _damp(UNet2DModel(**sr))
    decoder = _damp(decoder)
    pipe = UnCLIPPipeline(
        prior=_diffusion_prior(), decoder=decoder, text_encoder=_clip_text(), tokenizer=build_clip_tokenizer(),
        text_proj=text_proj, super_res_first=sr_first, super_res_last=sr_last,
        prior_scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                        num_train_timesteps=1000, clip_sample_range=5.0),
        decoder_scheduler=UnCLIPScheduler(variance_type="learned_range", prediction_type="epsilon",
                                          num_train_timesteps=1000),
        super_res_scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="epsilon",
                                            num_train_timesteps=1000),
    )
    pipe.save_pretrained(out)


def build_kandinsky_prior(out: Path) -> None:
    """Stands in for kandinsky-community/kandinsky-2-2-prior."""
    import torch
    from diffusers import KandinskyV22PriorPipeline, UnCLIPScheduler
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from eclipse_bench.models.tokenizers import build_clip_tokenizer

    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=HIDDEN, image_size=224, projection_dim=HIDDEN, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=5, patch_size=14)).eval()
    processor = CLIPImageProcessor(crop_size=224, do_center_crop=True, do_normalize=True, do_resize=True,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=224)
    pipe = KandinskyV22PriorPipeline(
        prior=_diffusion_prior(), image_encoder=image_encoder, text_encoder=_clip_text(),
        tokenizer=build_clip_tokenizer(), image_processor=processor,
        scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                  num_train_timesteps=1000, clip_sample=True, clip_sample_range=10.0),
    )
    pipe.save_pretrained(out)


# kandinsky-community/kandinsky-2-2-decoder, scheduler/scheduler_config.json (shared/reference/eclipse-and-decoders.md)
KANDINSKY_DECODER_SCHEDULER = {
    "_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.00085,
    "beta_end": 0.012, "clip_sample": False, "prediction_type": "epsilon", "set_alpha_to_one": False,
    "steps_offset": 1, "thresholding": False, "variance_type": "fixed_small", "timestep_spacing": "leading",
}


def build_kandinsky_decoder(out: Path) -> None:
    """Stands in for kandinsky-community/kandinsky-2-2-decoder."""
    import torch
    from diffusers import DDPMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        encoder_hid_dim=HIDDEN, encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type=None,
    )
    unet = _damp(unet)
    torch.manual_seed(0)
    movq = VQModel(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
                   in_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial",
                   num_vq_embeddings=12, out_channels=3, up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
                   vq_embed_dim=4)
    scheduler = DDPMScheduler.from_config(KANDINSKY_DECODER_SCHEDULER)
    KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).save_pretrained(out)


def build_blip_vqa(out: Path) -> None:
    """Stands in for Salesforce/blip-vqa-capfilt-large (BlipForQuestionAnswering + BlipProcessor)."""
    import torch
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    from eclipse_bench.models.tokenizers import build_tiny_bert_tokenizer

    tok = build_tiny_bert_tokenizer()
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=64, bos_token_id=tok.bos_token_id,
                         pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id, initializer_range=0.2),
        # wider than the default init (vision: 1e-10!) so answers depend on the image and the question
        vision_config=dict(hidden_size=HIDDEN, image_size=32, patch_size=8, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37, initializer_range=0.2),
        projection_dim=HIDDEN,
    )
    torch.manual_seed(0)
    model = BlipForQuestionAnswering(cfg).eval()
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32}, resample=3,
                                         image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711])
    model.save_pretrained(out)
    BlipProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(out)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "karlo": build_karlo,
    "eclipse-karlo-prior": build_eclipse_karlo_prior,
    "eclipse-kandinsky-prior": build_eclipse_kandinsky_prior,
    "kandinsky-prior": build_kandinsky_prior,
    "kandinsky-decoder": build_kandinsky_decoder,
    "clip-text": build_clip_text,
    "blip-vqa": build_blip_vqa,
}


def materialise(name: str) -> Path:
    """Path of the saved tiny twin `name`, building it on first use (atomic: built aside, then renamed)."""
    if name not in BUILDERS:
        from eclipse_bench.errors import unknown_name

        raise unknown_name("tiny model", name, BUILDERS)
    root = cache_dir() / "tiny"
    target = root / f"{name}-{RECIPE}"
    if (target / ".complete").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        BUILDERS[name](tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / ".complete").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(model_id: str) -> str:
    """`tiny:NAME` -> the local directory of that twin; any other id is returned as is."""
    if model_id.startswith("tiny:"):
        return str(materialise(model_id[len("tiny:"):]))
    return model_id


def build_yolo_seg(out: Path) -> None:
    """Stands in for a COCO YOLO segmentation checkpoint (yolo11x-seg.pt): yolov8n-seg from its yaml."""
    import torch
    from ultralytics import YOLO

    from eclipse_bench.metrics.vocab import COCO80

    torch.manual_seed(0)
    model = YOLO("yolov8n-seg.yaml")
    model.model.names = {i: n for i, n in enumerate(COCO80)}  # set before the first predict (names are cached)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.pt"))


TINY_CLIP_CFG = {
    "embed_dim": 512,  # as ViT-B/32: its text features also give YOLO-World its class embeddings
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def build_open_clip(out: Path) -> None:
    """Stands in for open_clip ViT-B-32 (openai) / ViT-L-14: a tiny CLIP from a config dict, saved for local-dir:."""
    import json

    import open_clip
    import torch
    from open_clip.factory import _MODEL_CONFIGS
    from safetensors.torch import save_file

    import logging

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


def build_yolo_world(out: Path) -> None:
    """Stands in for YOLO-World v2 (yolov8x-worldv2.pt): the same architecture family, from its yaml."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8s-worldv2.yaml")
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.pt"))


BUILDERS["yolo-seg"] = build_yolo_seg
BUILDERS["yolo-world"] = build_yolo_world
BUILDERS["clip"] = build_open_clip
