"""The generation oracle: diffusers' stock pipelines (UnCLIPPipeline; KandinskyV22PriorPipeline +
KandinskyV22Pipeline) run one image at a time with a freshly seeded torch.Generator, as the reference scripts
(eclipse-inference) do. The ECLIPSE pairings feed the ECLIPSE prior's embedding (one forward pass on noise drawn
first from the generator) to the stock decoder; that forward is eclipse-inference's, written below from the
checkpoint's state dict (EclipseInferencePrior), never our module. The text-embedding baselines feed the prompt's CLIP
text embedding. Used by the parity tests (components loaded from the saved twins) and by
scripts/bench_end_to_end.py (the same modules as the generator under test, for a fair speed ratio).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

KARLO_PARTS = ("prior", "decoder", "text_proj", "super_res_first", "super_res_last", "text_encoder", "tokenizer",
               "prior_scheduler", "decoder_scheduler", "super_res_scheduler")


def clip_text(tokenizer, model, prompt: str):
    """(projected embedding, last hidden state, mask) of one prompt, padded to 77 tokens."""
    tok = tokenizer([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    out = model(tok.input_ids.to(model.device))
    return out.text_embeds, out.last_hidden_state, tok.attention_mask.bool().to(model.device)


class EclipseInferencePrior:
    """eclipse-inference's ECLIPSE prior (src/priors/prior_transformer.py: diffusers' PriorTransformer with the
    timestep token commented out), computed here from a checkpoint's config and state dict:

    tokens = [projected text hidden states (77, padded), projected text embedding, projected noise, the prd token],
    plus the positional embedding (77 + 3 positions); additive mask = the text padding mask (-10000 on padding, 0 on
    the 3 extra tokens) + the causal mask (-10000 above the diagonal), repeated per head; diffusers'
    BasicTransformerBlock(inner, heads, head_dim, activation_fn="gelu", attention_bias=True) per layer (the block the
    reference imports); norm_out; the last (prd) token; proj_to_clip_embeddings. No timestep, no clip_mean/clip_std
    post-processing (the reference pipelines do not call post_process_latents)."""

    def __init__(self, folder):
        import json
        from pathlib import Path

        from diffusers.models.attention import BasicTransformerBlock
        from safetensors.torch import load_file

        self.config = json.loads((Path(folder) / "config.json").read_text())
        self.state = load_file(str(Path(folder) / "diffusion_pytorch_model.safetensors"))
        c = self.config
        assert c.get("norm_in_type") is None and c.get("embedding_proj_norm_type") is None  # ECLIPSE's checkpoints
        self.heads, inner = c["num_attention_heads"], c["num_attention_heads"] * c["attention_head_dim"]
        self.blocks = []
        for i in range(c["num_layers"]):
            block = BasicTransformerBlock(inner, self.heads, c["attention_head_dim"], activation_fn="gelu",
                                          attention_bias=True)
            prefix = f"transformer_blocks.{i}."
            block.load_state_dict({k[len(prefix):]: v for k, v in self.state.items() if k.startswith(prefix)})
            self.blocks.append(block.eval())
        self.dtype, self.device = self.state["proj_in.weight"].dtype, torch.device("cpu")

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.state[f"{name}.weight"], self.state[f"{name}.bias"])

    @torch.no_grad()
    def __call__(self, noise, text_embeds, hidden, mask):
        """(batch, embedding_dim) noise, (batch, dim) text embedding, (batch, 77, dim) hidden states and their (batch,
        77) padding mask -> (batch, clip_embed_dim)."""
        batch = noise.shape[0]
        x = torch.cat([self._linear("encoder_hidden_states_proj", hidden),
                       self._linear("embedding_proj", text_embeds)[:, None, :],
                       self._linear("proj_in", noise)[:, None, :],
                       self.state["prd_embedding"].expand(batch, -1, -1)], dim=1)
        x = x + self.state["positional_embedding"]
        seq = x.shape[1]
        causal = torch.full((seq, seq), -10000.0).triu_(1)[None]
        additive = torch.nn.functional.pad((1 - mask.to(x.dtype)) * -10000.0, (0, 3), value=0.0)
        additive = (additive[:, None, :] + causal).repeat_interleave(self.heads, dim=0)
        for block in self.blocks:
            x = block(x, attention_mask=additive)
        x = torch.nn.functional.layer_norm(x, (x.shape[-1],), self.state["norm_out.weight"], self.state["norm_out.bias"])
        return self._linear("proj_to_clip_embeddings", x[:, -1])


def eclipse_embedding(prior, tokenizer, text_model, prompt: str, generator: torch.Generator):
    from diffusers.utils.torch_utils import randn_tensor

    noise = randn_tensor((1, prior.config["embedding_dim"]), generator=generator, device=prior.device,
                         dtype=prior.dtype)
    embeds, hidden, mask = clip_text(tokenizer, text_model, prompt)
    return prior(noise, embeds, hidden, mask), noise


class EmbeddingAsPrior(torch.nn.Module):
    """Stand-in for the stock UnCLIP prior: the loop's result is the given embedding (eclipse-inference
    substitutes the ECLIPSE prior the same way); NoStepScheduler takes one step at t=0 and draws no noise."""

    def __init__(self, embedding: torch.Tensor):
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


class NoStepScheduler:
    init_noise_sigma = 1.0

    def set_timesteps(self, n, device=None):
        self.timesteps = torch.tensor([0])

    def step(self, model_output, timestep, sample, **_):
        return SimpleNamespace(prev_sample=sample)


def karlo_image(components: dict, spec, prompt: str, seed: int, eclipse_prior=None):
    """One image from the stock UnCLIPPipeline built from `components` (KARLO_PARTS)."""
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline

    s = spec.settings
    g = torch.Generator("cpu").manual_seed(seed)
    kw = dict(generator=g, decoder_num_inference_steps=s["decoder_steps"], decoder_guidance_scale=s["decoder_guidance"],
              super_res_num_inference_steps=s["super_res_steps"], prior_guidance_scale=s["prior_guidance"],
              prior_num_inference_steps=s["prior_steps"])
    parts = dict(components)
    if spec.prior in ("eclipse", "text"):
        tokenizer, text = parts["tokenizer"], parts["text_encoder"]
        with torch.no_grad():
            if spec.prior == "eclipse":
                emb, noise = eclipse_embedding(eclipse_prior, tokenizer, text, prompt, g)
            else:  # the baseline: the prompt's text embedding in place of the prior's output, no prior noise
                emb = clip_text(tokenizer, text, prompt)[0]
                noise = torch.zeros_like(emb)
        parts.update(prior=EmbeddingAsPrior(emb), prior_scheduler=NoStepScheduler())
        kw["prior_latents"] = noise
    pipe = UnCLIPPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe(prompt, **kw).images[0]


def kandinsky_image(decoder, spec, prompt: str, seed: int, prior_pipe=None, text=None, eclipse_prior=None,
                    image_encoder=None):
    """One image from the stock KandinskyV22Pipeline `decoder`, fed by the stock prior pipeline (diffusion
    pairing) or by the ECLIPSE prior / text embedding (text = (tokenizer, model)) with the stock zero-image
    negative embedding of `image_encoder`."""
    from diffusers import KandinskyV22PriorPipeline

    s = spec.settings
    g = torch.Generator("cpu").manual_seed(seed)
    if spec.prior in ("eclipse", "text"):
        with torch.no_grad():
            if spec.prior == "eclipse":
                embeds, _ = eclipse_embedding(eclipse_prior, text[0], text[1], prompt, g)
            else:
                embeds = clip_text(text[0], text[1], prompt)[0]
            host = prior_pipe or SimpleNamespace(image_encoder=image_encoder, device=image_encoder.device)
            negative = KandinskyV22PriorPipeline.get_zero_embed(host)
    else:
        out = prior_pipe(prompt, generator=g, num_inference_steps=s["prior_steps"], guidance_scale=s["prior_guidance"])
        embeds, negative = out.image_embeds, out.negative_image_embeds
    return decoder(image_embeds=embeds, negative_image_embeds=negative, generator=g, height=s["height"],
                   width=s["width"], num_inference_steps=s["decoder_steps"], guidance_scale=s["decoder_guidance"]
                   ).images[0]
