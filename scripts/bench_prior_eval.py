"""Prior-eval speed at full size (random weights, no download): the ECLIPSE prior as released (16 heads x 32,
10 layers, embedding 768 for Karlo / 1280 for Kandinsky) with a full-size CLIP text tower (ViT-L/14 text for 768;
for 1280 the ViT-bigG/14 text tower with --dim 1280), on T2I-CompBench color val (300 prompts) x 10 seeds,
through the same eclipse_bench.prior_eval() a training loop calls. For comparison, the Karlo-size diffusion prior
(1B parameters) at its default 25 steps with classifier-free guidance, timed on one batch and extrapolated.

    ECLIPSE_BENCH_DATA=../shared/benchmarks python scripts/bench_prior_eval.py [--dim 768|1280] [--seeds 10]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=768, choices=[768, 1280])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None, help="prompts (default: all 300)")
    ap.add_argument("--diffusion-batches", type=int, default=1, help="batches of the diffusion prior to time")
    args = ap.parse_args()
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from eclipse_bench import prior_eval
    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer
    from eclipse_bench.bench.core.tokenizers import build_clip_tokenizer

    torch.manual_seed(0)
    text_cfg = (dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12)
                if args.dim == 768 else
                dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32))
    text = CLIPTextModelWithProjection(CLIPTextConfig(projection_dim=args.dim, vocab_size=49408,
                                                      max_position_embeddings=77, hidden_act="gelu",
                                                      **text_cfg)).eval()
    prior = EclipsePriorTransformer(num_attention_heads=16, attention_head_dim=32, num_layers=10,
                                    embedding_dim=args.dim).eval()
    with torch.no_grad():
        prior.positional_embedding.normal_(0, 0.02)
        prior.prd_embedding.normal_(0, 0.02)
    tok = build_clip_tokenizer()
    n_text = sum(p.numel() for p in text.parameters()) / 1e6
    n_prior = sum(p.numel() for p in prior.parameters()) / 1e6
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; text tower {n_text:.0f}M, "
          f"ECLIPSE prior {n_prior:.1f}M parameters (embedding {args.dim})")
    seeds = tuple(range(42, 42 + args.seeds))
    t0 = time.perf_counter()
    r = prior_eval(prior, text, tok, suite="color", seeds=seeds, limit=args.limit, batch_size=100)
    wall = time.perf_counter() - t0
    n = (args.limit or 300) * len(seeds)
    print(f"prior-eval color val: {args.limit or 300} prompts x {len(seeds)} seeds = {n} predictions in {wall:.1f} s "
          f"(text encoder, counterfactual texts and prior included; goal < 60 s)")
    for name, m in r.items():
        print(f"  {name:26s} alignment {m['alignment']:.4f} contrast {m['contrast']:.4f} "
              f"diversity {m['diversity']:.4f} ({m['seconds']:.1f} s)")

    from diffusers import PriorTransformer

    torch.manual_seed(0)
    diff = PriorTransformer(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=args.dim,
                            num_embeddings=77, additional_embeddings=4).eval()
    print(f"diffusion prior {sum(p.numel() for p in diff.parameters()) / 1e6:.0f}M parameters")
    B, steps = 10, 25
    x = torch.randn(2 * B, args.dim)
    emb = torch.randn(2 * B, args.dim)
    hid = torch.randn(2 * B, 77, args.dim)
    mask = torch.ones(2 * B, 77, dtype=torch.bool)
    with torch.no_grad():
        diff(x, timestep=1, proj_embedding=emb, encoder_hidden_states=hid, attention_mask=mask)  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.diffusion_batches):
            diff(x, timestep=1, proj_embedding=emb, encoder_hidden_states=hid, attention_mask=mask)
        step = (time.perf_counter() - t0) / args.diffusion_batches
    per_pred = step * steps / B
    print(f"diffusion prior: {step:.2f} s per guided step for {B} predictions -> {per_pred:.2f} s per prediction "
          f"at {steps} steps; {n} predictions ~ {per_pred * n / 60:.0f} min (prior alone, text encoder excluded)")


if __name__ == "__main__":
    main()
