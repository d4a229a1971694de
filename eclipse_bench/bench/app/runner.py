"""`eclipse-bench run`: a pairing makes the suite's images, then the run pipeline (pipeline.py) scores them. What is
here is what generation adds: the pairing, its sample keys, the disk check, the generator, several processes
(distributed.py) and the generation timings.

Work already in the run directory is never redone: a finished run re-runs without loading a model, an
interrupted one continues where it stopped.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.app.distributed import Distributed
from eclipse_bench.bench.app.options import RunOptions
from eclipse_bench.bench.app.pipeline import Pipeline, listing
from eclipse_bench.bench.app.preflight import pairing_checkpoints, preflight
from eclipse_bench.bench.app.rundir import default_out, manifests
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import (PlannedSample, batch_plan, image_seed, pairing_identity, plan_samples,
                                           rekey)
from eclipse_bench.bench.core.schema import Results
from eclipse_bench.bench.generation.pairings import PairingSpec, get_pairing
from eclipse_bench.bench.generation.stage import (generate_images, generate_served, mark_verified, peak_rss_mb,
                                                 reproducibility)
from eclipse_bench.metrics.registry import METRICS, MetricDef, check_choices, choices_from, metric_fits
from eclipse_bench.metrics.stage import assign_evidence_keys
from eclipse_bench.prompts.load import get_suite_def, load_suite
from eclipse_bench.prompts.spec import Suite


def check_disk(out: Path, todo: list[PlannedSample], spec: PairingSpec) -> None:
    """Refuse, before any work, images the disk cannot hold (estimated as uncompressed RGB, the PNGs' upper bound)."""
    side = int(spec.settings.get("height") or 256) * int(spec.settings.get("width") or 256)
    need = len(todo) * side * 3
    probe = next((p for p in (Path(out), *Path(out).absolute().parents) if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if need > free:
        raise UserError(f"{out}: {len(todo)} images need up to {human_bytes(need)} and {probe} has "
                        f"{human_bytes(free)} free; free space, choose another --out, or use --limit")


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB': the unit that shows the number."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def check_fit(metric: MetricDef, suite: Suite, explicit: bool) -> None:
    """Work the metric cannot judge is refused before the first image: no prompt it can judge (say, complex prompts
    without a sub-category), or, with an explicit --metric, fewer than half."""
    fit, need = metric_fits(metric.name, suite.items)
    if fit == 0 or (explicit and fit * 2 < len(suite.items)):
        fix = (f"use the suite's metric {suite.default_metric} (drop --metric)" if explicit else
               "give the prompts what the metric needs, or choose another --metric")
        raise UserError(f"--metric {metric.name} does not fit suite {suite.name}: it needs {need}, which {fit} "
                        f"of {len(suite.items)} prompts have; {fix} (nothing was generated)")
    if fit < len(suite.items):
        ok = metric.fits[1]
        bad = [i.id for i in suite.items if not ok(i.spec, i.category)]
        print(f"eclipse-bench: warning: {listing('of ' + str(len(suite.items)) + ' prompts', bad)} of {suite.name} "
              f"lack {need} and will be reported unscorable", file=sys.stderr)


class Runner:
    def __init__(self, cfg: RunOptions):
        cfg.validate()
        self.cfg = cfg
        spec = get_pairing(cfg.pairing)   # unknown names fail here, before any loading
        self.base_is_tiny = spec.is_tiny
        get_suite_def(cfg.suite)
        if cfg.metric:
            METRICS.get(cfg.metric)
        spec = spec.with_checkpoints(cfg.prior_checkpoint, cfg.decoder_checkpoint)
        if cfg.overrides:
            unknown = sorted(set(cfg.overrides) - set(spec.settings))
            if unknown:
                raise UserError(f"--set {unknown[0]}: not a setting of pairing {spec.name!r}; its settings are "
                                f"{', '.join(sorted(spec.settings))}")
            spec = spec.with_overrides(settings={**spec.settings, **cfg.overrides})
        spec.validate_settings()
        self.spec = spec
        self.generator: Any = None
        self.pipe: Optional[Pipeline] = None
        self.png_seconds = 0.0       # PNG encoding + writing, on the writer thread (overlaps generation)
        self.png_wait_seconds = 0.0  # of which the generating thread waited for (on the critical path)
        self.batch_size_used: Any = None
        self.generation_counts: dict = {}
        self.served_counters: dict = {}
        self.ipp = 0
        self.plan_size: Optional[int] = None   # the batch plan's size; None: a run made before plans (its keys kept)
        self.whole: Optional[Suite] = None     # the suite before --limit: batches are cut from it
        self.dist = Distributed()

    def device(self) -> str:
        return self.pipe.device()

    def run(self) -> tuple[Path, Optional[Results]]:
        cfg = self.cfg
        self.whole = load_suite(cfg.suite, cfg.split)
        suite = self.whole.limit(cfg.limit, cfg.limit_mode)
        if not suite.items:
            raise UserError(f"suite {cfg.suite!r} has no prompts")
        metric = METRICS.get(cfg.metric or suite.default_metric)
        check_choices(cfg.settings(), metric)
        check_fit(metric, suite, bool(cfg.metric))
        ipp = self.ipp = cfg.images_per_prompt or suite.images_per_prompt
        out = Path(cfg.out) if cfg.out else default_out(self.spec.name, suite)
        self.dist = dist = Distributed.detect(cfg.shard)
        # --device, else this process's device under a launcher (one GPU per process), else cuda or cpu
        device = cfg.device or (str(dist.state.device) if dist.state is not None else None)
        pipe = self.pipe = Pipeline(out, self.spec.name, suite, metric, cfg.scorers_for(self.base_is_tiny),
                                    choices_from(cfg.settings(), metric), device, cfg.progress, cfg.reference_compat)
        self.plan_size = self.batch_plan_size(out, device)
        samples = self.plan(ipp)
        mine = dist.mine(samples)
        self.check_budget(mine)
        manifest = pipe.manifest(self.spec.to_json(), {
            **cfg.settings(), "scorers": pipe.scorers, "images_per_prompt": ipp,
            "seeds": [image_seed(cfg.seed, n) for n in range(ipp)], "seed_protocol": "image n: seed + n (T2I-CompBench)",
            "device": cfg.device or "auto", "memory_format": "channels_last" if cfg.channels_last else "contiguous",
            "limit_mode": cfg.limit_mode if cfg.limit else None,
            "batch_plan": {"size": self.plan_size, "order": "stratified prompts, then images"} if self.plan_size
            else None, "reproducibility": reproducibility(self.plan_size, pipe.device(), cfg.dtype, self.spec.served),
            **self.served_settings()})
        if dist.world > 1:
            with pipe.writing(manifest, shard=dist.suffix):
                self.generate(mine, dist.suffix)
                pipe.collect_evidence(mine, dist.suffix)
            dist.barrier()
            if not dist.launched or not dist.is_main:
                return out, None  # a job-array shard, or a worker: the main process (or a plain run) merges
        with pipe.writing(manifest):
            gen_seconds, n_generated = self.generate(samples)
            ev_seconds, n_scored = pipe.collect_evidence(samples)
            results = pipe.finish(samples, manifest, self.timings(gen_seconds, n_generated, ev_seconds, n_scored))
        cfg.log(out)   # trackers, after the commit: a failure there costs nothing
        return out, results

    def plan(self, ipp: int) -> list[PlannedSample]:
        """Sample and evidence keys from checkpoint identities resolved once (what this machine holds, else what the
        run directory recorded). Every checkpoint the invocation needs is checked in one preflight; one that is
        neither here nor recorded is downloaded (by loading it) before any key is made, so keys never depend on what
        the cache held."""
        pipe, cfg = self.pipe, self.cfg
        ids = pipe.identities
        pairing_cks = pairing_checkpoints(self.spec)
        pairing_open = [c for c in pairing_cks if ids(c.id, c.kind) is None]
        provider_open = pipe.unresolved_providers()

        def make_plan() -> list[PlannedSample]:
            samples = plan_samples(pipe.suite, self.spec, ipp, cfg.seed, ids, cfg.dtype, cfg.channels_last,
                                   self.plan_size, self.whole)
            # the images already here and intact get their bytes' sha256 (evidence keys hash it); the others are
            # made again: a deleted, truncated or replaced PNG is never reused
            damaged = mark_verified(pipe.out, samples)
            if damaged:
                print(f"eclipse-bench: {listing('image(s) of this directory', damaged)} are missing or damaged and "
                      f"will be made again", file=sys.stderr)
            idents = pipe.identify_providers()
            if all(v is not None for v in idents.values()):
                assign_evidence_keys(samples, pipe.metric, idents)
            return samples

        samples = make_plan() if not pairing_open else None
        mine = self.dist.mine(samples) if samples is not None else None
        need_images = mine is None or any(not s.sha256 for s in mine)
        need = list(pairing_cks) if need_images else []
        for p in pipe.metric.providers:
            if mine is None or pipe.provider_identities.get(p) is None or pipe.evidence_missing(p, mine):
                need += pipe.provider_checkpoints()[p]
        preflight(need)
        if need_images and mine is not None:
            check_disk(pipe.out, [s for s in mine if not s.sha256], self.spec)
        if pairing_open:  # not here and not recorded: download it now (the loader fetches what it loads)
            self.load_generator()
            for c in pairing_open:
                if ids.refresh(c.id, c.kind) is None:
                    raise UserError(f"{c.role} checkpoint {c.id}: loaded, but not found in the Hugging Face cache "
                                    f"afterwards; is HF_HUB_CACHE writable?")
            self.generator.revisions.update(self.revisions())
        pipe.resolve_by_loading(provider_open)
        if pairing_open or any(provider_open.values()):
            samples = make_plan()
        return samples

    def served_settings(self) -> dict:
        """What the manifest says of a served model's seeds and endpoint (the key is never recorded)."""
        if not self.spec.served:
            return {}
        seeds = "sent as `seed` (honoured if the server does)" if self.spec.settings.get("send_seed") else \
            "not controllable: the API takes no seed; image n is the n-th image received for its prompt"
        out = {"seed_protocol": seeds, "seeds_controllable": bool(self.spec.settings.get("send_seed")),
               "endpoint": self.spec.settings.get("endpoint")}
        if not self.spec.settings.get("send_seed"):
            out["seeds"] = None   # compare pairs prompts, never these images by seed
        return out

    def check_budget(self, samples: list[PlannedSample]) -> None:
        """--max-requests: the requests this run needs from served models (images, judge questions), before any."""
        need = 0
        if self.spec.served:
            n = int(self.spec.settings.get("n") or 1)
            per_prompt = Counter(s.prompt_id for s in samples if not s.sha256)
            need += sum(-(-c // n) for c in per_prompt.values())
        self.pipe.check_budget(samples, self.cfg.max_requests, need)

    def batch_plan_size(self, out: Path, device: str) -> Optional[int]:
        """The batch plan's size: --batch-size (auto: 16 on a GPU, 8 on a CPU). None for a directory made before
        batch plans (eclipse-bench 0.2): it keeps the keys its images were made under, and is labelled."""
        found = manifests(out)
        if self.spec.served or (found and all(m.settings.get("batch_plan") is None for m in found)):
            return None
        bs = self.cfg.batch_size if self.cfg.batch_size != "auto" else (16 if device.startswith("cuda") else 8)
        before = {m.settings["batch_plan"].get("size") for m in found if isinstance(m.settings.get("batch_plan"), dict)}
        if before and bs not in before and (Path(out) / "images.jsonl").is_file():
            print(f"eclipse-bench: images made in batches of {', '.join(map(str, sorted(before)))} are not reused at "
                  f"--batch-size {bs} (an image's bytes depend on its batch: they are keyed apart)", file=sys.stderr)
        return int(bs)

    def replan(self, samples: list[PlannedSample], size: int) -> None:
        """Move `samples` to the batch plan of `size` (after an out-of-memory error), under the keys it gives them."""
        cfg = self.cfg
        ident = pairing_identity(self.spec, cfg.dtype, self.pipe.identities, cfg.channels_last)
        rekey(samples, ident, batch_plan(self.whole, self.ipp, cfg.seed, size))

    def revisions(self) -> dict:
        return {c.id: r for c in pairing_checkpoints(self.spec) if (r := self.pipe.identities.revision(c.id))}

    def load_generator(self) -> Any:
        from eclipse_bench.bench.generation.generator import load_generator  # lazy: torch

        if self.generator is None:
            self.generator = load_generator(self.spec, self.device(), self.cfg.dtype,
                                            channels_last=self.cfg.channels_last, revisions=self.revisions())
        return self.generator

    def generate(self, samples: list[PlannedSample], suffix: str = "") -> tuple[float, int]:
        """Make the images the plan found missing or damaged; then every sample's bytes (and evidence keys) are
        known."""
        todo = [s for s in samples if not s.sha256]
        if not todo:
            return 0.0, 0
        device = self.device()
        gen = self.load_generator()
        if self.spec.served:
            done = generate_served(self.pipe.out, samples, gen, self.cfg.concurrency, self.cfg.progress, suffix,
                                   self.pipe.model_calls)
            self.served_counters = done["requests"]
            return done["seconds"], len(todo)
        done = generate_images(self.pipe.out, samples, gen, self.plan_size or 1, device, self.cfg.progress, suffix,
                               self.pipe.model_calls, self.replan)
        self.png_seconds += done["png_seconds"]
        self.png_wait_seconds += done["png_wait_seconds"]
        self.batch_size_used = done["batch_size"]
        for k in ("computed", "discarded", "recomputed", "recomputed_identical"):
            self.generation_counts[k] = self.generation_counts.get(k, 0) + done[k]
        return done["seconds"], len(todo)

    def timings(self, gen_seconds: float, n_generated: int, ev_seconds: float, n_scored: int) -> dict:
        out: dict[str, Any] = {}
        if self.served_counters:
            out["served_generation"] = dict(self.served_counters)
            out["generation"] = {"total": gen_seconds / max(n_generated, 1)}
            out["generated_images"] = n_generated
        elif self.generator is not None and n_generated:
            out["generation"] = {k: v / n_generated for k, v in self.generator.timings.items()}
            out["generation"]["total"] = gen_seconds / n_generated
            out["generation"]["png"] = self.png_seconds / n_generated
            out["generation"]["png_wait"] = self.png_wait_seconds / n_generated
            out["generated_images"] = n_generated
            out["batch_size"] = self.batch_size_used or self.cfg.batch_size
            # the batches' other images: computed and discarded (outside --limit) or compared with the bytes on disk
            out["images_computed"] = self.generation_counts.get("computed", n_generated)
            out["recomputed"] = self.generation_counts.get("recomputed", 0)
            out["recomputed_identical"] = self.generation_counts.get("recomputed_identical", 0)
            if self.generator.peak_memory_mb:
                out["peak_memory_mb"] = dict(self.generator.peak_memory_mb)
        if out:
            out.setdefault("peak_memory_mb", {})["process_rss"] = peak_rss_mb()
        if n_scored:
            out["scoring"] = {"total": ev_seconds / n_scored}
            out["scored_images"] = n_scored
        if out:
            out["unit"] = "seconds per image (this invocation)"
        return out
