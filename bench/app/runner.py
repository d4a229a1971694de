"""`eclipse-bench run`: suite -> images -> evidence -> scores -> report, resumable; the orchestration of the
stages (keys: bench/core/keys.py; generation: bench/generation/stage.py; evidence: metrics/stage.py; scoring and
rescore: scoring.py; several processes: distributed.py; options: options.py; the run directory: rundir.py and
bench/core/schema.py).

Work already in the run directory is never redone: a finished run re-runs without loading a model, an
interrupted one continues where it stopped.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.app.distributed import Distributed
from eclipse_bench.bench.app.options import RunOptions
from eclipse_bench.bench.app.rundir import (PENDING_MANIFEST, check_owner, default_out, git_revision,
                                            merge_provider_identities, package_versions, recorded_identities)
from eclipse_bench.bench.app.scoring import score_run
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Identities, image_seed
from eclipse_bench.bench.core.schema import EvidenceRecord, Manifest, MetricInfo, Results, SuiteInfo, read_all
from eclipse_bench.bench.core.finished import write_finished
from eclipse_bench.bench.core.store import RunLock, atomic_write_json, fault, remove_stale_temporaries
from eclipse_bench.bench.core.version import __version__
from eclipse_bench.bench.generation.stage import peak_rss_mb


def check_disk(out: Path, todo: list[dict], spec) -> None:
    """Refuse, before any work, images the disk cannot hold (estimated as uncompressed RGB, the PNGs' upper bound)."""
    import shutil

    side = int(spec.settings.get("height") or 256) * int(spec.settings.get("width") or 256)
    need = len(todo) * side * 3
    probe = next((p for p in (Path(out), *Path(out).absolute().parents) if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if need > free:
        raise UserError(f"{out}: {len(todo)} images need up to {need / 2**30:.1f} GiB and {probe} has "
                        f"{free / 2**30:.1f} GiB free; free space, choose another --out, or use --limit")


def unresolved(ids: Identities, provider_cks: dict) -> dict:
    """provider -> its checkpoints that are neither on this machine nor recorded by the run directory."""
    return {p: [c for c in cks if ids(c.id, c.kind) is None] for p, cks in provider_cks.items()}


def resolve_by_loading(ids: Identities, open_cks: dict, scorers: str, device: str, providers: dict,
                       choices: Optional[dict] = None) -> None:
    """Load the providers whose checkpoints are unresolved (the loaders download what they load), kept in
    `providers` for the evidence stage, and identify their checkpoints now that they are here. `choices`: provider ->
    the value of its option (--judge, --detector)."""
    from eclipse_bench.metrics.registry import PROVIDERS

    for p, cks in open_cks.items():
        if cks:
            providers[p] = PROVIDERS.get(p).load(scorers, device=device, choice=(choices or {}).get(p))
            for c in cks:
                if ids.refresh(c.id, c.kind) is None:
                    raise UserError(f"{c.role} {c.id}: loaded, but its identity cannot be resolved afterwards")


def provider_identities(ids: Identities, metric, scorers: str, device: str, providers: dict,
                        choices: Optional[dict] = None) -> dict:
    """The identities of the metric's providers for evidence keys: every checkpoint preflighted in one error, the
    unresolved ones downloaded (by loading them) and identified first."""
    from eclipse_bench.bench.app.preflight import preflight
    from eclipse_bench.metrics.registry import PROVIDERS

    choices = choices or {}
    cks = {p: PROVIDERS.get(p).checkpoints(scorers, choices.get(p)) for p in metric.providers}
    preflight([c for group in cks.values() for c in group])
    resolve_by_loading(ids, unresolved(ids, cks), scorers, device, providers, choices)
    return {p: PROVIDERS.get(p).identity(scorers, ids, choices.get(p)) for p in metric.providers}


class Runner:
    def __init__(self, cfg: RunOptions):
        from eclipse_bench.metrics.registry import METRICS
        from eclipse_bench.bench.generation.pairings import get_pairing
        from eclipse_bench.prompts.registry import get_suite_def

        cfg.validate()
        self.cfg = cfg
        self.spec = get_pairing(cfg.pairing)   # unknown names fail here, before any loading
        self.base_is_tiny = self.spec.is_tiny
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
        self.identities = Identities()   # resolved in run(), from the machine and the run directory
        self.provider_identities: dict = {}
        self.choices: dict = {}                # provider -> --judge / --detector value
        self.model_calls = {"generate": 0, "evidence": 0}
        self.png_seconds = 0.0       # PNG encoding + writing, on the writer thread (overlaps generation)
        self.png_wait_seconds = 0.0  # of which the generating thread waited for (on the critical path)
        self.dist = Distributed()

    def device(self) -> str:
        """--device, else this process's device under a launcher (one GPU per process), else cuda or cpu."""
        from eclipse_bench.bench.generation.generator import default_device

        if self.cfg.device:
            return self.cfg.device
        if self.dist.state is not None:
            return str(self.dist.state.device)
        return default_device()

    # -- stages -----------------------------------------------------------------------------------
    def run(self) -> tuple[Path, Optional[Results]]:
        from eclipse_bench.metrics.registry import METRICS, PROVIDERS, check_choices, choices_from
        from eclipse_bench.prompts.extract import extractor_info
        from eclipse_bench.prompts.registry import load_suite

        cfg = self.cfg
        self.suite = suite = load_suite(cfg.suite, cfg.split).limit(cfg.limit, cfg.limit_mode)
        if not suite.items:
            raise UserError(f"suite {cfg.suite!r} has no prompts")
        self.metric = METRICS.get(cfg.metric or suite.default_metric)
        check_choices(cfg.settings(), self.metric)
        self.choices = choices_from(cfg.settings(), self.metric)   # --judge, --detector
        self.check_fit(suite)
        ipp = cfg.images_per_prompt or suite.images_per_prompt
        out = Path(cfg.out) if cfg.out else default_out(self.spec.name, suite)
        self.out = out
        # a twin pairing scores with twin scorers, also with a checkpoint of the user's swapped in
        scorers = cfg.scorers or ("tiny" if self.base_is_tiny else "real")
        self.dist = dist = Distributed.detect(cfg.shard)
        before = check_owner(out, self.spec.name, suite.name)
        recorded = recorded_identities(out)
        self.identities = Identities(recorded.get("checkpoints"))
        samples, provider_ids = self.plan(suite, ipp, scorers, dist)
        mine = samples[dist.rank::dist.world]
        options = cfg.settings()
        manifest = Manifest(
            version=__version__, git_revision=git_revision(), created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            pairing=self.spec.to_json(),
            suite=SuiteInfo(suite.name, suite.source, suite.hash, len(suite.items), suite.reference_images or None),
            metric=MetricInfo(self.metric.name, self.metric.version, scorers,
                              {p: PROVIDERS.get(p).model(scorers, self.choices.get(p)) for p in self.metric.providers},
                              provider_ids, cfg.reference_compat,
                              **self.metric.label(self.choices, suite.items)),
            identities={"checkpoints": self.identities.record(),
                        "providers": merge_provider_identities(recorded.get("providers"), scorers, provider_ids)},
            specs=extractor_info() if suite.extracted else {"backend": "given", "reference_exact": True,
                                                             "note": "specs from the suite's own structure"},
            settings={**options, "images_per_prompt": ipp, "seeds": [image_seed(cfg.seed, n) for n in range(ipp)],
                      "seed_protocol": "image n: seed + n (T2I-CompBench)", "device": cfg.device or "auto",
                      "memory_format": "channels_last" if cfg.channels_last else "contiguous",
                      "limit_mode": cfg.limit_mode if cfg.limit else None},
            versions=package_versions(), platform=platform.platform(), command=list(sys.argv))
        # This invocation's plan is manifest.next.json until it finishes: the directory's finished state (manifest,
        # results, samples and their marker) stays readable, and consistent, until the new one replaces it.
        pending = out / PENDING_MANIFEST
        if dist.world > 1:
            with RunLock(out, shard=dist.suffix):
                if dist.is_main or not pending.is_file():
                    atomic_write_json(pending, manifest.to_json())
                self.generate(mine, dist.suffix)
                self.collect_evidence(mine, scorers, dist.suffix)
            dist.barrier()
            if not dist.launched or not dist.is_main:
                return out, None  # a job-array shard, or a worker: the main process (or a plain run) merges
        with RunLock(out):
            remove_stale_temporaries(out)   # left by a killed writer; no writer is alive while we hold the lock
            atomic_write_json(pending, manifest.to_json())
            gen_seconds, n_generated = self.generate(samples)
            ev_seconds, n_scored = self.collect_evidence(samples, scorers)
            timings = self.timings(gen_seconds, n_generated, ev_seconds, n_scored)
            fault("score", 1)
            results = score_run(out, samples=samples, metric=self.metric, reference_compat=cfg.reference_compat,
                                timings=timings, reference_images=suite.reference_images, manifest=manifest)
            os.replace(pending, out / "manifest.json")
            write_finished(out, len(samples))
            from eclipse_bench.reports.html import render_run

            render_run(out, out / "report.html")
            return out, results

    def check_fit(self, suite) -> None:
        """Work the metric cannot judge is refused before the first image: no prompt it can judge (say, complex
        prompts without a sub-category), or, with an explicit --metric, fewer than half."""
        from eclipse_bench.metrics.registry import metric_fits

        fit, need = metric_fits(self.metric.name, suite.items)
        if fit == 0 or (self.cfg.metric and fit * 2 < len(suite.items)):
            fix = (f"use the suite's metric {suite.default_metric} (drop --metric)" if self.cfg.metric else
                   "give the prompts what the metric needs, or choose another --metric")
            raise UserError(f"--metric {self.metric.name} does not fit suite {suite.name}: it needs {need}, which {fit} "
                            f"of {len(suite.items)} prompts have; {fix} (nothing was generated)")
        if fit < len(suite.items):
            from eclipse_bench.metrics.registry import METRICS

            ok = METRICS.get(self.metric.name).fits[1]
            bad = [i.id for i in suite.items if not ok(i.spec, i.category)]
            print(f"eclipse-bench: warning: {len(bad)} of {len(suite.items)} prompts of {suite.name} lack {need} and "
                  f"will be reported unscorable ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})",
                  file=sys.stderr)

    def plan(self, suite, ipp: int, scorers: str, dist: Distributed) -> tuple[list[dict], dict]:
        """Sample and evidence keys from checkpoint identities resolved once (Identities: what this machine holds,
        else what the run directory recorded). Every checkpoint the invocation needs is checked in one preflight;
        one that is neither here nor recorded is downloaded (by loading it) before any key is made, so keys never
        depend on what the cache held. Returns the samples (with evidence keys) and the providers' identities."""
        from eclipse_bench.bench.core.keys import plan_samples
        from eclipse_bench.bench.generation.stage import mark_verified
        from eclipse_bench.metrics.registry import PROVIDERS
        from eclipse_bench.bench.app.preflight import pairing_checkpoints, preflight
        from eclipse_bench.metrics.stage import assign_evidence_keys

        ids, cfg, metric = self.identities, self.cfg, self.metric
        pairing_cks = pairing_checkpoints(self.spec)
        choices = self.choices
        provider_cks = {p: PROVIDERS.get(p).checkpoints(scorers, choices.get(p)) for p in metric.providers}
        pairing_open = [c for c in pairing_cks if ids(c.id, c.kind) is None]
        provider_open = unresolved(ids, provider_cks)

        def make_plan():
            samples = plan_samples(suite, self.spec, ipp, cfg.seed, ids, cfg.dtype, cfg.channels_last)
            # the images already here and intact get their bytes' sha256 (evidence keys hash it); the others are
            # made again: a deleted, truncated or replaced PNG is never reused
            damaged = mark_verified(self.out, samples)
            if damaged:
                print(f"eclipse-bench: {len(damaged)} image(s) of this directory are missing or damaged and will be "
                      f"made again ({', '.join(damaged[:3])}{', ...' if len(damaged) > 3 else ''})", file=sys.stderr)
            idents = {p: PROVIDERS.get(p).identity(scorers, ids, choices.get(p)) for p in metric.providers}
            if all(v is not None for v in idents.values()):
                assign_evidence_keys(samples, metric, idents)
            return samples, idents

        samples, idents = make_plan() if not pairing_open else (None, {})
        mine = samples[dist.rank::dist.world] if samples is not None else None
        need_images = mine is None or any(not s.get("sha256") for s in mine)
        need = list(pairing_cks) if need_images else []
        for p in metric.providers:
            if mine is None or idents.get(p) is None or self.evidence_missing(p, mine):
                need += provider_cks[p]
        preflight(need)
        if need_images and mine is not None:
            check_disk(self.out, [s for s in mine if not s.get("sha256")], self.spec)
        if pairing_open:  # not here and not recorded: download it now (the loader fetches what it loads)
            self.load_generator()
            for c in pairing_open:
                if ids.refresh(c.id, c.kind) is None:
                    raise UserError(f"{c.role} checkpoint {c.id}: loaded, but not found in the Hugging Face cache "
                                    f"afterwards; is HF_HUB_CACHE writable?")
            self.generator.revisions.update(self.revisions(pairing_cks))
        resolve_by_loading(ids, provider_open, scorers, self.device(), self.providers, choices)
        if pairing_open or any(provider_open.values()):
            samples, idents = make_plan()
        self.provider_identities = idents
        return samples, idents

    def revisions(self, checkpoints) -> dict:
        return {c.id: r for c in checkpoints if (r := self.identities.revision(c.id))}

    def evidence_missing(self, provider: str, samples: list[dict]) -> bool:
        have = {r.key for r in read_all(self.out / "evidence", provider, EvidenceRecord)} if self.out.exists() else set()
        return any(s["evidence_keys"].get(provider) not in have for s in samples)

    def load_generator(self):
        from eclipse_bench.bench.generation.generator import load_generator
        from eclipse_bench.bench.app.preflight import pairing_checkpoints

        if self.generator is None:
            self.generator = load_generator(self.spec, self.device(), self.cfg.dtype,
                                            channels_last=self.cfg.channels_last,
                                            revisions=self.revisions(pairing_checkpoints(self.spec)))
        return self.generator

    def generate(self, samples: list[dict], suffix: str = "") -> tuple[float, int]:
        """Make the images the plan found missing or damaged; then every sample's evidence keys are known."""
        from eclipse_bench.bench.generation.stage import generate_images
        from eclipse_bench.metrics.stage import assign_evidence_keys

        todo = [s for s in samples if not s.get("sha256")]
        if not todo:
            return 0.0, 0
        device = self.device()
        gen = self.load_generator()
        bs = self.cfg.batch_size if self.cfg.batch_size != "auto" else (16 if device.startswith("cuda") else 8)
        done = generate_images(self.out, todo, gen, bs, device, self.cfg.progress, suffix, self.model_calls)
        self.png_seconds += done["png_seconds"]
        self.png_wait_seconds += done["png_wait_seconds"]
        self.batch_size_used = done["batch_size"]
        if all(v is not None for v in self.provider_identities.values()):
            assign_evidence_keys(todo, self.metric, self.provider_identities)   # their bytes are known now
        return done["seconds"], len(todo)

    def collect_evidence(self, samples: list[dict], scorers: str, suffix: str = "") -> tuple[float, int]:
        from eclipse_bench.metrics.registry import PROVIDERS
        from eclipse_bench.metrics.stage import collect_evidence

        revisions = {p: r for p in self.metric.providers
                     for c in PROVIDERS.get(p).checkpoints(scorers, self.choices.get(p))
                     if (r := self.identities.revision(c.id))}
        return collect_evidence(self.out, samples, self.metric, scorers, self.device(), self.cfg.progress, suffix,
                                self.providers, self.model_calls, revisions, self.choices)

    def timings(self, gen_seconds: float, n_generated: int, ev_seconds: float, n_scored: int) -> dict:
        out: dict[str, Any] = {}
        if self.generator is not None and n_generated:
            out["generation"] = {k: v / n_generated for k, v in self.generator.timings.items()}
            out["generation"]["total"] = gen_seconds / n_generated
            out["generation"]["png"] = self.png_seconds / n_generated
            out["generation"]["png_wait"] = self.png_wait_seconds / n_generated
            out["generated_images"] = n_generated
            out["batch_size"] = getattr(self, "batch_size_used", self.cfg.batch_size)
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
