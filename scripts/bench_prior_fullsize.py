"""Prior time per image at full size on CPU (opt-in, slow): the ECLIPSE prior's one forward pass vs a
diffusion prior's guided denoising loop. Random weights from full-size architecture configs, no download.

    python scripts/bench_prior_fullsize.py [--family karlo|kandinsky] [--batch 1] [--diffusion-steps 2]

The diffusion prior is timed for --diffusion-steps steps and extrapolated to its default 25 steps (each step is
one guided forward on a doubled batch); the ECLIPSE prior runs once. Parameter counts are printed.
The ECLIPSE configs follow the released checkpoints' size (~33-34M parameters); the diffusion priors use the
Karlo / Kandinsky 2.2 prior architecture (~1B).
"""

from __future__ import annotations

import argparse
import time

CONFIGS = {
    "karlo": dict(
        eclipse=dict(num_attention_heads=16, attention_head_dim=32, num_layers=10, embedding_dim=768),
        diffusion=dict(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=768,
                       norm_in_type="layer"),
        hidden=768),
    "kandinsky": dict(
        eclipse=dict(num_attention_heads=16, attention_head_dim=32, num_layers=10, embedding_dim=1280),
        diffusion=dict(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=1280,
                       norm_in_type="layer", embedding_proj_norm_type="layer"),
        hidden=1280),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", choices=list(CONFIGS), default="karlo")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--diffusion-steps", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from diffusers import PriorTransformer

    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    torch.set_grad_enabled(False)
    cfg = CONFIGS[args.family]
    dim, B = cfg["hidden"], args.batch
    text, hidden = torch.randn(B, dim, device=args.device), torch.randn(B, 77, dim, device=args.device)
    mask = torch.ones(B, 77, dtype=torch.bool, device=args.device)
    noise = torch.randn(B, dim, device=args.device)

    eclipse = EclipsePriorTransformer(**cfg["eclipse"]).to(args.device).eval()
    n_e = sum(p.numel() for p in eclipse.parameters())
    eclipse(noise, text, hidden, mask)  # warm-up
    t0 = time.perf_counter()
    eclipse(noise, text, hidden, mask)
    t_e = (time.perf_counter() - t0) / B

    diffusion = PriorTransformer(**cfg["diffusion"]).to(args.device).eval()
    n_d = sum(p.numel() for p in diffusion.parameters())
    x2, t2, h2, m2 = (torch.cat([v, v]) for v in (noise, text, hidden, mask))  # classifier-free guidance
    diffusion(x2, timestep=999, proj_embedding=t2, encoder_hidden_states=h2, attention_mask=m2)  # warm-up
    t0 = time.perf_counter()
    for step in range(args.diffusion_steps):
        diffusion(x2, timestep=999 - step, proj_embedding=t2, encoder_hidden_states=h2, attention_mask=m2)
    per_step = (time.perf_counter() - t0) / args.diffusion_steps / B
    print(f"{args.family} family, batch {B}, {args.device}")
    print(f"  ECLIPSE prior    {n_e / 1e6:7.1f}M params   {1000 * t_e:9.1f} ms/image (1 forward)")
    print(f"  diffusion prior  {n_d / 1e6:7.1f}M params   {1000 * per_step:9.1f} ms/image per guided step, "
          f"~{25 * per_step:6.2f} s/image for 25 steps")
    print(f"  prior speed-up   ~{25 * per_step / t_e:.0f}x")


if __name__ == "__main__":
    main()
