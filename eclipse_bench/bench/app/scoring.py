"""Scoring and committing a state: each metric's rule over stored evidence -> samples, results and the report,
committed together (eclipse_bench.bench.core.state); and `rescore`, which re-applies rules to what a run directory
holds without loading a model: the run's own state, a variant beside it (another metric, the reference's rules), or a
run a kill left unfinished whose images and evidence are all there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Identities, PlannedSample, inside, plan_samples
from eclipse_bench.bench.core.registry import import_string
from eclipse_bench.bench.core.schema import (EvidenceRecord, ImageRecord, Manifest, Results, Sample, SchemaError,
                                             migrated, read_all, read_manifest)
from eclipse_bench.bench.core.state import PENDING_MANIFEST, RunState, commit, prepared, roll_forward, variant_suffix
from eclipse_bench.bench.core.store import (RunLock, atomic_write_bytes, atomic_write_json, atomic_write_jsonl,
                                            jsonl_lines, remove_stale_temporaries, shard_files)
from eclipse_bench.bench.generation.pairings import PairingSpec
from eclipse_bench.bench.generation.stage import reproducibility
from eclipse_bench.metrics.aggregate import summarise
from eclipse_bench.metrics.registry import METRICS, PROVIDERS, MetricDef, choices_from
from eclipse_bench.metrics.stage import assign_evidence_keys
from eclipse_bench.prompts.load import load_suite
from eclipse_bench.prompts.spec import Item, Spec
from eclipse_bench.reports.html import run_page


def stored_evidence(out: Path, provider: str) -> dict[str, dict]:
    """evidence key -> record of one provider (every shard's file too), each record checked against the schema and
    against the provider's own record shape: a record without its fields is damage (never "nothing detected")."""
    pdef = PROVIDERS.get(provider)
    out_: dict[str, dict] = {}
    for path in shard_files(out / "evidence", provider):
        for lineno, doc in jsonl_lines(path):
            try:
                rec = EvidenceRecord.from_json(doc, "")
            except SchemaError as exc:
                raise UserError(f"{path}:{lineno}: {exc}; delete the line to have that evidence computed again") \
                    from None
            why = pdef.check_record(rec.evidence)
            if why:
                raise UserError(f"{path}:{lineno}: not a {provider} evidence record ({why}); delete the line to have "
                                f"that evidence computed again")
            out_[rec.key] = rec.evidence
    return out_


def score_samples(out: Path, samples: list[PlannedSample], metric: MetricDef, reference_compat: bool,
                  reference_images: Optional[str] = None) -> list[Sample]:
    """The metric's rule over each sample's stored evidence. `reference_images`: the suite's "module:function" naming
    the image its reference scripts score for a sample, applied under --reference-compat to the metrics that follow
    it (HRS-Bench's)."""
    rule = metric.rule_fn()
    evidence = {p: stored_evidence(out, p) for p in metric.providers}
    # chosen by the suite (never by the look of an id): the images the suite's reference scripts score
    use_source = reference_compat and metric.follows_reference_images and reference_images
    source = import_string(reference_images) if use_source else None
    by_image = {(s.prompt_id, s.n): s for s in samples}
    rows: list[Sample] = []
    for s in samples:
        keys = s.evidence_keys
        src = source(s.prompt_id, s.n) if source else None
        if isinstance(src, tuple):
            keys = by_image[src].evidence_keys if src in by_image else {}
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
            extra = {"category": s.item.category} if metric.takes_category else {}
            try:
                v = rule(ev, s.item.spec, reference_compat=reference_compat, **extra)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                raise UserError(f"{out / 'evidence'}: the {'/'.join(metric.providers)} evidence of image {s.image} "
                                f"does not have the shape metric {metric.name} reads ({type(exc).__name__}: {exc}); "
                                f"delete its record (key {keys.get(metric.providers[0])}) to have it computed again"
                                ) from None
            verdict_score, reason, details = v.score, v.reason, v.details
        rows.append(Sample(key=s.key, prompt_id=s.prompt_id, prompt=s.prompt, n=s.n, image=s.image,
                           seed=s.seed, category=s.item.category, level=s.item.level,
                           spec=s.item.spec.to_json(), score=verdict_score, reason=reason, details=details,
                           evidence=ev, evidence_keys={p: s.evidence_keys.get(p) for p in metric.providers},
                           batch_size=s.batch_size, environment=s.environment))
    return rows


def summarise_rows(rows: list[Sample], items: list, metric: MetricDef, manifest: Manifest, reference_compat: bool,
                   timings: dict, coverage: Optional[dict] = None) -> Results:
    """results.json of scored samples."""
    agg = metric.aggregator()
    plain = [r.to_json() for r in rows]
    summary = summarise(plain, agg)
    scored = [r for r in rows if r.score is not None]
    scorers = manifest.metric.scorers
    choices = choices_from(manifest.settings, metric)
    breakdown = metric.breakdown_fn()
    return Results(
        pairing=manifest.pairing_name, suite=manifest.suite.name, metric=metric.name, score=summary["score"],
        ci95=summary["ci95"], n_prompts=summary["n_prompts"], n_images=len(scored), n_unscorable=len(rows) - len(scored),
        aggregate=agg.name, scale=agg.scale, metric_version=metric.version, reference_compat=reference_compat,
        evidence_models=provider_models(metric, scorers, choices), **metric.label(choices, items),
        specs=manifest.specs, suite_hash=manifest.suite.hash, scorers=scorers,
        images_per_prompt=manifest.images_per_prompt, seed=manifest.settings.get("seed"),
        limit=manifest.settings.get("limit"), timings=timings, pooled=summary.get("pooled"),
        by_level=summary.get("by_level"), by_category=summary.get("by_category"),
        breakdowns=breakdown(plain) if breakdown is not None else None, coverage=coverage,
        generation=generation_label(rows, manifest))


def generation_label(rows: list[Sample], manifest: Manifest) -> Optional[dict]:
    """How a generated run's images were made: {batch size: images} ("none": before batch plans), {environment:
    images}, and what that guarantees (the manifest's statement; a mix of either is named)."""
    if manifest.source.get("kind", "generated") != "generated":
        return None
    served = bool(manifest.settings.get("endpoint"))
    sizes = Counter(str(r.batch_size) if r.batch_size else ("served" if served else "none") for r in rows)
    envs = Counter(r.environment or "not recorded" for r in rows)
    plan = manifest.settings.get("batch_plan")
    label = {"batch_sizes": dict(sorted(sizes.items())), "environments": dict(sorted(envs.items())),
             "reproducibility": manifest.settings.get("reproducibility")
             or reproducibility(plan.get("size") if isinstance(plan, dict) else None, "cpu", "fp32")}
    if len(sizes) > 1 or len(envs) > 1:
        label["mixed"] = (f"images made under {len(sizes)} batch size(s) and {len(envs)} environment(s): images "
                          f"of one batch size and environment are reproducible together, not across")
    return label


def commit_state(out: Path, suffix: str, rows: list[Sample], results: Results,
                 manifest: Optional[Manifest] = None) -> None:
    """Prepare the state's files (samples, results, the report; the manifest for the run's own state: its plan is
    manifest.next.json already unless given) and commit them as one (eclipse_bench.bench.core.state.commit)."""
    if manifest is not None:
        atomic_write_json(out / PENDING_MANIFEST, manifest.to_json())
    elif suffix:
        manifest = RunState.open(out, "").manifest()
    else:
        manifest = read_manifest(out, PENDING_MANIFEST)
    atomic_write_jsonl(out / prepared(f"samples{suffix}.jsonl"), [r.to_json() for r in rows])
    atomic_write_json(out / prepared(f"results{suffix}.json"), results.to_json())
    atomic_write_bytes(out / prepared(f"report{suffix}.html"), run_page(out, rows, results, manifest))
    commit(out, suffix, len(rows))


def provider_models(metric: MetricDef, scorers: str, choices: Optional[dict] = None) -> dict:
    """provider -> the model its evidence comes from (`choices`: the --judge / --detector values)."""
    return {p: PROVIDERS.get(p).model(scorers, (choices or {}).get(p)) for p in metric.providers}


# -- rescore ---------------------------------------------------------------------------------------------------

def rescore(run_dir: Path, metric_name: Optional[str] = None, reference_compat: Optional[bool] = None) -> Results:
    """Re-apply a metric's rule to the evidence stored in a run directory (rescore_run); returns its results."""
    return rescore_run(run_dir, metric_name, reference_compat)[0]


def rescore_run(run_dir: Path, metric_name: Optional[str] = None,
                reference_compat: Optional[bool] = None) -> tuple[Results, str]:
    """Re-apply a metric's rule to the evidence stored in a run directory; loads no model and needs nothing outside
    the directory.

    The run's own metric and rules rebuild the run's own state (results.json, samples.jsonl, report.html); another
    metric or the other rules write a variant beside it (results.M.json, results.compat.json, ...), so a plain read
    of the run keeps its meaning. A run a kill left unfinished is finished from its plan when its images and evidence
    are all there. Returns the results and the suffix of the state it committed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    with RunLock(run_dir):
        roll_forward(run_dir)
        remove_stale_temporaries(run_dir)
        committed = (run_dir / "finished.json").is_file() or migrated_v1(run_dir)
        state = RunState.open(run_dir, "", "rescore", verify=False) if committed else None
        if state is not None:   # only what rescore reads must be intact: it rebuilds the rest
            state.verify(("manifest.json",))
        manifest = state.manifest() if state is not None else _plan(run_dir)
        if migrated(manifest):
            raise UserError(f"{run_dir} was made by eclipse-bench 0.1 (run schema {migrated(manifest)}), whose "
                            f"evidence keys this version cannot rebuild; run `eclipse-bench run` with the same options "
                            f"into it once (images are reused where their keys match), then rescore")
        metric = METRICS.get(metric_name or manifest.metric.name)
        compat = manifest.metric.reference_compat if reference_compat is None else reference_compat
        suffix = variant_suffix(manifest, metric.name, compat)
        if state is not None and state.intact("samples.jsonl"):
            samples = _committed_samples(state)
        else:   # no committed samples (a run a kill left unfinished) or damaged ones: from the plan and the suite
            samples = _planned_samples(run_dir, manifest)
        scorers = manifest.metric.scorers
        recorded = ((manifest.identities or {}).get("providers") or {}).get(scorers) or {}
        absent = [p for p in metric.providers if p not in recorded]
        if absent:
            raise UserError(f"{run_dir} holds no {absent[0]!r} evidence, which metric {metric.name!r} needs; collect "
                            f"it with `eclipse-bench run ... --out {run_dir} --metric {metric.name}` (images are "
                            f"reused)")
        # evidence keys from the run itself, never from this machine's model cache
        assign_evidence_keys(samples, metric, {p: recorded[p] for p in metric.providers})
        _require_evidence(run_dir, samples, metric, manifest, committed)
        previous = state.results() if state is not None and state.intact("results.json") else None
        timings = previous.timings if previous is not None else {}
        coverage = previous.coverage if previous is not None else None
        rows = score_samples(run_dir, samples, metric, compat, manifest.suite.reference_images)
        if not suffix:   # the run's own state: the manifest follows the metric's current version and labels
            choices = choices_from(manifest.settings, metric)
            label = metric.label(choices, [s.item for s in samples])
            manifest.metric.version = metric.version
            manifest.metric.models = provider_models(metric, scorers, choices)
            manifest.metric.equivalence, manifest.metric.reference_models = label["equivalence"], label["reference_models"]
            manifest.metric.thresholds = label["thresholds"]
        results = summarise_rows(rows, [s.item for s in samples], metric, manifest, compat, timings, coverage)
        commit_state(run_dir, suffix, rows, results, manifest if not suffix else None)
    return results, suffix


def migrated_v1(run_dir: Path) -> bool:
    """An eclipse-bench 0.1 directory: results without a marker."""
    return (run_dir / "manifest.json").is_file() and (run_dir / "results.json").is_file() and \
        not (run_dir / "finished.json").is_file() and bool(migrated(read_manifest(run_dir)))


def _plan(run_dir: Path) -> Manifest:
    if not (run_dir / PENDING_MANIFEST).is_file():
        raise UserError(f"{run_dir}: not an eclipse-bench run directory (no finished state and no plan); run "
                        f"`eclipse-bench run` or `score` into it first")
    return read_manifest(run_dir, PENDING_MANIFEST)


def _committed_samples(state: RunState) -> list[PlannedSample]:
    """The samples of the run's own committed state, with their images' records."""
    run_dir = state.run_dir
    rows = state.samples()   # all of them, or an error: a rescore never drops a record
    if not rows:
        raise UserError(f"{run_dir} has no samples; finish the run with `eclipse-bench run` first")
    records = {r.key: r for r in read_all(run_dir, "images", ImageRecord)}
    samples = []
    for i, r in enumerate(rows, 1):
        try:
            spec = Spec.from_json(r.spec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{state.path('samples.jsonl')}:{i}: its spec is not a spec ({type(exc).__name__}: "
                            f"{exc}); restore the file from a copy") from None
        item = Item(id=r.prompt_id, prompt=r.prompt, category=r.category or "", spec=spec, level=r.level)
        inside(run_dir, r.image)
        record = records.get(r.key)
        samples.append(PlannedSample(r.key, item, r.n, r.seed, r.image, sha256=record.sha256 if record else None,
                                     orientation=record.orientation if record else None, batch_size=r.batch_size,
                                     environment=r.environment))
    return samples


def _planned_samples(run_dir: Path, plan: Manifest) -> list[PlannedSample]:
    """The samples of an unfinished run's plan, from the images it recorded and the suite it names (checked against
    the plan's hash): every planned image must be there."""
    settings = plan.settings
    try:
        whole = load_suite(plan.suite.name if not plan.suite.name.startswith("file:") else plan.suite.source,
                           settings.get("split") or "val")
        suite = whole.limit(settings.get("limit"), settings.get("limit_mode") or "stratified")
    except UserError as exc:
        raise UserError(f"{run_dir}: its plan's suite cannot be loaded ({exc}); {_rerun(plan)}") from None
    if suite.hash != plan.suite.hash:
        raise UserError(f"{run_dir}: the suite {plan.suite.name} changed since the run was planned; {_rerun(plan)}")
    items = {i.id: i for i in suite.items}
    records = {r.key: r for r in read_all(run_dir, "images", ImageRecord)}
    if plan.source.get("kind") == "imported":   # keys hash the imported bytes: the latest record of each image
        latest = {(r.prompt_id, r.n): r for r in records.values() if r.prompt_id in items}
        samples = [PlannedSample(r.key, items[r.prompt_id], r.n, r.seed, r.image, sha256=r.sha256,
                                 orientation=r.orientation) for r in latest.values()]
        missing = set(plan.source.get("missing_prompts") or [])
        lacking = [i for i in items if i not in missing and not any(s.prompt_id == i for s in samples)]
    else:   # generated: the plan's own keys, from its pairing and the identities it recorded
        spec = PairingSpec(**{k: v for k, v in plan.pairing.items() if k in PAIRING_FIELDS})
        batch = settings.get("batch_plan")
        size = batch.get("size") if isinstance(batch, dict) else None
        keyed = dict(spec=spec, images_per_prompt=plan.images_per_prompt, base_seed=settings.get("seed", 42),
                     identities=Identities(plan.identities.get("checkpoints")), dtype=settings.get("dtype", "fp32"),
                     channels_last=settings.get("memory_format") == "channels_last", whole_suite=whole)
        samples = plan_samples(suite, batch_size=size, **keyed)
        # images an out-of-memory back-off made under a smaller batch plan
        for smaller in sorted({r.batch_size for r in records.values() if r.batch_size and r.batch_size != size}):
            alt = {(a.prompt_id, a.n): a for a in plan_samples(suite, batch_size=smaller, **keyed)}
            samples = [alt[(s_.prompt_id, s_.n)] if s_.key not in records and alt[(s_.prompt_id, s_.n)].key in records
                       else s_ for s_ in samples]
        for s_ in samples:
            if s_.key in records:
                s_.sha256, s_.environment = records[s_.key].sha256, records[s_.key].environment
        lacking = [f"{s_.prompt_id} #{s_.n}" for s_ in samples if s_.key not in records]
    if lacking or not samples:
        raise UserError(f"{run_dir}: the run never finished and {len(lacking)} planned image(s) are not there "
                        f"(e.g. {(lacking or ['all'])[0]}); {_rerun(plan)}")
    order = list(items)
    samples.sort(key=lambda s_: (order.index(s_.prompt_id), s_.n))
    return samples


PAIRING_FIELDS = ("name", "family", "prior", "decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id",
                  "text_projection_dim", "settings")


def _require_evidence(run_dir: Path, samples: list[PlannedSample], metric: MetricDef, manifest: Manifest,
                      committed: bool) -> None:
    for p in metric.providers:
        have = stored_evidence(run_dir, p)
        lacking = [s for s in samples if s.evidence_keys[p] not in have]
        if len(lacking) == len(samples) and committed:
            raise UserError(f"{run_dir} holds no {p!r} evidence, which metric {metric.name!r} needs; collect it with "
                            f"`eclipse-bench run ... --out {run_dir} --metric {metric.name}` (images are reused)")
        if lacking:   # a cut file, a torn last line, a run killed before its evidence: rescore computes nothing
            raise UserError(f"{run_dir / 'evidence' / (p + '.jsonl')} lacks the records of {len(lacking)} of "
                            f"{len(samples)} images (e.g. {lacking[0].image}); {_rerun(manifest)}, then rescore")


def _rerun(manifest: Manifest) -> str:
    """The command that computes what a run directory lacks: the one recorded in its manifest."""
    recorded = " ".join(manifest.command[1:]) if len(manifest.command) > 1 else ""
    how = f"`eclipse-bench {recorded}`" if recorded else "the `eclipse-bench run` / `score` command that made it"
    return f"rerun {how} (what is there is reused)"
