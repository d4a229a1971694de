"""End to end at full size: our generation stage against the reference protocol, on the same modules.

Full-size random-weight checkpoints of every real architecture (scripts/full_size_configs.py) are written once in
the hub layouts (bf16 safetensors, ~25 GB, under $ECLIPSE_BENCH_FULLSIZE or ~/.cache/eclipse-bench/fullsize-random)
and loaded through eclipse-bench's own loader, as a user's downloaded weights would be. Then, per pairing and
dtype, in a fresh process (so that peak memory is that pairing's):

- ours: the run's generation stage (eclipse_bench.bench.generation.stage.generate_images: batches of --batch-size, text
  encoded once per distinct prompt, PNGs written on the writer thread, records appended);
- the reference protocol: diffusers' stock pipelines built from the very same modules (tests/stock_oracle.py),
  one image at a time with a freshly seeded generator, each PNG saved before the next image, as eclipse-inference
  does;

and prints images/s for both and their ratio, per-stage seconds per image, the harness time (wall time of our
stage outside model calls, PNG waits included) as a share of the wall time, peak memory, and the pixel
difference between our images and the reference's (full-size parity: 0 at batch 1; batched, only rounding differs,
which random weights, unlike trained ones, amplify over the steps, bf16 most).

No GPU here: on a CPU the default is reduced step counts (2 per loop, the schedulers' minimum) and 2 images, which
makes model time smaller and the harness share an upper bound; on a GPU the pipelines' own step counts run.

    python scripts/bench_end_to_end.py [--pairings eclipse-karlo,...] [--dtypes fp32,bf16] [--images N]
                                       [--batch-size B] [--steps reduced|full]

--plan-cost measures what the batch plan (#27: every image made in its fixed batch of the suite, so its bytes never
depend on --limit, shards or resumes) costs against batching the work left in order (eclipse-bench 0.2): both
stages on the same modules, alternated --repeats times, images/s of each and their ratio; then the plan's images
made again in another process order (the second half first) compared byte for byte.

    python scripts/bench_end_to_end.py --plan-cost [--pairings eclipse-karlo] [--dtypes fp32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import full_size_configs as C  # noqa: E402

ROOT = Path(os.environ.get("ECLIPSE_BENCH_FULLSIZE", Path.home() / ".cache/eclipse-bench/fullsize-random"))
PAIRINGS = ("eclipse-karlo", "karlo", "eclipse-kandinsky", "kandinsky")
REDUCED = {"prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2}
# ViT-bigG/14 vision tower of kandinsky-community/kandinsky-2-2-prior (image_encoder/config.json)
BIGG_VISION = dict(hidden_size=1664, intermediate_size=8192, num_attention_heads=16, num_hidden_layers=48,
                   patch_size=14, image_size=224, projection_dim=1280, hidden_act="gelu")


def _copy_tiny_parts(twin: str, dest: Path, parts: tuple[str, ...]) -> None:
    """Schedulers, tokenizers and processors (no weights) come from the tiny twins' real configurations."""
    import eclipse_bench.bench.generation.families.kandinsky  # noqa: F401
    import eclipse_bench.bench.generation.families.karlo  # noqa: F401 - registers the twins
    from eclipse_bench.bench.core.tiny import resolve

    src = Path(resolve(f"tiny:{twin}"))
    for part in parts:
        if (src / part).is_dir():
            shutil.copytree(src / part, dest / part, dirs_exist_ok=True)
        else:
            shutil.copy2(src / part, dest / part)


def _bf16(module):
    return module.to(torch.bfloat16).eval()


NEEDS = {"eclipse-karlo": ("karlo", "eclipse-karlo-prior"), "karlo": ("karlo",),
         "eclipse-kandinsky": ("kandinsky-decoder", "kandinsky-prior", "eclipse-kandinsky-prior", "clip-bigg"),
         "kandinsky": ("kandinsky-decoder", "kandinsky-prior")}


def build(root: Path, pairings=PAIRINGS) -> None:
    """Write each full-size random checkpoint the pairings need once (one component in memory at a time)."""
    wanted = {part for p in pairings for part in NEEDS[p]}
    from diffusers import PriorTransformer, UNet2DConditionModel, UNet2DModel, VQModel
    from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel
    from transformers import (CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig,
                              CLIPVisionModelWithProjection)

    def once(name: str, make) -> None:
        done = root / name / ".complete"
        if done.exists() or name not in wanted:
            return
        t0 = time.perf_counter()
        torch.manual_seed(0)
        make(root / name)
        done.touch()
        print(f"  built {name} in {time.perf_counter() - t0:.0f} s", flush=True)

    def karlo(d: Path) -> None:
        parts = {"prior": lambda: PriorTransformer(**C.KARLO_PRIOR),
                 "decoder": lambda: UNet2DConditionModel(**C.KARLO_DECODER),
                 "text_proj": lambda: UnCLIPTextProjModel(**C.KARLO_TEXT_PROJ),
                 "super_res_first": lambda: UNet2DModel(**C.KARLO_SUPER_RES),
                 "super_res_last": lambda: UNet2DModel(**C.KARLO_SUPER_RES),
                 "text_encoder": lambda: CLIPTextModelWithProjection(CLIPTextConfig(**C.CLIP_L_TEXT))}
        for sub, make in parts.items():
            _bf16(make()).save_pretrained(d / sub)
        _copy_tiny_parts("karlo", d, ("tokenizer", "prior_scheduler", "decoder_scheduler", "super_res_scheduler",
                                      "model_index.json"))

    def kandinsky_decoder(d: Path) -> None:
        from diffusers import DDPMScheduler, KandinskyV22Pipeline

        from eclipse_bench.bench.generation.families.kandinsky import KANDINSKY_DECODER_SCHEDULER

        KandinskyV22Pipeline(unet=_bf16(UNet2DConditionModel(**C.KANDINSKY_UNET)),
                             movq=_bf16(VQModel(**C.KANDINSKY_MOVQ)),
                             scheduler=DDPMScheduler.from_config(KANDINSKY_DECODER_SCHEDULER)).save_pretrained(d)

    def kandinsky_prior(d: Path) -> None:
        _bf16(PriorTransformer(**C.KANDINSKY_PRIOR)).save_pretrained(d / "prior")
        _bf16(CLIPVisionModelWithProjection(CLIPVisionConfig(**BIGG_VISION))).save_pretrained(d / "image_encoder")
        _bf16(CLIPTextModelWithProjection(CLIPTextConfig(**C.CLIP_BIGG_TEXT))).save_pretrained(d / "text_encoder")
        _copy_tiny_parts("kandinsky-prior", d, ("tokenizer", "scheduler", "image_processor", "model_index.json"))

    def clip_bigg(d: Path) -> None:
        """laion's bigG text tower as eclipse-kandinsky loads it (tokenizer at the root): the prior's files."""
        d.mkdir(parents=True, exist_ok=True)
        for f in (root / "kandinsky-prior" / "text_encoder").iterdir():
            (d / f.name).symlink_to(f)
        for f in (root / "kandinsky-prior" / "tokenizer").iterdir():
            (d / f.name).symlink_to(f)

    once("karlo", karlo)
    once("eclipse-karlo-prior", lambda d: _bf16(C.eclipse_prior(768)).save_pretrained(d))
    once("eclipse-kandinsky-prior", lambda d: _bf16(C.eclipse_prior(1280)).save_pretrained(d))
    once("kandinsky-decoder", kandinsky_decoder)
    once("kandinsky-prior", kandinsky_prior)
    once("clip-bigg", clip_bigg)


def spec_for(name: str, steps: str):
    """The registered pairing, its checkpoints pointed at the full-size random directories."""
    from eclipse_bench.bench.generation.pairings import PAIRINGS as REGISTERED

    spec = REGISTERED.get(name)
    local = {"kakaobrain/karlo-v1-alpha": "karlo", "ECLIPSE-Community/ECLIPSE_Karlo_Prior": "eclipse-karlo-prior",
             "ECLIPSE-Community/ECLIPSE_KandinskyV22_Prior": "eclipse-kandinsky-prior",
             "kandinsky-community/kandinsky-2-2-decoder": "kandinsky-decoder",
             "kandinsky-community/kandinsky-2-2-prior": "kandinsky-prior",
             "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k": "clip-bigg"}
    fields = {f: str(ROOT / local[getattr(spec, f)]) for f in ("decoder_id", "prior_id", "prior_pipeline_id",
                                                              "text_encoder_id") if getattr(spec, f, None) in local}
    settings = dict(spec.settings)
    if steps == "reduced":
        settings.update({k: v for k, v in REDUCED.items() if k in settings})
    return spec.with_overrides(settings=settings, **fields)


@contextlib.contextmanager
def _cpu_half_bicubic():
    """The stock UnCLIPPipeline's antialiased bicubic upscale has no bf16/fp16 CPU kernel: on CPU, resample in fp32
    and cast back (as our generator does); nothing changes on a GPU."""
    real = F.interpolate

    @functools.wraps(real)  # the pipeline checks the signature for `antialias`
    def interpolate(x, *args, **kw):
        if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16) and kw.get("antialias"):
            return real(x.float(), *args, **kw).to(x.dtype)
        return real(x, *args, **kw)

    F.interpolate = interpolate
    try:
        yield
    finally:
        F.interpolate = real


def reference_image(gen, spec, prompt: str, seed: int):
    import stock_oracle as oracle

    if spec.family == "karlo":
        parts = {"prior": gen.prior, "decoder": gen.decoder, "text_proj": gen.text_proj,
                 "super_res_first": gen.sr_first, "super_res_last": gen.sr_last, "text_encoder": gen.text.model,
                 "tokenizer": gen.text.tokenizer, "prior_scheduler": getattr(gen, "prior_scheduler", None),
                 "decoder_scheduler": gen.decoder_scheduler, "super_res_scheduler": gen.sr_scheduler}
        with _cpu_half_bicubic():
            return oracle.karlo_image(parts, spec, prompt, seed, eclipse_prior=gen.prior)
    if spec.prior == "diffusion":
        return oracle.kandinsky_image(gen.decoder, spec, prompt, seed, prior_pipe=gen.prior_pipe)
    return oracle.kandinsky_image(gen.decoder, spec, prompt, seed, text=(gen.text.tokenizer, gen.text.model),
                                  eclipse_prior=gen.prior, image_encoder=_image_encoder(spec, gen))


_ENCODER: list = []


def _image_encoder(spec, gen):
    """The stock pipelines' image encoder (our generator keeps only the zero-image embedding it computed)."""
    if not _ENCODER:
        from transformers import CLIPVisionModelWithProjection

        from eclipse_bench.bench.core.loaders import load

        _ENCODER.append(load(CLIPVisionModelWithProjection, spec.prior_pipeline_id, "image_encoder",
                             torch_dtype=gen.dtype).to(gen.device).eval())
    return _ENCODER[0]


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB RSS"


def one(name: str, dtype: str, n_images: int, batch_size: int, steps: str) -> dict:
    """Ours, then the reference protocol, in this process."""
    import numpy as np
    from PIL import Image

    from eclipse_bench.bench.generation.generator import load_generator
    from eclipse_bench.bench.core.keys import PlannedSample
    from eclipse_bench.bench.generation.stage import generate_images

    device = "cuda" if torch.cuda.is_available() else "cpu"
    spec = spec_for(name, steps)
    t0 = time.perf_counter()
    gen = load_generator(spec, device, dtype)
    load_s = time.perf_counter() - t0
    # the protocol's layout: 10 images per prompt (seeds 42..51), prompts of the built-in colour suite
    from eclipse_bench.prompts.load import load_suite

    ipp = min(10, n_images)
    items = load_suite("builtin/color").items
    samples = [PlannedSample(f"s{i}", items[(i // ipp) % len(items)], i % ipp, 42 + i % ipp, f"images/s{i}.png")
               for i in range(n_images)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        with torch.no_grad():
            done = generate_images(out, samples, gen, batch_size, device, progress=False)
        ours_s = done["seconds"]
        model_s = sum(gen.timings.values())
        stages = {k: v / n_images for k, v in gen.timings.items()}
        peak = peak_memory(device)  # ours (loading included); before the reference loads anything of its own
        ours = [np.asarray(Image.open(out / s.image), dtype=np.int16) for s in samples]
        t0 = time.perf_counter()
        diffs, means, p99 = [], [], []
        with torch.no_grad():
            for s, mine in zip(samples, ours):
                img = reference_image(gen, spec, s.prompt, s.seed)
                img.save(out / f"ref-{s.key}.png")
                d = np.abs(np.asarray(img, dtype=np.int16) - mine)
                diffs.append(int(d.max()))
                means.append(float(d.mean()))
                p99.append(float(np.percentile(d, 99)))
        ref_s = time.perf_counter() - t0
    return {"pairing": name, "dtype": dtype, "device": torch.cuda.get_device_name() if device == "cuda" else
            f"CPU ({torch.get_num_threads()} threads)", "torch": torch.__version__, "steps": steps,
            "settings": {k: v for k, v in spec.settings.items() if k.endswith("steps")}, "images": n_images,
            "batch_size": done["batch_size"], "load_s": load_s, "ours_s": ours_s, "reference_s": ref_s,
            "model_s": model_s, "harness_share": (ours_s - model_s) / ours_s, "png_wait_s": done["png_wait_seconds"],
            "stages": stages, "peak": peak, "max_pixel_diff": max(diffs), "mean_pixel_diff": max(means), "p99_pixel_diff": max(p99),
            "peak_stage_mb": dict(gen.peak_memory_mb)}


def plan_cost(name: str, dtype: str, n_images: int, batch_size: int, steps: str, repeats: int) -> dict:
    """Our stage with the batch plan against batching the work left in order (eclipse-bench 0.2), alternated."""
    from eclipse_bench.bench.core.keys import PlannedSample, batch_plan
    from eclipse_bench.bench.generation.generator import load_generator
    from eclipse_bench.bench.generation.stage import generate_images
    from eclipse_bench.prompts.load import load_suite

    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = load_generator(spec_for(name, steps), device, dtype)
    suite, ipp = load_suite("builtin/color"), 10
    plan = batch_plan(suite, ipp, 42, batch_size)
    order = [(item, n) for item in suite.stratified_order() for n in range(ipp)][:n_images]

    def samples(planned: bool) -> list:
        return [PlannedSample(f"s{i}", item, n, 42 + n, f"images/s{i}.png",
                              batch=plan[(item.id, n)] if planned else None) for i, (item, n) in enumerate(order)]

    times: dict = {"work left in order (0.2)": [], "batch plan": []}
    digests = []
    with torch.no_grad():
        for r in range(repeats):
            for label, planned in (("work left in order (0.2)", False), ("batch plan", True)):
                with tempfile.TemporaryDirectory() as tmp:
                    done = generate_images(Path(tmp), samples(planned), gen, batch_size, device, progress=False)
                    times[label].append(done["seconds"])
                    if planned and r == 0:
                        digests.append(sorted((p.name, p.read_bytes()) for p in (Path(tmp) / "images").iterdir()))
        with tempfile.TemporaryDirectory() as tmp:   # the plan's images again, the second half made first
            todo = samples(True)
            half = len(todo) // 2
            generate_images(Path(tmp), todo[half:], gen, batch_size, device, progress=False)
            generate_images(Path(tmp), todo[:half], gen, batch_size, device, progress=False)
            again = sorted((p.name, p.read_bytes()) for p in (Path(tmp) / "images").iterdir())
    best = {k: min(v) for k, v in times.items()}
    return {"pairing": name, "dtype": dtype, "device": torch.cuda.get_device_name() if device == "cuda" else
            f"CPU ({torch.get_num_threads()} threads)", "torch": torch.__version__, "steps": steps, "images": n_images,
            "batch_size": batch_size, "repeats": repeats, "seconds": times,
            "images_per_s": {k: n_images / v for k, v in best.items()},
            "plan_slowdown": best["batch plan"] / best["work left in order (0.2)"] - 1,
            "bitwise_other_order": again == digests[0]}


def show(r: dict) -> None:
    n = r["images"]
    print(f"{r['pairing']} {r['dtype']} on {r['device']}, torch {r['torch']}, {r['steps']} steps {r['settings']}, "
          f"{n} images, batch {r['batch_size']} (loaded in {r['load_s']:.0f} s)")
    print("  per stage, s/image: " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()))
    print(f"  ours {n / r['ours_s']:.4f} images/s vs reference protocol (one at a time) {n / r['reference_s']:.4f} "
          f"images/s: {r['reference_s'] / r['ours_s']:.2f}x; harness {100 * r['harness_share']:.2f}% of our wall "
          f"time (PNG wait {r['png_wait_s']:.3f} s); peak {r['peak']}; max pixel difference vs reference "
          f"{r['max_pixel_diff']}/255 (mean {r['mean_pixel_diff']:.2f}, p99 {r.get('p99_pixel_diff', 0):.0f})",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    cuda = torch.cuda.is_available()
    ap.add_argument("--pairings", default=",".join(PAIRINGS))
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--images", type=int, default=32 if cuda else 2)
    ap.add_argument("--batch-size", type=int, default=16 if cuda else 2)
    ap.add_argument("--steps", choices=("reduced", "full"), default="full" if cuda else "reduced")
    ap.add_argument("--json", type=Path, help="append each result as a JSON line here")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # PAIRING:DTYPE, run in this process
    ap.add_argument("--plan-cost", action="store_true", help="the batch plan against 0.2's batching (see above)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.one and args.plan_cost:
        name, dtype = args.one.split(":")
        r = plan_cost(name, dtype, args.images, args.batch_size, args.steps, args.repeats)
        print(f"{name} {dtype} on {r['device']}, torch {r['torch']}, {r['steps']} steps, {r['images']} images in "
              f"batches of {r['batch_size']}, best of {r['repeats']}: " + ", ".join(
                  f"{k} {v:.4f} images/s" for k, v in r["images_per_s"].items()) +
              f"; the plan {100 * r['plan_slowdown']:+.2f}%; made again in another order: "
              f"{'byte-identical' if r['bitwise_other_order'] else 'DIFFERENT BYTES'}", flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
        return
    if args.one:
        name, dtype = args.one.split(":")
        r = one(name, dtype, args.images, args.batch_size, args.steps)
        show(r)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
        return
    print(f"full-size random checkpoints in {ROOT}", flush=True)
    build(ROOT, args.pairings.split(","))
    for name in args.pairings.split(","):
        for dtype in args.dtypes.split(","):
            cmd = [sys.executable, __file__, "--one", f"{name}:{dtype}", "--images", str(args.images),
                   "--batch-size", str(args.batch_size), "--steps", args.steps, "--repeats", str(args.repeats)]
            cmd += ["--plan-cost"] if args.plan_cost else []
            rc = subprocess.run(cmd + (["--json", str(args.json)] if args.json else [])).returncode
            if rc:
                print(f"{name} {dtype}: failed (exit {rc}); going on with the others", flush=True)


if __name__ == "__main__":
    main()
