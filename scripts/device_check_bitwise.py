"""Device check for bitwise generation (#27): does the batch plan's premise hold on this device, and how far does
batching move an image here? One script, under 3 minutes on one GPU; the tests run it on the CPU (--tiny-only).

Per tiny pairing (the whole generator, random weights):
  - the same batch twice gives the same bytes (the premise: a batch is a deterministic function of its members);
  - the plan's scenarios give the uninterrupted run's bytes (--limit 1 extended to 3, two shards in reverse order,
    a deleted PNG made again), through the run's own generation stage;
  - images made alone vs in a batch of 5: how many of the 5 are byte-identical;
  - the first module whose output for image 0 differs between batch 1 and batch 5 (forward hooks on every module,
    first call each, in the order they finish), and how many modules differ.
Per full-size architecture (random weights built in memory from scripts/full_size_configs.py, no download; skipped by
--tiny-only): one forward of the denoiser / prior at batch 5, twice (identical?), and row 0 against batch 1, with the
first differing module.

Prints one line per model and, with --json, writes one JSON object per model. --deterministic turns on
torch.use_deterministic_algorithms (CUBLAS_WORKSPACE_CONFIG set) to measure what it changes on a GPU.

    python scripts/device_check_bitwise.py [--tiny-only] [--pairings tiny-eclipse-karlo,...] [--dtype fp32|bf16|fp16]
                                           [--deterministic] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

PROMPTS = ["a red car and a blue bench", "a green apple", "a cat on the left of a dog", "a yellow bus",
           "a purple vase"]
SEEDS = [42, 43, 44, 45, 46]


def modules_of(obj, prefix: str = "", depth: int = 0):
    """(name, module) of every nn.Module an object holds, one level of plain objects deep (a text encoder wrapper)."""
    if isinstance(obj, nn.Module):
        yield prefix.rstrip("."), obj
        return
    if depth > 1 or not hasattr(obj, "__dict__"):
        return
    for attr, value in vars(obj).items():
        yield from modules_of(value, f"{prefix}{attr}.", depth + 1)


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((t for t in out if isinstance(t, torch.Tensor)), None)
    sample = getattr(out, "sample", None) if not isinstance(out, dict) else None
    if isinstance(sample, torch.Tensor):
        return sample
    if hasattr(out, "values"):
        return next((t for t in out.values() if isinstance(t, torch.Tensor)), None)
    return None


def first_difference(roots, run_one, run_batch) -> tuple[str | None, int, int]:
    """(the first module whose first output for row 0 differs between run_one() and run_batch(), modules that
    differ, modules compared)."""
    seen: dict = {}
    handles = []
    for root_name, root in roots:
        for name, mod in root.named_modules():
            full = f"{root_name}.{name}" if name else root_name

            def hook(_m, _i, out, full=full):
                t = _first_tensor(out)
                if t is not None and full not in seen and t.dim() > 0:
                    seen[full] = t[:1].detach().float().cpu().clone()
            handles.append(mod.register_forward_hook(hook))
    try:
        run_one()
        one = dict(seen)
        seen.clear()
        run_batch()
        batch = dict(seen)
    finally:
        for h in handles:
            h.remove()
    compared = [n for n in one if n in batch and one[n].shape == batch[n].shape]
    differ = [n for n in compared if not torch.equal(one[n], batch[n])]
    return (differ[0] if differ else None), len(differ), len(compared)


def _png_bytes(images) -> list[bytes]:
    import io

    out = []
    for im in images:
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def plan_scenarios(name: str, gen, device: str) -> bool:
    """The run's own generation stage: --limit 1 extended to 3, two shards (second first) and a deleted PNG give the
    bytes of the uninterrupted run at batch size 3."""
    from eclipse_bench.bench.app.distributed import Distributed
    from eclipse_bench.bench.core.keys import Identities, plan_samples
    from eclipse_bench.bench.generation.pairings import PAIRINGS
    from eclipse_bench.bench.generation.stage import generate_images, mark_verified
    from eclipse_bench.prompts.load import load_suite

    whole = load_suite("builtin/color")

    def plan(limit):
        return plan_samples(whole.limit(limit), PAIRINGS.get(name), 2, 42, Identities(), "fp32", False, 3, whole)

    def make(out, samples, suffix=""):
        mark_verified(out, samples)
        generate_images(out, samples, gen, 3, device, progress=False, suffix=suffix)

    def read(out, samples):
        return {s.key: (out / s.image).read_bytes() for s in samples}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make(root / "ref", ref := plan(3))
        want = read(root / "ref", ref)
        make(root / "ext", plan(1))
        make(root / "ext", plan(3))
        samples = plan(3)
        for rank in (1, 0):
            d = Distributed(rank, 2)
            make(root / "shards", d.mine(samples), d.suffix)
        (root / "ref" / ref[1].image).unlink()
        make(root / "ref", again := plan(3))
        return all(read(root / d, s) == want for d, s in (("ext", plan(3)), ("shards", samples), ("ref", again)))


def check_pairing(name: str, device: str, dtype: str) -> dict:
    from eclipse_bench.bench.generation.generator import environment, load_generator
    from eclipse_bench.bench.generation.pairings import PAIRINGS

    t0 = time.perf_counter()
    gen = load_generator(PAIRINGS.get(name), device, dtype)
    five = _png_bytes(gen.generate(PROMPTS, SEEDS))
    twice = _png_bytes(gen.generate(PROMPTS, SEEDS)) == five
    alone = [_png_bytes(gen.generate([p], [s]))[0] for p, s in zip(PROMPTS, SEEDS)]
    first, n_diff, n_cmp = first_difference(list(modules_of(gen)), lambda: gen.generate(PROMPTS[:1], SEEDS[:1]),
                                            lambda: gen.generate(PROMPTS, SEEDS))
    return {"pairing": name, "device": environment(device), "dtype": dtype,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "same_batch_twice_identical": twice,
            "plan_scenarios_identical": plan_scenarios(name, gen, device),
            "batch_1_vs_5_identical": sum(a == b for a, b in zip(alone, five)),
            "first_differing_module": first, "modules_differing": n_diff, "modules_compared": n_cmp,
            "seconds": round(time.perf_counter() - t0, 1)}


def full_size_models(device: str, dtype: torch.dtype):
    """(name, module, inputs(batch) -> kwargs) of the full-size denoisers and priors, random weights."""
    import full_size_configs as C
    from diffusers import UNet2DConditionModel

    def karlo_decoder_inputs(b, g):
        return dict(sample=torch.randn(b, 3, 64, 64, generator=g), timestep=torch.tensor(10),
                    encoder_hidden_states=torch.randn(b, 81, 1536, generator=g),
                    class_labels=torch.randn(b, 1536, generator=g))

    def kandinsky_unet_inputs(b, g):
        return dict(sample=torch.randn(b, 4, 64, 64, generator=g), timestep=torch.tensor(10),
                    encoder_hidden_states=None, added_cond_kwargs={"image_embeds": torch.randn(b, 1280, generator=g)})

    def eclipse_inputs(b, g):
        return (torch.randn(b, 768, generator=g), torch.randn(b, 768, generator=g),
                torch.randn(b, 77, 768, generator=g), torch.ones(b, 77, dtype=torch.bool))

    yield "karlo decoder UNet", lambda: UNet2DConditionModel(**C.KARLO_DECODER), karlo_decoder_inputs
    yield "kandinsky 2.2 UNet", lambda: UNet2DConditionModel(**C.KANDINSKY_UNET), kandinsky_unet_inputs
    yield "ECLIPSE prior (Karlo)", lambda: C.eclipse_prior(768), eclipse_inputs


def check_full_size(device: str, dtype_name: str) -> list[dict]:
    from eclipse_bench.bench.generation.generator import DTYPES, environment

    dtype, out = DTYPES[dtype_name], []
    for name, build, inputs in full_size_models(device, dtype):
        t0 = time.perf_counter()
        torch.manual_seed(0)
        model = build().to(device, dtype).eval()

        def batch(b):
            args = inputs(b, torch.Generator().manual_seed(0))
            move = lambda v: v.to(device, dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else (  # noqa: E731
                v.to(device) if isinstance(v, torch.Tensor) else ({k: move(x) for k, x in v.items()}
                                                                 if isinstance(v, dict) else v))
            return {k: move(v) for k, v in args.items()} if isinstance(args, dict) else [move(v) for v in args]

        def call(b):
            a = batch(b)
            with torch.no_grad():
                return _first_tensor(model(**a) if isinstance(a, dict) else model(*a)).float().cpu()

        x5, again, x1 = call(5), call(5), call(1)
        first, n_diff, n_cmp = first_difference([(name, model)], lambda: call(1), lambda: call(5))
        out.append({"pairing": name, "device": environment(device), "dtype": dtype_name, "full_size": True,
                    "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                    "same_batch_twice_identical": bool(torch.equal(x5, again)),
                    "batch_1_vs_5_identical": int(torch.equal(x1[0], x5[0])),
                    "max_abs_difference_1_vs_5": float((x1[0] - x5[0]).abs().max()),
                    "first_differing_module": first, "modules_differing": n_diff, "modules_compared": n_cmp,
                    "seconds": round(time.perf_counter() - t0, 1)})
        model = None   # freed before the next build (the closures above read it)
    return out


def show(r: dict) -> None:
    yes = lambda v: "yes" if v else "NO"  # noqa: E731
    plan = f"; plan scenarios identical: {yes(r['plan_scenarios_identical'])}" if "plan_scenarios_identical" in r else ""
    of = "of 5 images" if "plan_scenarios_identical" in r else "of 1 output row"
    print(f"{r['pairing']} ({r['dtype']}) on {r['device']}: same batch twice identical: "
          f"{yes(r['same_batch_twice_identical'])}{plan}; batch 1 vs 5: {r['batch_1_vs_5_identical']} {of} "
          f"identical; first differing module: {r['first_differing_module'] or 'none'} ({r['modules_differing']} of "
          f"{r['modules_compared']} differ); {r['seconds']} s", flush=True)


def main() -> None:
    from eclipse_bench.bench.generation.pairings import PAIRINGS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairings", default=",".join(n for n in PAIRINGS.names() if PAIRINGS.get(n).is_tiny))
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny-only", action="store_true")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    results = [check_pairing(n, args.device, args.dtype) for n in args.pairings.split(",") if n]
    for r in results:
        show(r)
    if not args.tiny_only:
        for r in check_full_size(args.device, args.dtype):
            show(r)
            results.append(r)
    if args.json:
        with args.json.open("a") as fh:
            for r in results:
                fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
