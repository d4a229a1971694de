"""The ECLIPSE prior module: checkpoint naming, loading through the loader, one forward pass."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import PriorTransformer
from safetensors.torch import save_file

from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer
from eclipse_bench.bench.core.loaders import load

SMALL = dict(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=2)


def test_parameter_names_are_the_released_checkpoints():
    """Released ECLIPSE checkpoints = diffusers PriorTransformer without its time embedding, 3 extra tokens."""
    ours = EclipsePriorTransformer(**SMALL).state_dict()
    stock = PriorTransformer(**SMALL).state_dict()
    expected = {k for k in stock if not k.startswith(("time_proj", "time_embedding"))}
    assert set(ours) == expected
    for k in expected - {"positional_embedding"}:
        assert ours[k].shape == stock[k].shape, k
    assert ours["positional_embedding"].shape == (1, 77 + 3, 24)  # stock: 77 + 4


def _released_style_checkpoint(path, seed=0):
    """A checkpoint written the way the hub's ECLIPSE priors are: PriorTransformer config, no time weights."""
    torch.manual_seed(seed)
    donor = EclipsePriorTransformer(**SMALL)
    state = {k: torch.randn_like(v) * 0.02 for k, v in donor.state_dict().items()}
    state["clip_std"] = torch.ones_like(state["clip_std"])
    path.mkdir()
    save_file(state, str(path / "diffusion_pytorch_model.safetensors"))
    config = {"_class_name": "PriorTransformer", "_diffusers_version": "0.20.2", "additional_embeddings": 3,
              "added_emb_type": "prd", "attention_head_dim": 12, "dropout": 0.0, "embedding_dim": 32,
              "embedding_proj_dim": None, "embedding_proj_norm_type": None, "encoder_hid_proj_type": "linear",
              "norm_in_type": None, "num_attention_heads": 2, "num_embeddings": 77, "num_layers": 2,
              "clip_embed_dim": None, "time_embed_act_fn": "silu", "time_embed_dim": None}
    (path / "config.json").write_text(json.dumps(config))
    return state


def test_loads_a_released_style_checkpoint_and_gives_one_embedding_per_prompt(tmp_path):
    state = _released_style_checkpoint(tmp_path / "ckpt")
    prior = load(EclipsePriorTransformer, str(tmp_path / "ckpt")).eval()
    for k, v in prior.state_dict().items():
        assert torch.equal(v, state[k]), k
    calls = []
    prior.register_forward_hook(lambda *a: calls.append(1))
    batch = 5
    text = torch.randn(batch, 32)
    hidden = torch.randn(batch, 77, 32)
    mask = torch.ones(batch, 77, dtype=torch.bool)
    mask[:, 10:] = False
    with torch.no_grad():
        out = prior(torch.randn(batch, 32), text, hidden, mask)
    assert out.shape == (batch, 32) and len(calls) == 1
    assert torch.isfinite(out).all() and out.std() > 0


def test_padding_tokens_are_masked_and_prompts_are_independent(tmp_path):
    _released_style_checkpoint(tmp_path / "ckpt")
    prior = load(EclipsePriorTransformer, str(tmp_path / "ckpt")).eval()
    torch.manual_seed(1)
    noise, text, hidden = torch.randn(2, 32), torch.randn(2, 32), torch.randn(2, 77, 32)
    mask = torch.zeros(2, 77, dtype=torch.bool)
    mask[:, :6] = True
    with torch.no_grad():
        both = prior(noise, text, hidden, mask)
        first = prior(noise[:1], text[:1], hidden[:1], mask[:1])
        changed_pad = hidden.clone()
        changed_pad[:, 6:] += 5.0  # masked positions must not matter
        masked = prior(noise, text, changed_pad, mask)
    assert torch.allclose(both[:1], first, atol=1e-5)
    assert torch.allclose(both, masked, atol=1e-5)


def test_missing_checkpoint_directory_is_a_user_error(tmp_path):
    from eclipse_bench.bench.core.errors import UserError

    with pytest.raises(UserError, match="does not exist"):
        load(EclipsePriorTransformer, str(tmp_path / "nope"))


def test_offline_hub_id_is_a_user_error_naming_it():
    from eclipse_bench.bench.core.errors import UserError

    with pytest.raises(UserError, match="ECLIPSE-Community/ECLIPSE_Karlo_Prior.*hf download"):
        load(EclipsePriorTransformer, "ECLIPSE-Community/ECLIPSE_Karlo_Prior")


def test_text_padded_to_the_longest_prompt_gives_the_77_token_result():
    """The prior-only path encodes prompts padded to the longest one: same embeddings as the 77-token forward."""
    import torch
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    import eclipse_bench.bench.generation.families.karlo  # noqa: F401 - registers the tiny twins
    from eclipse_bench.bench.generation.generator import ClipTextEncoder
    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer
    from eclipse_bench.bench.core.tiny import resolve

    root = resolve("tiny:karlo")
    enc = ClipTextEncoder(CLIPTokenizer.from_pretrained(root, subfolder="tokenizer"),
                          CLIPTextModelWithProjection.from_pretrained(root, subfolder="text_encoder").eval(), "cpu")
    prior = EclipsePriorTransformer.from_pretrained(resolve("tiny:eclipse-karlo-prior")).eval()
    prompts = ["a red car", "a photo of a blue pizza and a yellow baseball glove on the left of a dog", "dog"]
    noise = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    full, short = enc(prompts), enc(prompts, compact=True)
    assert short.hidden.shape[1] < 77 == full.hidden.shape[1]
    with torch.no_grad():
        a = prior(noise, full.embeds, full.hidden, full.mask)
        b = prior(noise, short.embeds, short.hidden, short.mask)
    assert torch.allclose(a, b, atol=1e-5) and a.abs().max() > 0


def _written_out_forward(sd: dict, heads: int, noise, text_embeds, hidden, mask):
    """The ECLIPSE prior from its published architecture, with plain tensor operations on the state dict (no
    diffusers module): tokens [projected text hidden states, projected text embedding, projected noise, prd] plus
    positions; no timestep token; causal mask (upper triangle -10000) plus the text padding mask (-10000 on padded
    keys); pre-norm blocks of self-attention and a GELU feed-forward; the final LayerNorm; the prd token projected
    to the CLIP embedding."""
    import torch.nn.functional as F

    lin = lambda x, name: x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]  # noqa: E731
    ln = lambda x, name: F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"])  # noqa: E731
    B, T, _ = hidden.shape
    x = torch.cat([lin(hidden, "encoder_hidden_states_proj"), lin(text_embeds, "embedding_proj")[:, None],
                   lin(noise, "proj_in")[:, None], sd["prd_embedding"].expand(B, 1, -1)], dim=1)
    x = x + sd["positional_embedding"][:, : x.shape[1]]
    S = x.shape[1]
    bias = torch.triu(torch.full((S, S), -10000.0), diagonal=1)[None].repeat(B, 1, 1)
    bias[:, :, :T] += (1 - mask.float())[:, None, :] * -10000.0
    n_blocks = len({k.split(".")[1] for k in sd if k.startswith("transformer_blocks.")})
    for i in range(n_blocks):
        p = f"transformer_blocks.{i}"
        h = ln(x, f"{p}.norm1")
        q, k, v = (lin(h, f"{p}.attn1.to_{n}").view(B, S, heads, -1).transpose(1, 2) for n in "qkv")
        att = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5 + bias[:, None]
        out = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, S, -1)
        x = x + lin(out, f"{p}.attn1.to_out.0")
        h = ln(x, f"{p}.norm3")
        x = x + lin(F.gelu(lin(h, f"{p}.ff.net.0.proj")), f"{p}.ff.net.2")
    return lin(ln(x, "norm_out")[:, -1], "proj_to_clip_embeddings")


def test_forward_equals_a_computation_written_from_the_architecture():
    torch.manual_seed(3)
    prior = EclipsePriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=2,
                                    num_embeddings=8).eval()
    with torch.no_grad():
        for p in prior.parameters():
            p.normal_(0, 0.3)
    B, T = 2, 8
    noise, text, hidden = torch.randn(B, 32), torch.randn(B, 32), torch.randn(B, T, 32)
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3], dtype=torch.bool)   # the second prompt is padded
    with torch.no_grad():
        ours = prior(noise, text, hidden, mask)
        ref = _written_out_forward(prior.state_dict(), 2, noise, text, hidden, mask)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()
    # it can fail: the padding mask, the token order and the prd token each change the result
    with torch.no_grad():
        unmasked = _written_out_forward(prior.state_dict(), 2, noise, text, hidden, torch.ones_like(mask))
    assert (unmasked[1] - ours[1]).abs().max() > 1e-3 and torch.allclose(unmasked[0], ours[0], atol=1e-5)
