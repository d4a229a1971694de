"""Generation parity: each tiny pairing against diffusers' stock pipelines built from the same saved twins.

The oracle never runs our generator code: it loads the twin directories with diffusers' own pipelines
(UnCLIPPipeline; KandinskyV22PriorPipeline + KandinskyV22Pipeline) and a seeded torch.Generator. The ECLIPSE
pairings feed the ECLIPSE prior's embedding (one forward pass on noise drawn first from the generator, as
eclipse-inference does) to the stock decoder. Plus a pinned output slice per pairing, as diffusers' tests do.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from eclipse_bench.generation import load_generator
from eclipse_bench.models.tiny import resolve
from eclipse_bench.pairings import PAIRINGS

PAIRING_NAMES = ("tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky", "tiny-text-embed-karlo",
                 "tiny-text-embed-kandinsky")
PROMPTS = ("a red car and a blue bench", "a green apple", "a cat on the left of a dog")
SEEDS = (42, 43, 51)


@pytest.fixture(scope="module")
def generators():
    return {name: load_generator(PAIRINGS.get(name), "cpu", "fp32") for name in PAIRING_NAMES}


def _text(tokenizer, model, prompt):
    tok = tokenizer([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    out = model(tok.input_ids)
    return out.text_embeds, out.last_hidden_state, tok.attention_mask.bool()


def _eclipse_embedding(prior_id, tokenizer, text_model, prompt, generator):
    from diffusers.utils.torch_utils import randn_tensor

    from eclipse_bench.models.eclipse_prior import EclipsePriorTransformer

    prior = EclipsePriorTransformer.from_pretrained(resolve(prior_id)).eval()
    noise = randn_tensor((1, prior.config["embedding_dim"]), generator=generator)
    embeds, hidden, mask = _text(tokenizer, text_model, prompt)
    return prior(noise, embeds, hidden, mask), noise


class _EmbeddingAsPrior(torch.nn.Module):
    """Stand-in for the stock UnCLIP prior: the loop's result is the ECLIPSE embedding (eclipse-inference
    substitutes it the same way); its scheduler stand-in takes one step at t=0 and draws no noise."""

    def __init__(self, embedding):
        super().__init__()
        self.embedding = embedding
        self.config = SimpleNamespace(embedding_dim=embedding.shape[-1])

    @property
    def device(self):
        return self.embedding.device

    @property
    def dtype(self):
        return self.embedding.dtype

    def forward(self, latents, **_):
        return SimpleNamespace(predicted_image_embedding=latents)

    def post_process_latents(self, latents):
        return self.embedding


class _NoStepScheduler:
    init_noise_sigma = 1.0

    def set_timesteps(self, n, device=None):
        self.timesteps = torch.tensor([0])

    def step(self, model_output, timestep, sample, **_):
        return SimpleNamespace(prev_sample=sample)


def _stock_karlo(spec, prompt, seed):
    from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel, UnCLIPScheduler
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline, UnCLIPTextProjModel
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    root = resolve(spec.decoder_id)
    # from the components (model_index.json names text_proj's module `unclip`, now a deprecated pipeline)
    parts = {"prior": PriorTransformer, "decoder": UNet2DConditionModel, "text_proj": UnCLIPTextProjModel,
             "super_res_first": UNet2DModel, "super_res_last": UNet2DModel, "text_encoder": CLIPTextModelWithProjection,
             "tokenizer": CLIPTokenizer, "prior_scheduler": UnCLIPScheduler, "decoder_scheduler": UnCLIPScheduler,
             "super_res_scheduler": UnCLIPScheduler}
    pipe = UnCLIPPipeline(**{k: cls.from_pretrained(root, subfolder=k) for k, cls in parts.items()})
    pipe.set_progress_bar_config(disable=True)
    s = spec.settings
    g = torch.Generator("cpu").manual_seed(seed)
    kw = dict(generator=g, decoder_num_inference_steps=s["decoder_steps"], decoder_guidance_scale=s["decoder_guidance"],
              super_res_num_inference_steps=s["super_res_steps"], prior_guidance_scale=s["prior_guidance"],
              prior_num_inference_steps=s["prior_steps"])
    if spec.prior in ("eclipse", "text"):
        with torch.no_grad():
            if spec.prior == "eclipse":
                emb, noise = _eclipse_embedding(spec.prior_id, pipe.tokenizer, pipe.text_encoder, prompt, g)
            else:  # the baseline: the prompt's text embedding in place of the prior's output, no prior noise
                emb = _text(pipe.tokenizer, pipe.text_encoder, prompt)[0]
                noise = torch.zeros_like(emb)
        pipe = UnCLIPPipeline(**{**pipe.components, "prior": _EmbeddingAsPrior(emb),
                                 "prior_scheduler": _NoStepScheduler()})
        pipe.set_progress_bar_config(disable=True)
        kw["prior_latents"] = noise
    return pipe(prompt, **kw).images[0]


def _stock_kandinsky(spec, prompt, seed):
    from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    prior_pipe = KandinskyV22PriorPipeline.from_pretrained(resolve(spec.prior_pipeline_id))
    decoder = KandinskyV22Pipeline.from_pretrained(resolve(spec.decoder_id))
    for p in (prior_pipe, decoder):
        p.set_progress_bar_config(disable=True)
    s = spec.settings
    g = torch.Generator("cpu").manual_seed(seed)
    if spec.prior in ("eclipse", "text"):
        root = resolve(spec.text_encoder_id)
        text = CLIPTextModelWithProjection.from_pretrained(root, projection_dim=spec.text_projection_dim).eval()
        with torch.no_grad():
            if spec.prior == "eclipse":
                embeds, _ = _eclipse_embedding(spec.prior_id, CLIPTokenizer.from_pretrained(root), text, prompt, g)
            else:
                embeds = _text(CLIPTokenizer.from_pretrained(root), text, prompt)[0]
            negative = prior_pipe.get_zero_embed()
    else:
        out = prior_pipe(prompt, generator=g, num_inference_steps=s["prior_steps"], guidance_scale=s["prior_guidance"])
        embeds, negative = out.image_embeds, out.negative_image_embeds
    return decoder(image_embeds=embeds, negative_image_embeds=negative, generator=g, height=s["height"],
                   width=s["width"], num_inference_steps=s["decoder_steps"], guidance_scale=s["decoder_guidance"]
                   ).images[0]


def _stock(name, prompt, seed):
    spec = PAIRINGS.get(name)
    return np.asarray(_stock_karlo(spec, prompt, seed) if spec.family == "karlo" else _stock_kandinsky(spec, prompt, seed),
                      dtype=np.int16)


@pytest.fixture(scope="module")
def stock_images():
    return {(name, i): _stock(name, PROMPTS[i], SEEDS[i]) for name in PAIRING_NAMES for i in range(len(PROMPTS))}


@pytest.mark.parametrize("name", PAIRING_NAMES)
def test_equals_stock_pipelines_at_batch_1(generators, stock_images, name):
    for i, (prompt, seed) in enumerate(zip(PROMPTS, SEEDS)):
        ours = np.asarray(generators[name].generate([prompt], [seed])[0], dtype=np.int16)
        ref = stock_images[(name, i)]
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() == 0, f"{name}, {prompt!r}, seed {seed}"
        assert ref.std() > 1.0  # not a blank or constant image


@pytest.mark.parametrize("name", PAIRING_NAMES)
def test_batched_within_one_level_of_stock(generators, stock_images, name):
    ours = generators[name].generate(list(PROMPTS), list(SEEDS))
    for i, im in enumerate(ours):
        assert np.abs(np.asarray(im, dtype=np.int16) - stock_images[(name, i)]).max() <= 1


def test_kandinsky_images_use_the_full_range(stock_images):
    """The decoder's [-1, 1] output is rescaled, not clamped: no half-black images."""
    for name in ("tiny-eclipse-kandinsky", "tiny-kandinsky", "tiny-text-embed-kandinsky"):
        img = stock_images[(name, 0)]
        assert (img == 0).mean() < 0.25 and img.mean() > 64  # clamping [-1, 1] to [0, 1] blacks out ~half


# 3x3 slices of the bottom-right corner (channel 0) of the first prompt at seed 42, in [0, 1] as diffusers'
# expected_slice checks. A changed loop, scaling or scheduler moves them by far more than 1e-2.
EXPECTED_SLICES = {
    "tiny-eclipse-karlo": [[0.0039, 0.0, 0.9961], [1.0, 1.0, 0.0], [1.0, 0.0, 0.9961]],
    "tiny-karlo": [[0.0039, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
    "tiny-eclipse-kandinsky": [[0.5882, 0.7961, 0.4157], [0.4549, 0.3922, 0.451], [0.5098, 0.4863, 0.3412]],
    "tiny-kandinsky": [[0.5216, 0.3059, 0.4157], [0.5373, 0.5882, 0.4941], [0.5333, 0.4078, 0.3804]],
    "tiny-text-embed-karlo": [[0.0039, 0.0, 1.0], [0.0039, 0.0, 1.0], [0.0, 1.0, 1.0]],
    "tiny-text-embed-kandinsky": [[0.0275, 0.7255, 0.3686], [0.0, 0.5137, 0.6667], [0.4392, 0.8, 0.7137]],
}


@pytest.mark.parametrize("name", PAIRING_NAMES)
def test_pinned_output_slice(generators, name):
    img = np.asarray(generators[name].generate([PROMPTS[0]], [SEEDS[0]])[0], dtype=np.float64) / 255.0
    got = img[-3:, -3:, 0]
    assert np.abs(got - np.array(EXPECTED_SLICES[name])).max() < 1e-2
