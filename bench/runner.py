"""`eclipse-bench run`: suite -> images -> evidence -> scores -> report, resumable.

Every sample is keyed by a hash of (pairing config, prompt, seed); evidence by (sample key, scorer
model, metric version). Work already in the run directory is never redone: a finished run re-runs
without loading a model, an interrupted one continues where it stopped.
"""

from __future__ import annotations


import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from eclipse_bench import __version__
from eclipse_bench.errors import UserError
from eclipse_bench.store import (RunLock, append_jsonl, atomic_write_bytes, atomic_write_json, atomic_write_jsonl,
                                 read_jsonl)

from eclipse_bench.keys import BASE_SEED, evidence_key, image_seed, inside, plan_samples  # noqa: F401


@dataclass
class RunConfig:
    pairing: str
    suite: str
    split: str = "val"
    out: Optional[Path] = None
    limit: Optional[int] = None
    limit_mode: str = "stratified"         # or "first"
    images_per_prompt: Optional[int] = None
    seed: int = BASE_SEED
    batch_size: Any = 4                    # int or "auto"
    device: Optional[str] = None
    dtype: str = "fp32"
    metric: Optional[str] = None
    scorers: Optional[str] = None          # "real" | "tiny"; default: tiny with tiny pairings
    reference_compat: bool = False
    progress: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    prior_checkpoint: Optional[str] = None
    decoder_checkpoint: Optional[str] = None
    shard: Optional[tuple[int, int]] = None   # (index, count), index 0-based; for job arrays

    def validate(self) -> None:
        for name, value in (("--limit", self.limit), ("--images-per-prompt", self.images_per_prompt)):
            if value is not None and int(value) < 1:
                raise UserError(f"{name} must be at least 1 (got {value})")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise UserError(f"--batch-size must be a positive integer or 'auto' (got {self.batch_size!r})")
        if self.scorers not in (None, "real", "tiny"):
            raise UserError(f"--scorers must be 'real' or 'tiny' (got {self.scorers!r})")
        if self.shard is not None:
            i, n = self.shard
            if not (n >= 1 and 0 <= i < n):
                raise UserError(f"--shard {i + 1}/{n}: expected I/N with 1 <= I <= N")
        if not (0 <= self.seed <= MAX_SEED):
            raise UserError(f"--seed {self.seed}: must be between 0 and {MAX_SEED} (image n uses seed + n)")
        if self.limit_mode not in ("stratified", "first"):
            raise UserError(f"--limit-mode {self.limit_mode!r}: use stratified or first")
        if self.dtype not in ("fp32", "fp16", "bf16"):
            raise UserError(f"--dtype {self.dtype!r}: use fp32, fp16 or bf16")
        if self.device is not None:
            check_device(self.device)


MAX_SEED = 2 ** 63 - 1 - 10_000   # torch generators take 64-bit seeds; image n adds n


def check_device(device: str) -> None:
    """A device string torch understands and this machine has; else a one-line error."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device!r}: not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"--device {device}: Apple MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise UserError(f"--device {device}: eclipse-bench runs on cpu, cuda or mps")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' (1-based, as job arrays count) -> (1, 4)."""
    i, sep, n = text.partition("/")
    try:
        i_, n_ = int(i), int(n)
    except ValueError:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. --shard 1/4") from None
    if not sep or not (1 <= i_ <= n_):
        raise UserError(f"--shard {text!r}: expected I/N with 1 <= I <= N")
    return i_ - 1, n_


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "diffusers", "transformers", "open_clip_torch", "ultralytics", "numpy", "scipy",
                 "pandas", "huggingface_hub", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> Optional[str]:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() or None if rev.returncode == 0 else None


def default_out(pairing: str, suite: str) -> Path:
    return Path("runs") / pairing / suite.replace("/", "__").replace("@", "_").replace(":", "_")


def read_records(out: Path, stem: str) -> Iterator[dict]:
    """Records of `stem`.jsonl and of every shard's `stem`.shard-I-of-N.jsonl."""
    base = out / f"{stem}.jsonl"
    yield from read_jsonl(base)
    for shard_file in sorted(base.parent.glob(f"{base.stem}.shard-*.jsonl")):
        yield from read_jsonl(shard_file)


def _fault(point: str, count: int) -> None:
    """Fault injection for the kill/resume tests: ECLIPSE_BENCH_FAULT=point:N kills this process (SIGKILL)."""
    spec = os.environ.get("ECLIPSE_BENCH_FAULT")
    if spec and spec == f"{point}:{count}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    launched: bool = False     # started by torchrun / accelerate launch
    state: Any = None

    @property
    def suffix(self) -> str:
        return f".shard-{self.rank + 1}-of-{self.world}" if self.world > 1 else ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    @classmethod
    def detect(cls, shard: Optional[tuple[int, int]]) -> "Distributed":
        if shard is not None:
            return cls(shard[0], shard[1])
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import PartialState

            state = PartialState(cpu=not torch.cuda.is_available())
            return cls(state.process_index, state.num_processes, True, state)
        return cls()


class Runner:
    def __init__(self, cfg: RunConfig):
        from eclipse_bench.metrics.registry import METRICS
        from eclipse_bench.pairings import PAIRINGS
        from eclipse_bench.prompts.registry import get_suite_def

        cfg.validate()
        self.cfg = cfg
        self.spec = PAIRINGS.get(cfg.pairing)   # unknown names fail here, before any loading
        get_suite_def(cfg.suite)
        if cfg.metric:
            METRICS.get(cfg.metric)
        self.spec = self.spec.with_checkpoints(cfg.prior_checkpoint, cfg.decoder_checkpoint)
        if cfg.overrides:
            unknown = sorted(set(cfg.overrides) - set(self.spec.settings))
            if unknown:
                raise UserError(f"--set {unknown[0]}: not a setting of pairing {self.spec.name!r}; its settings are "
                                f"{', '.join(sorted(self.spec.settings))}")
            self.spec = self.spec.with_overrides(settings={**self.spec.settings, **cfg.overrides})
        self.spec.validate_settings()
        self.suite = None
        self.generator = None
        self.providers: dict[str, Any] = {}
        self.model_calls = {"generate": 0, "evidence": 0}
        self.png_seconds = 0.0
        self.dist = Distributed()

    def device(self) -> str:
        """--device, else this process's device under a launcher (one GPU per process), else cuda or cpu."""
        from eclipse_bench.generation import default_device

        if self.cfg.device:
            return self.cfg.device
        if self.dist.state is not None:
            return str(self.dist.state.device)
        return default_device()

    # -- stages -----------------------------------------------------------------------------------
    def run(self) -> tuple[Path, Optional[dict]]:
        from eclipse_bench.metrics.registry import METRICS, PROVIDERS
        from eclipse_bench.prompts.extract import extractor_info
        from eclipse_bench.prompts.registry import load_suite

        cfg = self.cfg
        self.suite = suite = load_suite(cfg.suite, cfg.split).limit(cfg.limit, cfg.limit_mode)
        if not suite.items:
            raise UserError(f"suite {cfg.suite!r} has no prompts")
        self.metric = METRICS.get(cfg.metric or suite.default_metric)
        if cfg.metric:
            from eclipse_bench.metrics.registry import metric_fits

            fit, need = metric_fits(self.metric.name, suite.items)
            if fit * 2 < len(suite.items):
                raise UserError(f"--metric {self.metric.name} does not fit suite {suite.name}: it needs {need}, which "
                                f"{fit} of {len(suite.items)} prompts have; use the suite's metric "
                                f"{suite.default_metric} (drop --metric)")
        ipp = cfg.images_per_prompt or suite.images_per_prompt
        out = Path(cfg.out) if cfg.out else default_out(self.spec.name, suite.name)
        self.out = out
        scorers = cfg.scorers or ("tiny" if self.spec.is_tiny else "real")
        self.dist = dist = Distributed.detect(cfg.shard)
        samples = plan_samples(suite, self.spec, ipp, cfg.seed, cfg.dtype)
        check_owner(out, self.spec.name, suite.name)
        mine = samples[dist.rank::dist.world]
        manifest = {
            "tool": "eclipse-bench", "version": __version__, "git_revision": git_revision(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pairing": self.spec.to_json(), "suite": {"name": suite.name, "source": suite.source,
                                                      "hash": suite.hash, "n_prompts": len(suite.items)},
            "metric": {"name": self.metric.name, "version": self.metric.version, "scorers": scorers,
                       "models": {p: PROVIDERS.get(p).model(scorers) for p in self.metric.providers},
                       "identities": {p: PROVIDERS.get(p).identity(scorers) for p in self.metric.providers},
                       "reference_compat": cfg.reference_compat, **self.metric.label()},
            "specs": extractor_info() if suite.extracted else {"backend": "given", "reference_exact": True,
                                                                "note": "specs from the suite's own structure"},
            "settings": {"images_per_prompt": ipp, "seed": cfg.seed,
                         "seed_protocol": "image n: seed + n (T2I-CompBench)",
                         "seeds": [image_seed(cfg.seed, n) for n in range(ipp)], "split": cfg.split,
                         "batch_size": cfg.batch_size, "device": cfg.device or "auto", "dtype": cfg.dtype,
                         "limit": cfg.limit, "limit_mode": cfg.limit_mode if cfg.limit else None},
            "versions": package_versions(), "platform": platform.platform(),
            "command": sys.argv,
        }
        self.preflight(samples if dist.world == 1 else mine, scorers)
        if dist.world > 1:
            with RunLock(out, shard=dist.suffix):
                if dist.is_main or not (out / "manifest.json").is_file():
                    atomic_write_json(out / "manifest.json", manifest)
                self.generate(mine, dist.suffix)
                self.collect_evidence(mine, scorers, dist.suffix)
            dist.barrier()
            if not dist.launched or not dist.is_main:
                return out, None  # a job-array shard, or a worker: the main process (or a plain run) merges
        with RunLock(out):
            atomic_write_json(out / "manifest.json", manifest)
            gen_seconds, n_generated = self.generate(samples)
            ev_seconds, n_scored = self.collect_evidence(samples, scorers)
            timings = self.timings(gen_seconds, n_generated, ev_seconds, n_scored)
            _fault("score", 1)
            results = score_run(out, samples=samples, metric=self.metric, reference_compat=cfg.reference_compat,
                                timings=timings)
            from eclipse_bench.reports.html import render_run

            render_run(out, out / "report.html")
            return out, results

    def preflight(self, samples: list[dict], scorers: str) -> None:
        """Every checkpoint this invocation will load, resolved before any work (one error names them all)."""
        from eclipse_bench.metrics.registry import PROVIDERS
        from eclipse_bench.preflight import preflight

        if not self.out.exists():
            need_images = True
        else:
            done = {r["key"] for r in read_records(self.out, "images")}
            need_images = any(s["key"] not in done or not (self.out / s["image"]).is_file() for s in samples)
        assign_evidence_keys(samples, self.metric, scorers)
        need = []
        for p in self.metric.providers:
            have = {r["key"] for r in read_records(self.out / "evidence", p)} if self.out.exists() else set()
            if any(s["evidence_keys"][p] not in have for s in samples):
                need.append((p, PROVIDERS.get(p).model(scorers)))
        preflight(self.spec if need_images else None, need)

    def generate(self, samples: list[dict], suffix: str = "") -> tuple[float, int]:
        from tqdm.auto import tqdm

        done = {r["key"] for r in read_records(self.out, "images") if (self.out / r["image"]).is_file()}
        todo = [s for s in samples if s["key"] not in done]
        if not todo:
            return 0.0, 0
        from eclipse_bench.generation import load_generator

        device = self.device()
        self.generator = gen = load_generator(self.spec, device, self.cfg.dtype)
        bs = self.cfg.batch_size if self.cfg.batch_size != "auto" else (16 if device.startswith("cuda") else 8)
        t0 = time.perf_counter()
        n_batches, start = 0, 0
        with tqdm(total=len(todo), desc=f"generate {self.spec.name}{suffix}", unit="img",
                  disable=not self.cfg.progress) as bar:
            while start < len(todo):
                batch = todo[start:start + bs]
                try:
                    images = gen.generate([s["prompt"] for s in batch], [s["seed"] for s in batch])
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                    if not _is_oom(exc):
                        raise
                    if bs == 1:
                        raise UserError(f"out of memory at batch size 1 on {device}; try --dtype fp16 or "
                                        f"another --device (images made so far are kept)") from None
                    bs = max(1, bs // 2)  # back off and retry the same samples: nothing is lost
                    _empty_cache()
                    continue
                self.model_calls["generate"] += 1
                t_png = time.perf_counter()
                for i, (s, im) in enumerate(zip(batch, images)):
                    atomic_write_bytes(self.out / s["image"], _png_bytes(im))
                    if i == 0:
                        _fault("generate-mid", n_batches + 1)
                self.png_seconds += time.perf_counter() - t_png
                append_jsonl(self.out / f"images{suffix}.jsonl", [
                    {"key": s["key"], "prompt_id": s["prompt_id"], "n": s["n"], "seed": s["seed"], "image": s["image"]}
                    for s in batch])
                n_batches += 1
                _fault("generate", n_batches)
                start += len(batch)
                bar.update(len(batch))
        self.batch_size_used = bs
        return time.perf_counter() - t0, len(todo)

    def collect_evidence(self, samples: list[dict], scorers: str, suffix: str = "") -> tuple[float, int]:
        """Run each evidence provider of the metric on the samples that lack its evidence."""
        from tqdm.auto import tqdm

        from eclipse_bench.metrics.registry import PROVIDERS

        total_seconds, scored = 0.0, 0
        assign_evidence_keys(samples, self.metric, scorers)
        for pname in self.metric.providers:
            pdef = PROVIDERS.get(pname)
            path = self.out / "evidence" / f"{pname}{suffix}.jsonl"
            have = {r["key"]: r["evidence"] for r in read_records(self.out / "evidence", pname)}
            todo = [s for s in samples if s["evidence_keys"][pname] not in have]
            if not todo:
                continue
            provider = pdef.load(scorers, device=self.device())
            self.providers[pname] = provider
            earlier = {p: {r["key"]: r["evidence"] for r in read_records(self.out / "evidence", p)}
                       for p in self.metric.providers[: self.metric.providers.index(pname)]}
            t0 = time.perf_counter()
            chunk = 64  # images per provider call; providers batch inside
            with tqdm(total=len(todo), desc=f"evidence {pname}", unit="img", disable=not self.cfg.progress) as bar:
                for start in range(0, len(todo), chunk):
                    batch = todo[start:start + chunk]
                    images = []
                    for s in batch:
                        images.append(load_image(self.out, s["image"]))
                    previous = [{p: earlier[p].get(s["evidence_keys"][p]) for p in earlier} for s in batch]
                    records = provider.evidence(images, [s["item"] for s in batch], previous)
                    self.model_calls["evidence"] += 1
                    append_jsonl(path, [{"key": s["evidence_keys"][pname], "sample": s["key"], "evidence": ev}
                                        for s, ev in zip(batch, records)])
                    _fault("evidence", self.model_calls["evidence"])
                    bar.update(len(batch))
            total_seconds += time.perf_counter() - t0
            scored = max(scored, len(todo))
        return total_seconds, scored

    def timings(self, gen_seconds: float, n_generated: int, ev_seconds: float, n_scored: int) -> dict:
        out: dict[str, Any] = {}
        if self.generator is not None and n_generated:
            out["generation"] = {k: v / n_generated for k, v in self.generator.timings.items()}
            out["generation"]["total"] = gen_seconds / n_generated
            out["generation"]["png"] = self.png_seconds / n_generated
            out["generated_images"] = n_generated
            out["batch_size"] = getattr(self, "batch_size_used", self.cfg.batch_size)
            if self.generator.peak_memory_mb:
                out["peak_memory_mb"] = dict(self.generator.peak_memory_mb)
        if out:
            out.setdefault("peak_memory_mb", {})["process_rss"] = _peak_rss_mb()
        if n_scored:
            out["scoring"] = {"total": ev_seconds / n_scored}
            out["scored_images"] = n_scored
        if out:
            out["unit"] = "seconds per image (this invocation)"
        return out


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def load_image(run_dir: Path, relpath: str):
    """An image of the run as RGB; a missing or damaged file is a one-line error naming it and the fix."""
    from PIL import Image, UnidentifiedImageError

    path = inside(run_dir, relpath)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise UserError(f"{path}: unreadable image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                        f"delete it and re-run the same command to regenerate it") from None


def assign_evidence_keys(samples: list[dict], metric: Any, scorers: str) -> None:
    """Each sample's evidence key per provider of the metric (providers in order: a later one builds on earlier)."""
    from eclipse_bench.metrics.registry import PROVIDERS

    idents = {p: PROVIDERS.get(p).identity(scorers) for p in metric.providers}
    for s in samples:
        keys = s.setdefault("evidence_keys", {})
        for p in metric.providers:
            upstream = [keys[q] for q in PROVIDERS.get(p).needs if q in keys]
            keys[p] = evidence_key(s["key"], idents[p], upstream)


def check_owner(out: Path, pairing: str, suite: str) -> None:
    """A run directory belongs to one pairing and one suite."""
    path = out / "manifest.json"
    if not path.is_file():
        return
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        theirs = (m["pairing"]["name"], m["suite"]["name"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is damaged (not an eclipse-bench manifest); use another --out") from None
    if theirs != (pairing, suite):
        raise UserError(f"{out} holds a run of pairing {theirs[0]!r} on suite {theirs[1]!r}, not {pairing!r} on "
                        f"{suite!r}; use another --out (images and evidence are never mixed across runs)")


def _png_bytes(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def output_names(suffix: str = "") -> tuple[str, str, str]:
    """samples, results and report file names; a metric other than the run's own writes beside them
    (samples.M.jsonl, results.M.json, report.M.html)."""
    return f"samples{suffix}.jsonl", f"results{suffix}.json", f"report{suffix}.html"


def score_run(out: Path, samples: list[dict], metric, reference_compat: bool, timings: dict,
              suffix: str = "", scorers: Optional[str] = None) -> dict:
    """Apply the metric's rule to stored evidence; write samples.jsonl and results.json (or their .M variants)."""
    from eclipse_bench.metrics.aggregate import summarise

    from eclipse_bench.registry import import_string

    rule = metric.rule_fn()
    evidence = {p: {r["key"]: r["evidence"] for r in read_records(out / "evidence", p)}
                for p in metric.providers}
    # --reference-compat with a metric whose reference scripts score other images than the sample's own
    source = import_string(metric.compat_source) if (reference_compat and metric.compat_source) else None
    by_image = {(s["prompt_id"], s["n"]): s for s in samples}
    rows = []
    for s in samples:
        keys = s.get("evidence_keys", {})
        src = source(s["prompt_id"], s["n"]) if source else None
        if isinstance(src, tuple):
            keys = by_image[src].get("evidence_keys", {}) if src in by_image else {}
        ev = {p: evidence[p].get(keys.get(p)) for p in metric.providers}
        missing = [p for p, v in ev.items() if v is None]
        if isinstance(src, str):
            verdict_score, reason, details = None, src, {}
        elif src is not None and src not in by_image:
            verdict_score, reason, details = None, f"reference-compat: the reference scores image {src[0]} #{src[1]} " \
                                                   f"here, which this run lacks", {}
        elif missing:
            verdict_score, reason, details = None, f"no {', '.join(missing)} evidence", {}
        else:
            extra = {"category": s["item"].category} if metric.needs_category else {}
            v = rule(ev, s["item"].spec, reference_compat=reference_compat, **extra)
            verdict_score, reason, details = v.score, v.reason, v.details
        rows.append({"key": s["key"], "prompt_id": s["prompt_id"], "prompt": s["prompt"], "n": s["n"],
                     "image": s["image"], "seed": s["seed"], "category": s["item"].category,
                     "level": s["item"].level, "spec": s["item"].spec.to_json(), "score": verdict_score,
                     "reason": reason, "details": details, "evidence": ev})
    samples_name, results_name, _ = output_names(suffix)
    atomic_write_jsonl(out / samples_name, rows)
    agg = metric.aggregator()
    summary = summarise(rows, agg)
    scored = [r for r in rows if r["score"] is not None]
    previous = {}
    if (out / results_name).is_file():
        try:
            previous = json.loads((out / results_name).read_text())
        except json.JSONDecodeError:
            previous = {}
    manifest = json.loads((out / "manifest.json").read_text())
    results = {
        "pairing": manifest["pairing"]["name"], "suite": manifest["suite"]["name"], "metric": metric.name,
        "score": summary["score"], "ci95": summary["ci95"],
        "n_prompts": summary["n_prompts"], "n_images": len(scored), "n_unscorable": len(rows) - len(scored),
        "aggregate": agg.name, "scale": agg.scale,
        "metric_version": metric.version, "reference_compat": reference_compat,
        "evidence_models": _models(metric, scorers or manifest["metric"]["scorers"]), **metric.label(),
        "specs": manifest.get("specs", {}),
        "suite_hash": manifest["suite"]["hash"], "scorers": scorers or manifest["metric"]["scorers"],
        "images_per_prompt": manifest["settings"]["images_per_prompt"], "seed": manifest["settings"]["seed"],
        "limit": manifest["settings"].get("limit"),
        "timings": timings or previous.get("timings", {}),
    }
    for key in ("pooled", "by_level", "by_category"):
        if key in summary:
            results[key] = summary[key]
    atomic_write_json(out / results_name, results)
    return results


def _models(metric, scorers: str) -> dict:
    from eclipse_bench.metrics.registry import PROVIDERS

    return {p: PROVIDERS.get(p).model(scorers) for p in metric.providers}


def rescore(run_dir: Path, metric_name: Optional[str] = None, reference_compat: Optional[bool] = None) -> dict:
    """Re-apply a metric's rule to the evidence stored in a run directory. Loads no model.

    The run's own metric rewrites results.json; another metric writes results.M.json, samples.M.jsonl and
    report.M.html beside it, and the run stays what it was."""
    from eclipse_bench.metrics.registry import METRICS
    from eclipse_bench.prompts.spec import Item, Spec
    from eclipse_bench.reports.html import render_run
    from eclipse_bench.store import read_json

    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json", "manifest")
    rows = list(read_jsonl(run_dir / "samples.jsonl"))
    if not rows:
        raise UserError(f"{run_dir} has no samples.jsonl records; finish the run with `eclipse-bench run` first")
    metric = METRICS.get(metric_name or manifest["metric"]["name"])
    scorers = manifest["metric"].get("scorers", "real")
    compat = manifest["metric"].get("reference_compat", False) if reference_compat is None else reference_compat
    samples = []
    for r in rows:
        item = Item(id=r["prompt_id"], prompt=r["prompt"], category=r.get("category") or "",
                    spec=Spec.from_json(r.get("spec") or {}), level=r.get("level"))
        inside(run_dir, r["image"])
        samples.append({"key": r["key"], "prompt_id": r["prompt_id"], "prompt": r["prompt"], "n": r["n"],
                        "seed": r["seed"], "image": r["image"], "item": item})
    assign_evidence_keys(samples, metric, scorers)
    for p in metric.providers:
        have = {rec["key"] for rec in read_records(run_dir / "evidence", p)}
        if not any(s["evidence_keys"][p] in have for s in samples):
            raise UserError(f"{run_dir} holds no {p!r} evidence, which metric {metric.name!r} needs; collect it with "
                            f"`eclipse-bench run ... --out {run_dir} --metric {metric.name}` (images are reused)")
    own = metric.name == manifest["metric"]["name"]
    suffix = "" if own else f".{metric.name}"
    _, results_name, report_name = output_names(suffix)
    with RunLock(run_dir):
        if own:
            manifest["metric"].update({"version": metric.version, "reference_compat": compat,
                                       "models": _models(metric, scorers), **metric.label()})
            atomic_write_json(run_dir / "manifest.json", manifest)
        main_results = read_json(run_dir / "results.json", "results") if (run_dir / "results.json").is_file() else {}
        results = score_run(run_dir, samples, metric, compat, main_results.get("timings", {}), suffix, scorers)
        render_run(run_dir, run_dir / report_name, suffix=suffix)
    return results
