"""The Kandinsky 2.2 decoder family (kandinsky-community/kandinsky-2-2-decoder: UNet + MoVQ), fed with image
embeddings from an ECLIPSE prior (with the laion CLIP ViT-bigG text tower) or the 2.2 diffusion prior. One
module: its generator, default settings and constraints, checkpoint slots, pairings and tiny twins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch

from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.tiny import HIDDEN, TWIN_PREDICTION, register_tiny, tiny_clip_text, tiny_diffusion_prior
from eclipse_bench.bench.core.tokenizers import build_clip_tokenizer
from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer, tiny_eclipse_prior as _eclipse_prior
from eclipse_bench.bench.generation.generator import (ClipTextEncoder, Generator, prior_in_dim, prior_out_dim,
                                                      release_memory, seeded_randn, to_pil)
from eclipse_bench.bench.generation.pairings import FamilyDef, PairingSpec, register_family, register_pairing

KANDINSKY_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
KANDINSKY_DECODER = "kandinsky-community/kandinsky-2-2-decoder"
ECLIPSE_KANDINSKY = "ECLIPSE-Community/ECLIPSE_KandinskyV22_Prior"
CLIP_BIGG = "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"
SETTINGS = {"prior_steps": 25, "prior_guidance": 4.0, "decoder_steps": 50, "decoder_guidance": 4.0,
            "height": 512, "width": 512}
TINY_SETTINGS = {**SETTINGS, "prior_steps": 2, "decoder_steps": 2, "height": 64, "width": 64}


class KandinskyGenerator(Generator):
    """Kandinsky 2.2's decoder fed with image embeddings from an ECLIPSE prior, the 2.2 diffusion prior, or (the
    baseline) the prompt's CLIP text embedding."""

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype, prior_only: bool = False,
                 revisions: Optional[dict] = None):
        super().__init__(spec, device, dtype, prior_only, revisions)
        from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline  # lazy: diffusers
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer, CLIPVisionModelWithProjection  # lazy: transformers

        kw = {"torch_dtype": dtype}
        self.negative: Optional[torch.Tensor] = None
        if spec.prior in ("eclipse", "text") and not prior_only:
            # The negative embedding is one constant, the embedding of an all-zero image: computed first, then the
            # 1.8B-parameter ViT-bigG image encoder is let go before the rest loads (3.7 GB in half precision).
            encoder = self.load(CLIPVisionModelWithProjection, spec.prior_pipeline_id, "image_encoder", **kw)
            self.negative = zero_image_embedding(encoder.to(device).eval())
            del encoder
            release_memory()
        self.decoder = None
        if not prior_only:
            self.decoder = self.load(KandinskyV22Pipeline, spec.decoder_id, **kw).to(device)
            self.decoder.set_progress_bar_config(disable=True)
        decoder_dim = int(self.decoder.unet.config.encoder_hid_dim) if self.decoder is not None else None
        self.prior = None
        if spec.prior in ("eclipse", "text"):
            text_kw = dict(kw)
            if spec.text_projection_dim:  # laion's bigG root config lacks text_config.projection_dim (default 512)
                text_kw["projection_dim"] = int(spec.text_projection_dim)
            self.text = ClipTextEncoder(self.load(CLIPTokenizer, spec.text_encoder_id),
                                        self.load(CLIPTextModelWithProjection, spec.text_encoder_id, **text_kw)
                                        .to(device).eval(), device)
            if spec.prior == "eclipse":
                self.prior = self.load(EclipsePriorTransformer, spec.prior_id, **kw).to(device).eval()
                self.check_dims("text embedding size vs prior input size", self.text.projection_dim,
                                prior_in_dim(self.prior))
            out_dim = prior_out_dim(self.prior) if self.prior is not None else self.text.projection_dim
            if decoder_dim is not None:
                self.check_dims("prior output size vs decoder embedding size", out_dim, decoder_dim)
            self.stages = ("text_encoder", "prior", "decoder")
        else:
            self.prior_pipe = self.load(KandinskyV22PriorPipeline, spec.prior_pipeline_id, **kw).to(device)
            self.prior_pipe.set_progress_bar_config(disable=True)
            if decoder_dim is not None:
                self.check_dims("prior output size vs decoder embedding size", prior_out_dim(self.prior_pipe.prior),
                                decoder_dim)
            self.text = ClipTextEncoder(self.prior_pipe.tokenizer, self.prior_pipe.text_encoder, device)
            self.stages = ("prior", "decoder")  # the prior pipeline encodes the text itself

    def _prior_stages(self, prompts, gens):
        """(text embeddings, image embeddings, negative image embeddings or None in prior-only mode)."""
        s, B = self.settings, len(prompts)
        if self.spec.prior in ("eclipse", "text"):
            with self.stage("text_encoder"):
                cond = self.text.encode_batch(prompts, compact=self.prior_only)
            with self.stage("prior"):
                if self.prior is None:
                    embeds = cond.embeds
                else:
                    noise = seeded_randn((B, self.prior.config["embedding_dim"]), gens, self.device, self.dtype)
                    embeds = self.prior(noise, cond.embeds, cond.hidden, cond.mask)
                negative = None if self.prior_only else self.negative.expand(B, -1)
            return cond.embeds, embeds, negative
        with self.stage("prior"):
            out = self.prior_pipe(prompt=prompts, generator=gens, num_inference_steps=int(s["prior_steps"]),
                                  guidance_scale=float(s["prior_guidance"]), output_type="pt")
        text = self.text.embeds_only(prompts) if self.prior_only else None
        return text, out.image_embeds, out.negative_image_embeds

    def _embed(self, prompts, gens):
        text, embeds, _ = self._prior_stages(prompts, gens)
        return text, embeds

    def text_embeddings(self, texts):
        return self.text.embeds_only(texts)

    def conv_modules(self):
        return [] if self.decoder is None else [self.decoder.unet, self.decoder.movq]

    def _generate(self, prompts, gens):
        s = self.settings
        _, embeds, negative = self._prior_stages(prompts, gens)
        with self.stage("decoder"):
            images = self.decoder(image_embeds=embeds, negative_image_embeds=negative, generator=gens,
                                  num_inference_steps=int(s["decoder_steps"]),
                                  guidance_scale=float(s["decoder_guidance"]), height=int(s["height"]),
                                  width=int(s["width"]), output_type="pt").images
        # output_type="pt" is the raw decoder output in [-1, 1]; diffusers rescales only for "np"/"pil"
        return to_pil(images * 0.5 + 0.5)


@torch.no_grad()
def zero_image_embedding(encoder) -> torch.Tensor:
    """Kandinsky 2.2's negative image embedding: the image encoder's embedding of an all-zero image."""
    size = encoder.config.image_size
    zeros = torch.zeros(1, 3, size, size, device=encoder.device, dtype=encoder.dtype)
    return encoder(zeros).image_embeds


# -- tiny twins ---------------------------------------------------------------------------------------------

def build_clip_text(out: Path) -> None:
    """Stands in for laion/CLIP-ViT-bigG-14-laion2B-39B-b160k: a whole CLIPModel at the root, its config
    without projection_dim (as older snapshots of that repo), so the text tower loads only with an explicit
    projection_dim; tokenizer at the root."""
    import torch  # lazy: torch
    from transformers import CLIPConfig, CLIPModel  # lazy: transformers

    text = tiny_clip_text().config.to_dict()
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


def build_eclipse_kandinsky_prior(out: Path) -> None:
    _eclipse_prior(2).save_pretrained(out)


def build_kandinsky_prior(out: Path) -> None:
    """Stands in for kandinsky-community/kandinsky-2-2-prior."""
    import torch  # lazy: torch
    from diffusers import KandinskyV22PriorPipeline, UnCLIPScheduler  # lazy: diffusers
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection  # lazy: transformers

    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=HIDDEN, image_size=224, projection_dim=HIDDEN, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=5, patch_size=14)).eval()
    processor = CLIPImageProcessor(crop_size=224, do_center_crop=True, do_normalize=True, do_resize=True,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=224)
    pipe = KandinskyV22PriorPipeline(
        prior=tiny_diffusion_prior(), image_encoder=image_encoder, text_encoder=tiny_clip_text(),
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
    import torch  # lazy: torch
    from diffusers import DDPMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel  # lazy: diffusers

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        encoder_hid_dim=HIDDEN, encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type=None,
    )
    torch.manual_seed(0)
    movq = VQModel(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
                   in_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial",
                   num_vq_embeddings=12, out_channels=3, up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
                   vq_embed_dim=4)
    # the real scheduler config, but x0 ("sample") prediction: see TWIN_PREDICTION in eclipse_bench.bench.core.tiny
    scheduler = DDPMScheduler.from_config({**KANDINSKY_DECODER_SCHEDULER, "prediction_type": TWIN_PREDICTION})
    KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).save_pretrained(out)


register_tiny("clip-text", build_clip_text)
register_tiny("eclipse-kandinsky-prior", build_eclipse_kandinsky_prior, uses=(_eclipse_prior.__module__,))
register_tiny("kandinsky-prior", build_kandinsky_prior)
register_tiny("kandinsky-decoder", build_kandinsky_decoder)

# -- the family and its pairings ------------------------------------------------------------------------------

def checkpoints(spec: PairingSpec, prior_only: bool = False) -> list:
    """What KandinskyGenerator loads: the decoder, and per prior kind the ECLIPSE prior with the bigG text tower, the
    2.2 prior pipeline (its image encoder gives the negative embedding), or the text tower alone."""
    out = [] if prior_only else [Checkpoint("decoder", spec.decoder_id, expect=("unet/config.json", "movq/config.json"))]
    if spec.prior == "diffusion":
        return out + [Checkpoint("prior pipeline", spec.prior_pipeline_id,
                                 expect=("prior/config.json", "text_encoder/config.json"))]
    if not prior_only:
        out.append(Checkpoint("image encoder (negative embedding)", spec.prior_pipeline_id,
                              expect=("image_encoder/config.json",)))
    out.append(Checkpoint("text encoder", spec.text_encoder_id, expect=("config.json",)))
    if spec.prior == "eclipse":
        out.append(Checkpoint("prior", spec.prior_id, expect=("config.json",)))
    return out


register_family(FamilyDef(
    "kandinsky", KandinskyGenerator, SETTINGS, min_steps=1,
    prior_checkpoint={"eclipse": "prior_id", "diffusion": "prior_pipeline_id", "text": None}, checkpoints=checkpoints))
register_pairing(PairingSpec("eclipse-kandinsky", "kandinsky", "eclipse", KANDINSKY_DECODER, prior_id=ECLIPSE_KANDINSKY,
                             prior_pipeline_id=KANDINSKY_PRIOR, text_encoder_id=CLIP_BIGG, text_projection_dim=1280,
                             settings=SETTINGS, description="ECLIPSE prior (34M, ViT-bigG/14) + Kandinsky 2.2 decoder"))
register_pairing(PairingSpec("kandinsky", "kandinsky", "diffusion", KANDINSKY_DECODER, prior_pipeline_id=KANDINSKY_PRIOR,
                             settings=SETTINGS, description="Kandinsky 2.2: its diffusion prior + decoder"))
register_pairing(PairingSpec("tiny-eclipse-kandinsky", "kandinsky", "eclipse", "tiny:kandinsky-decoder",
                             prior_id="tiny:eclipse-kandinsky-prior", prior_pipeline_id="tiny:kandinsky-prior",
                             text_encoder_id="tiny:clip-text", text_projection_dim=HIDDEN, settings=TINY_SETTINGS,
                             description="offline twin of eclipse-kandinsky (tiny random weights)"))
register_pairing(PairingSpec("tiny-kandinsky", "kandinsky", "diffusion", "tiny:kandinsky-decoder",
                             prior_pipeline_id="tiny:kandinsky-prior", settings=TINY_SETTINGS,
                             description="offline twin of kandinsky (tiny random weights)"))
register_pairing(PairingSpec("text-embed-kandinsky", "kandinsky", "text", KANDINSKY_DECODER,
                             prior_pipeline_id=KANDINSKY_PRIOR, text_encoder_id=CLIP_BIGG, text_projection_dim=1280,
                             settings=SETTINGS, description="baseline: the Kandinsky 2.2 decoder fed the prompt's CLIP "
                                                            "bigG text embedding (no prior)"))
register_pairing(PairingSpec("tiny-text-embed-kandinsky", "kandinsky", "text", "tiny:kandinsky-decoder",
                             prior_pipeline_id="tiny:kandinsky-prior", text_encoder_id="tiny:clip-text",
                             text_projection_dim=HIDDEN, settings=TINY_SETTINGS,
                             description="offline twin of text-embed-kandinsky (tiny random weights)"))
