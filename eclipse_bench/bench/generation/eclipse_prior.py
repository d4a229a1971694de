"""The ECLIPSE prior: a PriorTransformer without a timestep, run once on Gaussian noise.

Parameter names match the released checkpoints (ECLIPSE-Community/ECLIPSE_Karlo_Prior,
ECLIPSE-Community/ECLIPSE_KandinskyV22_Prior), whose config says `PriorTransformer` but whose
weights lack the time embedding; the token sequence therefore has 3 extra tokens, not 4:
[text hidden states..., text embedding, noise, prd]. Inference is one forward pass.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def _layer_norm_or_none(kind: Optional[str], dim: int, what: str) -> Optional[nn.LayerNorm]:
    if kind is None:
        return None
    if kind == "layer":
        return nn.LayerNorm(dim)
    raise ValueError(f"unsupported {what}: {kind!r} (expected 'layer' or None)")


class EclipsePriorTransformer(ModelMixin, ConfigMixin):
    """Text embedding (+ hidden states) -> CLIP image embedding, in one non-diffusion forward pass."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 32,
        attention_head_dim: int = 64,
        num_layers: int = 20,
        embedding_dim: int = 768,
        num_embeddings: int = 77,
        additional_embeddings: int = 3,
        dropout: float = 0.0,
        norm_in_type: Optional[str] = None,
        embedding_proj_norm_type: Optional[str] = None,
        encoder_hid_proj_type: Optional[str] = "linear",
        added_emb_type: Optional[str] = "prd",
        embedding_proj_dim: Optional[int] = None,
        clip_embed_dim: Optional[int] = None,
    ):
        super().__init__()
        inner = num_attention_heads * attention_head_dim
        proj_dim = embedding_proj_dim or embedding_dim
        out_dim = clip_embed_dim or embedding_dim
        seq_len = num_embeddings + additional_embeddings

        self.proj_in = nn.Linear(embedding_dim, inner)
        self.embedding_proj_norm = _layer_norm_or_none(embedding_proj_norm_type, proj_dim, "embedding_proj_norm_type")
        self.embedding_proj = nn.Linear(proj_dim, inner)
        if encoder_hid_proj_type not in (None, "linear"):
            raise ValueError(f"unsupported encoder_hid_proj_type: {encoder_hid_proj_type!r}")
        self.encoder_hidden_states_proj = nn.Linear(embedding_dim, inner) if encoder_hid_proj_type else None
        self.positional_embedding = nn.Parameter(torch.zeros(1, seq_len, inner))
        if added_emb_type not in (None, "prd"):
            raise ValueError(f"unsupported added_emb_type: {added_emb_type!r}")
        self.prd_embedding = nn.Parameter(torch.zeros(1, 1, inner)) if added_emb_type == "prd" else None
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                inner, num_attention_heads, attention_head_dim,
                dropout=dropout, activation_fn="gelu", attention_bias=True,
            )
            for _ in range(num_layers)
        )
        self.norm_in = _layer_norm_or_none(norm_in_type, inner, "norm_in_type")
        self.norm_out = nn.LayerNorm(inner)
        self.proj_to_clip_embeddings = nn.Linear(inner, out_dim)
        causal = torch.full((seq_len, seq_len), -10000.0).triu_(1)
        self.register_buffer("causal_attention_mask", causal[None], persistent=False)
        # Kept for checkpoint compatibility; ECLIPSE inference does not de-normalise with them.
        self.clip_mean = nn.Parameter(torch.zeros(1, out_dim))
        self.clip_std = nn.Parameter(torch.zeros(1, out_dim))

    def forward(
        self,
        hidden_states: torch.Tensor,
        proj_embedding: torch.Tensor,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Predict image embeddings.

        hidden_states: noise (batch, embedding_dim); proj_embedding: text embedding (batch, dim);
        encoder_hidden_states: text encoder hidden states (batch, tokens, embedding_dim);
        attention_mask: text padding mask (batch, tokens), 1 = keep.
        Returns (batch, clip_embed_dim).
        """
        batch = hidden_states.shape[0]
        if self.embedding_proj_norm is not None:
            proj_embedding = self.embedding_proj_norm(proj_embedding)
        tokens = []
        if self.encoder_hidden_states_proj is not None:
            if encoder_hidden_states is None:
                raise ValueError("this prior needs encoder_hidden_states (the text encoder's hidden states)")
            tokens.append(self.encoder_hidden_states_proj(encoder_hidden_states))
        text_token = self.embedding_proj(proj_embedding)[:, None, :]
        noise_token = self.proj_in(hidden_states)[:, None, :]
        tokens += [text_token, noise_token]
        if self.prd_embedding is not None:
            tokens.append(self.prd_embedding.to(noise_token.dtype).expand(batch, -1, -1))
        x = torch.cat(tokens, dim=1)
        n_text = x.shape[1] - (2 + (1 if self.prd_embedding is not None else 0))

        pos = self.positional_embedding.to(x.dtype)
        n_emb = self.config.num_embeddings
        if 0 <= n_text < n_emb and pos.shape[1] > n_emb:
            # fewer text tokens than the checkpoint's 77 (padded to the longest prompt): the text keeps positions
            # 0..n-1 and the extra tokens their own, n_emb.., so the result equals the 77-token forward
            pos = torch.cat([pos[:, :n_text], pos[:, n_emb:]], dim=1)
        if pos.shape[1] < x.shape[1]:  # positions may omit the extra tokens: zero-pad them
            n_prd = 1 if self.prd_embedding is not None else 0
            pos = F.pad(pos, (0, 0, x.shape[1] - pos.shape[1] - n_prd, n_prd))
        x = x + pos

        mask = None
        if attention_mask is not None:
            seq = x.shape[1]
            causal = self.causal_attention_mask[:, :seq, :seq] if seq <= self.causal_attention_mask.shape[1] else \
                torch.full((seq, seq), -10000.0, device=x.device).triu_(1)[None]
            mask = (1 - attention_mask.to(x.dtype)) * -10000.0
            mask = F.pad(mask, (0, seq - mask.shape[1]), value=0.0)
            mask = (mask[:, None, :] + causal.to(x.dtype))
            mask = mask.repeat_interleave(self.config.num_attention_heads, dim=0)

        if self.norm_in is not None:
            x = self.norm_in(x)
        for block in self.transformer_blocks:
            x = block(x, attention_mask=mask)
        x = self.norm_out(x)
        x = x[:, -1]  # the prd token (or the noise token when there is none)
        return self.proj_to_clip_embeddings(x)


def tiny_eclipse_prior(seed: int, embedding_dim: int = 32):
    """A tiny random ECLIPSE prior for offline twins (2 heads x 12, 1 layer)."""
    import torch  # lazy: torch

    torch.manual_seed(seed)
    prior = EclipsePriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=embedding_dim, num_layers=1)
    with torch.no_grad():
        # unit-gain linear layers without biases: with the default init the constant parts (biases, LayerNorm
        # offsets) dominate and every prompt maps to nearly the same embedding (cosine 0.99 across prompts)
        for m in prior.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, m.in_features ** -0.5)
                m.bias.zero_()
        prior.positional_embedding.normal_(0, 0.02)  # zeros at init would hide the positional and prd paths
        prior.prd_embedding.normal_(0, 0.02)
        prior.clip_std.fill_(1.0)
    return prior.eval()
