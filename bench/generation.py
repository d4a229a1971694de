"""Image generators for the two decoder families, each with an ECLIPSE or a diffusion prior.

Every image has its own CPU torch.Generator seeded with its seed; all of that image's noise (prior
noise, decoder latents, scheduler noise, super-res latents) is drawn from it in a fixed order, so an
image does not depend on the batch it was generated in. Stage times are accumulated in `timings`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F

from eclipse_bench.errors import UserError
from eclipse_bench.models.loaders import load
from eclipse_bench.pairings import PairingSpec

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TextEncoding:
    embeds: torch.Tensor   # (B, D) projected text embedding
    hidden: torch.Tensor   # (B, T, H) last hidden state
    mask: torch.Tensor     # (B, T) bool, True = real token

    def index(self, idx: torch.Tensor) -> "TextEncoding":
        return TextEncoding(self.embeds[idx], self.hidden[idx], self.mask[idx])

    @staticmethod
    def cat(a: "TextEncoding", b: "TextEncoding") -> "TextEncoding":
        return TextEncoding(torch.cat([a.embeds, b.embeds]), torch.cat([a.hidden, b.hidden]),
                            torch.cat([a.mask, b.mask]))


class ClipTextEncoder:
    def __init__(self, tokenizer: Any, model: Any, device: str):
        self.tokenizer, self.model, self.device = tokenizer, model, device
        if getattr(tokenizer, "model_max_length", 0) > 10_000:
            tokenizer.model_max_length = 77

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> TextEncoding:
        tok = self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
        out = self.model(tok.input_ids.to(self.device))
        return TextEncoding(out.text_embeds, out.last_hidden_state, tok.attention_mask.bool().to(self.device))

    def encode_batch(self, prompts: Sequence[str]) -> TextEncoding:
        """Encode each distinct prompt once, then index back to the batch order."""
        unique = list(dict.fromkeys(prompts))
        enc = self(unique)
        pos = {p: i for i, p in enumerate(unique)}
        return enc.index(torch.tensor([pos[p] for p in prompts], device=enc.embeds.device))

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)


def _randn(shape: tuple[int, ...], gens: list[torch.Generator], device: str, dtype: torch.dtype) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=gens, device=torch.device(device), dtype=dtype)


def _prior_out_dim(prior: Any) -> int:
    cfg = prior.config
    return int(cfg.get("clip_embed_dim") or cfg["embedding_dim"])


def _prior_in_dim(prior: Any) -> int:
    cfg = prior.config
    return int(cfg.get("embedding_proj_dim") or cfg["embedding_dim"])


class Generator:
    """Base: stage timings, a seeded batch API and the embedding-size check."""

    stages: tuple[str, ...] = ()

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype):
        self.spec, self.device, self.dtype = spec, device, dtype
        self.settings = dict(spec.settings)
        self.timings: dict[str, float] = {}
        self.peak_memory_mb: dict[str, float] = {}   # per stage, CUDA only
        self.calls = 0  # batches run (tests count model work with it)

    @contextlib.contextmanager
    def stage(self, name: str):
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        yield
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
            self.peak_memory_mb[name] = round(max(peak, self.peak_memory_mb.get(name, 0.0)), 1)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def check_dims(self, what: str, produced: int, expected: int) -> None:
        if produced != expected:
            raise UserError(
                f"pairing {self.spec.name!r}: {what} ({produced} vs {expected}); the prior and the decoder must "
                f"share one CLIP embedding space: use a prior checkpoint trained for this decoder"
            )

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list:
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        self.calls += 1
        return self._generate(list(prompts), gens)

    def _generate(self, prompts: list[str], gens: list[torch.Generator]) -> list:
        raise NotImplementedError


class KarloGenerator(Generator):
    """Karlo's decoder (text_proj + 64px UNet) and super-res UNets, fed by an ECLIPSE or Karlo prior."""

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype):
        super().__init__(spec, device, dtype)
        from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel, UnCLIPScheduler
        from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer

        from eclipse_bench.models.eclipse_prior import EclipsePriorTransformer

        rid = spec.decoder_id
        kw = {"torch_dtype": dtype}
        self.text = ClipTextEncoder(load(CLIPTokenizer, rid, "tokenizer"),
                                    load(CLIPTextModelWithProjection, rid, "text_encoder", **kw).to(device).eval(),
                                    device)
        self.text_proj = load(UnCLIPTextProjModel, rid, "text_proj", **kw).to(device).eval()
        if spec.prior == "eclipse":
            self.prior = load(EclipsePriorTransformer, spec.prior_id, **kw).to(device).eval()
        else:
            self.prior = load(PriorTransformer, rid, "prior", **kw).to(device).eval()
            self.prior_scheduler = load(UnCLIPScheduler, rid, "prior_scheduler")
        self.check_dims("text embedding size vs prior input size", self.text.projection_dim, _prior_in_dim(self.prior))
        self.check_dims("prior output size vs decoder embedding size", _prior_out_dim(self.prior),
                        int(self.text_proj.config.clip_embeddings_dim))
        self.decoder = load(UNet2DConditionModel, rid, "decoder", **kw).to(device).eval()
        self.decoder_scheduler = load(UnCLIPScheduler, rid, "decoder_scheduler")
        self.sr_first = load(UNet2DModel, rid, "super_res_first", **kw).to(device).eval()
        self.sr_last = load(UNet2DModel, rid, "super_res_last", **kw).to(device).eval()
        self.sr_scheduler = load(UnCLIPScheduler, rid, "super_res_scheduler")
        self.stages = ("text_encoder", "prior", "decoder", "super_res")

    @property
    def guided(self) -> bool:
        """Stock UnCLIPPipeline's single classifier-free-guidance flag, shared by the prior and the decoder."""
        return float(self.settings["prior_guidance"]) > 1.0 or float(self.settings["decoder_guidance"]) > 1.0

    def _generate(self, prompts, gens):
        B = len(prompts)
        with self.stage("text_encoder"):
            cond = self.text.encode_batch(prompts)
            empty = self.text([""])
            uncond = TextEncoding(empty.embeds.expand(B, -1), empty.hidden.expand(B, -1, -1), empty.mask.expand(B, -1))
        with self.stage("prior"):
            embeds = self._prior(cond, uncond, gens)
        with self.stage("decoder"):
            small = self._decode(embeds, cond, uncond, gens)
        with self.stage("super_res"):
            images = self._super_res(small, gens)
        return _to_pil(images * 0.5 + 0.5)

    def _prior(self, cond: TextEncoding, uncond: TextEncoding, gens) -> torch.Tensor:
        B, dim = cond.embeds.shape[0], self.prior.config["embedding_dim"]
        noise = _randn((B, dim), gens, self.device, self.dtype)
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
        latents = _randn((len(gens), self.decoder.config.in_channels, size, size), gens, self.device, self.dtype)
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
        latents = _randn((len(gens), self.sr_first.config.in_channels // 2, size, size), gens, self.device, self.dtype)
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


class KandinskyGenerator(Generator):
    """Kandinsky 2.2's decoder fed with image embeddings from an ECLIPSE or the 2.2 diffusion prior."""

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype):
        super().__init__(spec, device, dtype)
        from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer, CLIPVisionModelWithProjection

        from eclipse_bench.models.eclipse_prior import EclipsePriorTransformer

        kw = {"torch_dtype": dtype}
        self.decoder = load(KandinskyV22Pipeline, spec.decoder_id, **kw).to(device)
        self.decoder.set_progress_bar_config(disable=True)
        decoder_dim = int(self.decoder.unet.config.encoder_hid_dim)
        if spec.prior == "eclipse":
            text_kw = dict(kw)
            if spec.text_projection_dim:  # laion's bigG root config lacks text_config.projection_dim (default 512)
                text_kw["projection_dim"] = int(spec.text_projection_dim)
            self.text = ClipTextEncoder(load(CLIPTokenizer, spec.text_encoder_id),
                                        load(CLIPTextModelWithProjection, spec.text_encoder_id, **text_kw)
                                        .to(device).eval(), device)
            self.prior = load(EclipsePriorTransformer, spec.prior_id, **kw).to(device).eval()
            self.check_dims("text embedding size vs prior input size", self.text.projection_dim,
                            _prior_in_dim(self.prior))
            self.check_dims("prior output size vs decoder embedding size", _prior_out_dim(self.prior), decoder_dim)
            self.image_encoder = load(CLIPVisionModelWithProjection, spec.prior_pipeline_id, "image_encoder",
                                      **kw).to(device).eval()
            self._zero: Optional[torch.Tensor] = None
            self.stages = ("text_encoder", "prior", "decoder")
        else:
            self.prior_pipe = load(KandinskyV22PriorPipeline, spec.prior_pipeline_id, **kw).to(device)
            self.prior_pipe.set_progress_bar_config(disable=True)
            self.check_dims("prior output size vs decoder embedding size", _prior_out_dim(self.prior_pipe.prior),
                            decoder_dim)
            self.stages = ("prior", "decoder")  # the prior pipeline encodes the text itself

    def zero_image_embedding(self) -> torch.Tensor:
        """The negative embedding: the image encoder's embedding of an all-zero image (computed once)."""
        if self._zero is None:
            size = self.image_encoder.config.image_size
            zeros = torch.zeros(1, 3, size, size, device=self.device, dtype=self.dtype)
            self._zero = self.image_encoder(zeros).image_embeds
        return self._zero

    def _generate(self, prompts, gens):
        s, B = self.settings, len(prompts)
        if self.spec.prior == "eclipse":
            with self.stage("text_encoder"):
                cond = self.text.encode_batch(prompts)
            with self.stage("prior"):
                noise = _randn((B, self.prior.config["embedding_dim"]), gens, self.device, self.dtype)
                embeds = self.prior(noise, cond.embeds, cond.hidden, cond.mask)
                negative = self.zero_image_embedding().expand(B, -1)
        else:
            with self.stage("prior"):
                out = self.prior_pipe(prompt=prompts, generator=gens, num_inference_steps=int(s["prior_steps"]),
                                      guidance_scale=float(s["prior_guidance"]), output_type="pt")
                embeds, negative = out.image_embeds, out.negative_image_embeds
        with self.stage("decoder"):
            images = self.decoder(image_embeds=embeds, negative_image_embeds=negative, generator=gens,
                                  num_inference_steps=int(s["decoder_steps"]),
                                  guidance_scale=float(s["decoder_guidance"]), height=int(s["height"]),
                                  width=int(s["width"]), output_type="pt").images
        # output_type="pt" is the raw decoder output in [-1, 1]; diffusers rescales only for "np"/"pil"
        return _to_pil(images * 0.5 + 0.5)


def _to_pil(images: torch.Tensor) -> list:
    """(B, 3, H, W) in [0, 1] -> PIL images, quantised like diffusers' numpy_to_pil."""
    from PIL import Image

    arr = images.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
    return [Image.fromarray((a * 255).round().astype("uint8")) for a in arr]


FAMILIES = {"karlo": KarloGenerator, "kandinsky": KandinskyGenerator}


def load_generator(spec: PairingSpec, device: Optional[str] = None, dtype: str = "fp32") -> Generator:
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    device = device or default_device()
    if dtype not in DTYPES:
        raise UserError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")
    return FAMILIES[spec.family](spec, device, DTYPES[dtype])
