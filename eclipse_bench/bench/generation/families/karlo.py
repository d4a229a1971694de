"""The Karlo decoder family (kakaobrain/karlo-v1-alpha: text_proj + 64 px decoder UNet + two super-res UNets),
fed by an ECLIPSE prior (one forward pass) or Karlo's own diffusion prior. One module: its generator, default
settings and constraints, checkpoint slots, pairings and tiny twins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.tiny import HIDDEN, TWIN_PREDICTION, register_tiny, tiny_clip_text, tiny_diffusion_prior
from eclipse_bench.bench.core.tokenizers import build_clip_tokenizer
from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer, tiny_eclipse_prior as _eclipse_prior
from eclipse_bench.bench.generation.generator import (ClipTextEncoder, Generator, TextEncoding, prior_in_dim,
                                                      prior_out_dim, seeded_randn, to_pil)
from eclipse_bench.bench.generation.pairings import FamilyDef, PairingSpec, register_family, register_pairing

KARLO = "kakaobrain/karlo-v1-alpha"
ECLIPSE_KARLO = "ECLIPSE-Community/ECLIPSE_Karlo_Prior"
# Defaults from the reference pipelines (shared/reference/eclipse-and-decoders.md).
SETTINGS = {"prior_steps": 25, "prior_guidance": 4.0, "decoder_steps": 25, "decoder_guidance": 8.0,
            "super_res_steps": 7}
TINY_SETTINGS = {**SETTINGS, "prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2}


class KarloGenerator(Generator):
    """Karlo's decoder (text_proj + 64px UNet) and super-res UNets, fed by an ECLIPSE or Karlo prior."""

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype, prior_only: bool = False,
                 revisions: Optional[dict] = None):
        super().__init__(spec, device, dtype, prior_only, revisions)
        from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel, UnCLIPScheduler  # lazy: diffusers
        from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel  # lazy: diffusers
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer  # lazy: transformers

        rid = spec.decoder_id
        kw = {"torch_dtype": dtype}
        self.text = ClipTextEncoder(self.load(CLIPTokenizer, rid, "tokenizer"),
                                    self.load(CLIPTextModelWithProjection, rid, "text_encoder", **kw).to(device).eval(),
                                    device)
        self.text_proj = self.load(UnCLIPTextProjModel, rid, "text_proj", **kw).to(device).eval()
        if spec.prior == "text":  # the baseline: the text embedding itself in place of a prior's output
            self.prior = None
            self.check_dims("text embedding size vs decoder embedding size", self.text.projection_dim,
                            int(self.text_proj.config.clip_embeddings_dim))
        else:
            if spec.prior == "eclipse":
                self.prior = self.load(EclipsePriorTransformer, spec.prior_id, **kw).to(device).eval()
            else:
                self.prior = self.load(PriorTransformer, rid, "prior", **kw).to(device).eval()
                self.prior_scheduler = self.load(UnCLIPScheduler, rid, "prior_scheduler")
            self.check_dims("text embedding size vs prior input size", self.text.projection_dim,
                            prior_in_dim(self.prior))
            self.check_dims("prior output size vs decoder embedding size", prior_out_dim(self.prior),
                            int(self.text_proj.config.clip_embeddings_dim))
        self.stages = ("text_encoder", "prior", "decoder", "super_res")
        if prior_only:
            return
        self.decoder = self.load(UNet2DConditionModel, rid, "decoder", **kw).to(device).eval()
        self.decoder_scheduler = self.load(UnCLIPScheduler, rid, "decoder_scheduler")
        self.sr_first = self.load(UNet2DModel, rid, "super_res_first", **kw).to(device).eval()
        self.sr_last = self.load(UNet2DModel, rid, "super_res_last", **kw).to(device).eval()
        self.sr_scheduler = self.load(UnCLIPScheduler, rid, "super_res_scheduler")

    @property
    def guided(self) -> bool:
        """Stock UnCLIPPipeline's single classifier-free-guidance flag, shared by the prior and the decoder."""
        return float(self.settings["prior_guidance"]) > 1.0 or float(self.settings["decoder_guidance"]) > 1.0

    def _text_stage(self, prompts):
        B = len(prompts)
        with self.stage("text_encoder"):
            # prior-only with the ECLIPSE prior: nothing downstream needs the 77-token padding
            cond = self.text.encode_batch(prompts, compact=self.prior_only and self.spec.prior == "eclipse")
            empty = self.text([""])
            uncond = TextEncoding(empty.embeds.expand(B, -1), empty.hidden.expand(B, -1, -1), empty.mask.expand(B, -1))
        return cond, uncond

    def _prior_stage(self, cond, uncond, gens):
        with self.stage("prior"):
            return cond.embeds if self.prior is None else self._prior(cond, uncond, gens)

    def _embed(self, prompts, gens):
        cond, uncond = self._text_stage(prompts)
        return cond.embeds, self._prior_stage(cond, uncond, gens)

    def text_embeddings(self, texts):
        return self.text.embeds_only(texts)

    def conv_modules(self):
        return [] if self.prior_only else [self.decoder, self.sr_first, self.sr_last]

    def _generate(self, prompts, gens):
        cond, uncond = self._text_stage(prompts)
        embeds = self._prior_stage(cond, uncond, gens)
        with self.stage("decoder"):
            small = self._decode(embeds, cond, uncond, gens)
        with self.stage("super_res"):
            images = self._super_res(small, gens)
        return to_pil(images * 0.5 + 0.5)

    def _prior(self, cond: TextEncoding, uncond: TextEncoding, gens) -> torch.Tensor:
        B, dim = cond.embeds.shape[0], self.prior.config["embedding_dim"]
        noise = seeded_randn((B, dim), gens, self.device, self.dtype)
        if self.spec.prior == "eclipse":  # one forward pass, no scheduler, no guidance
            return self.prior(noise, cond.embeds, cond.hidden, cond.mask)
        s, sched = self.settings, self.prior_scheduler
        guidance = float(s["prior_guidance"])
        cfg = self.guided
        text = TextEncoding.cat(uncond, cond) if cfg else cond
        sched.set_timesteps(int(s["prior_steps"]), device=self.device)
        latents = noise * sched.init_noise_sigma
        steps = sched.timesteps
        for i, t in enumerate(steps):
            inp = torch.cat([latents, latents]) if cfg else latents
            pred = self.prior(inp, timestep=t, proj_embedding=text.embeds, encoder_hidden_states=text.hidden,
                              attention_mask=text.mask).predicted_image_embedding
            if cfg:
                u, c = pred.chunk(2)
                pred = u + guidance * (c - u)
            prev = steps[i + 1] if i + 1 < len(steps) else None
            latents = sched.step(pred, timestep=t, sample=latents, generator=gens, prev_timestep=prev).prev_sample
        return self.prior.post_process_latents(latents)

    def _decode(self, embeds: torch.Tensor, cond: TextEncoding, uncond: TextEncoding, gens) -> torch.Tensor:
        s, sched = self.settings, self.decoder_scheduler
        guidance = float(s["decoder_guidance"])
        cfg = self.guided
        text = TextEncoding.cat(uncond, cond) if cfg else cond
        hidden, time_emb = self.text_proj(image_embeddings=embeds.to(self.dtype), prompt_embeds=text.embeds,
                                          text_encoder_hidden_states=text.hidden, do_classifier_free_guidance=cfg)
        mask = F.pad(text.mask, (self.text_proj.clip_extra_context_tokens, 0), value=True)
        size = self.decoder.config.sample_size
        sched.set_timesteps(int(s["decoder_steps"]), device=self.device)
        latents = seeded_randn((len(gens), self.decoder.config.in_channels, size, size), gens, self.device, self.dtype)
        latents = latents * sched.init_noise_sigma
        steps = sched.timesteps
        for i, t in enumerate(steps):
            inp = torch.cat([latents, latents]) if cfg else latents
            out = self.decoder(sample=inp, timestep=t, encoder_hidden_states=hidden, class_labels=time_emb,
                               attention_mask=mask).sample
            if cfg:
                u, c = out.chunk(2)
                u, _ = u.split(latents.shape[1], dim=1)
                c, var = c.split(latents.shape[1], dim=1)
                out = torch.cat([u + guidance * (c - u), var], dim=1)
            prev = steps[i + 1] if i + 1 < len(steps) else None
            latents = sched.step(out, t, latents, prev_timestep=prev, generator=gens).prev_sample
        return latents.clamp(-1, 1)

    def _super_res(self, small: torch.Tensor, gens) -> torch.Tensor:
        sched = self.sr_scheduler
        size = self.sr_first.config.sample_size
        sched.set_timesteps(int(self.settings["super_res_steps"]), device=self.device)
        latents = seeded_randn((len(gens), self.sr_first.config.in_channels // 2, size, size), gens, self.device, self.dtype)
        latents = latents * sched.init_noise_sigma
        # bicubic with antialias has no half-precision CPU kernel: resample in fp32, then cast back
        upscaled = F.interpolate(small.float(), size=[size, size], mode="bicubic", align_corners=False,
                                 antialias=True).to(small.dtype)
        steps = sched.timesteps
        for i, t in enumerate(steps):
            unet = self.sr_last if i == len(steps) - 1 else self.sr_first
            out = unet(sample=torch.cat([latents, upscaled], dim=1), timestep=t).sample
            prev = steps[i + 1] if i + 1 < len(steps) else None
            latents = sched.step(out, t, latents, prev_timestep=prev, generator=gens).prev_sample
        return latents


# -- tiny twins ---------------------------------------------------------------------------------------------

def build_karlo(out: Path) -> None:
    """Stands in for kakaobrain/karlo-v1-alpha: the full UnCLIP pipeline layout."""
    import torch  # lazy: torch
    from diffusers import UNet2DConditionModel, UNet2DModel, UnCLIPScheduler  # lazy: diffusers
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline, UnCLIPTextProjModel  # lazy: diffusers

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
    sr_first = UNet2DModel(**sr)
    torch.manual_seed(1)
    sr_last = UNet2DModel(**sr)
    pipe = UnCLIPPipeline(
        prior=tiny_diffusion_prior(), decoder=decoder, text_encoder=tiny_clip_text(), tokenizer=build_clip_tokenizer(),
        text_proj=text_proj, super_res_first=sr_first, super_res_last=sr_last,
        prior_scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                        num_train_timesteps=1000, clip_sample_range=5.0),
        # x0 ("sample") prediction where Karlo predicts noise: see TWIN_PREDICTION in eclipse_bench.bench.core.tiny
        decoder_scheduler=UnCLIPScheduler(variance_type="learned_range", prediction_type=TWIN_PREDICTION,
                                          num_train_timesteps=1000),
        super_res_scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type=TWIN_PREDICTION,
                                            num_train_timesteps=1000),
    )
    pipe.save_pretrained(out)


def build_eclipse_karlo_prior(out: Path) -> None:
    _eclipse_prior(1).save_pretrained(out)


register_tiny("karlo", build_karlo)
register_tiny("eclipse-karlo-prior", build_eclipse_karlo_prior, uses=(_eclipse_prior.__module__,))

# -- the family and its pairings ------------------------------------------------------------------------------

def checkpoints(spec: PairingSpec, prior_only: bool = False) -> list:
    """The UnCLIP repository (text encoder, text_proj and the diffusion prior live in it too) and an ECLIPSE prior."""
    parts = ["text_encoder", "text_proj"] + ([] if prior_only else ["decoder", "super_res_first", "super_res_last"])
    if spec.prior == "diffusion":
        parts.append("prior")
    out = [Checkpoint("decoder" if not prior_only else "text encoder", spec.decoder_id,
                      expect=tuple(f"{p}/config.json" for p in parts))]
    if spec.prior == "eclipse":
        out.append(Checkpoint("prior", spec.prior_id, expect=("config.json",)))
    return out


register_family(FamilyDef(
    "karlo", KarloGenerator, SETTINGS, min_steps=2,  # Karlo's UnCLIP scheduler needs at least 2 steps
    prior_checkpoint={"eclipse": "prior_id", "diffusion": None, "text": None}, checkpoints=checkpoints))
register_pairing(PairingSpec("eclipse-karlo", "karlo", "eclipse", KARLO, prior_id=ECLIPSE_KARLO, settings=SETTINGS,
                             description="ECLIPSE prior (33M, ViT-L/14) + Karlo decoder and super-res"))
register_pairing(PairingSpec("karlo", "karlo", "diffusion", KARLO, settings=SETTINGS,
                             description="Karlo v1 alpha: its diffusion prior + decoder and super-res"))
register_pairing(PairingSpec("tiny-eclipse-karlo", "karlo", "eclipse", "tiny:karlo", prior_id="tiny:eclipse-karlo-prior",
                             settings=TINY_SETTINGS, description="offline twin of eclipse-karlo (tiny random weights)"))
register_pairing(PairingSpec("tiny-karlo", "karlo", "diffusion", "tiny:karlo", settings=TINY_SETTINGS,
                             description="offline twin of karlo (tiny random weights)"))
register_pairing(PairingSpec("text-embed-karlo", "karlo", "text", KARLO, settings=SETTINGS,
                             description="baseline: Karlo's decoder fed the prompt's CLIP text embedding (no prior)"))
register_pairing(PairingSpec("tiny-text-embed-karlo", "karlo", "text", "tiny:karlo", settings=TINY_SETTINGS,
                             description="offline twin of text-embed-karlo (tiny random weights)"))
