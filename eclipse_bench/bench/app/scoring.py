"""The scoring stage: each metric's rule over stored evidence -> samples.jsonl and results.json; and `rescore`,
which re-applies rules to a finished run without loading a model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.finished import read_samples, require_finished, write_finished
from eclipse_bench.bench.core.keys import PlannedSample, inside
from eclipse_bench.bench.core.registry import import_string
from eclipse_bench.bench.core.schema import (EvidenceRecord, ImageRecord, Manifest, Results, Sample, SchemaError,
                                             migrated, read_all, read_manifest, read_results)
from eclipse_bench.bench.core.store import RunLock, atomic_write_json, atomic_write_jsonl, jsonl_lines, shard_files
from eclipse_bench.metrics.aggregate import summarise
from eclipse_bench.metrics.registry import METRICS, PROVIDERS, MetricDef, choices_from
from eclipse_bench.metrics.stage import assign_evidence_keys
from eclipse_bench.prompts.spec import Item, Spec
from eclipse_bench.reports.html import render_run


def output_names(suffix: str = "") -> tuple[str, str, str]:
    """samples, results and report file names; a metric other than the run's own writes beside them
    (samples.M.jsonl, results.M.json, report.M.html)."""
    return f"samples{suffix}.jsonl", f"results{suffix}.json", f"report{suffix}.html"


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


def score_run(out: Path, samples: list[PlannedSample], metric: MetricDef, reference_compat: bool, timings: dict,
              suffix: str = "", scorers: Optional[str] = None, reference_images: Optional[str] = None,
              manifest: Optional[Manifest] = None, coverage: Optional[dict] = None) -> Results:
    """Apply the metric's rule to stored evidence; write samples.jsonl and results.json (or their .M variants).
    `reference_images`: the suite's "module:function" naming the image its reference scripts score for a sample,
    applied under --reference-compat to the metrics that follow it (HRS-Bench's). `manifest`: the run's (default:
    the directory's manifest.json)."""
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
                           evidence=ev, evidence_keys={p: s.evidence_keys.get(p) for p in metric.providers}))
    samples_name, results_name, _ = output_names(suffix)
    atomic_write_jsonl(out / samples_name, [r.to_json() for r in rows])
    agg = metric.aggregator()
    plain = [r.to_json() for r in rows]
    summary = summarise(plain, agg)
    scored = [r for r in rows if r.score is not None]
    previous = read_results(out, results_name) if (out / results_name).is_file() else None
    manifest = manifest or read_manifest(out)
    scorers = scorers or manifest.metric.scorers
    choices = choices_from(manifest.settings, metric)
    breakdown = metric.breakdown_fn()
    results = Results(
        pairing=manifest.pairing_name, suite=manifest.suite.name, metric=metric.name, score=summary["score"],
        ci95=summary["ci95"], n_prompts=summary["n_prompts"], n_images=len(scored), n_unscorable=len(rows) - len(scored),
        aggregate=agg.name, scale=agg.scale, metric_version=metric.version, reference_compat=reference_compat,
        evidence_models=provider_models(metric, scorers, choices),
        **metric.label(choices, [s.item for s in samples]), specs=manifest.specs,
        suite_hash=manifest.suite.hash, scorers=scorers, images_per_prompt=manifest.images_per_prompt,
        seed=manifest.settings.get("seed"), limit=manifest.settings.get("limit"),
        timings=timings or (previous.timings if previous is not None else {}),
        pooled=summary.get("pooled"), by_level=summary.get("by_level"), by_category=summary.get("by_category"),
        breakdowns=breakdown(plain) if breakdown is not None else None,
        coverage=coverage if coverage is not None else (previous.coverage if previous is not None else None))
    atomic_write_json(out / results_name, results.to_json())
    return results


def provider_models(metric, scorers: str, choices: Optional[dict] = None) -> dict:
    """provider -> the model its evidence comes from (`choices`: the --judge / --detector values)."""
    return {p: PROVIDERS.get(p).model(scorers, (choices or {}).get(p)) for p in metric.providers}


def rescore(run_dir: Path, metric_name: Optional[str] = None, reference_compat: Optional[bool] = None) -> Results:
    """Re-apply a metric's rule to the evidence stored in a run directory. Loads no model.

    The run's own metric rewrites results.json; another metric writes results.M.json, samples.M.jsonl and
    report.M.html beside it, and the run stays what it was."""
    run_dir = Path(run_dir)
    require_finished(run_dir, what="rescore")
    manifest = read_manifest(run_dir)
    if migrated(manifest):
        raise UserError(f"{run_dir} was made by eclipse-bench 0.1 (run schema {migrated(manifest)}), whose evidence "
                        f"keys this version cannot rebuild; run `eclipse-bench run` with the same options into it once "
                        f"(images are reused where their keys match), then rescore")
    rows = read_samples(run_dir)   # all of them, or an error: a rescore never drops a record
    if not rows:
        raise UserError(f"{run_dir} has no samples.jsonl records; finish the run with `eclipse-bench run` first")
    records = {r.key: r for r in read_all(run_dir, "images", ImageRecord)}
    metric = METRICS.get(metric_name or manifest.metric.name)
    scorers = manifest.metric.scorers
    compat = manifest.metric.reference_compat if reference_compat is None else reference_compat
    samples = []
    for i, r in enumerate(rows, 1):
        try:
            spec = Spec.from_json(r.spec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{run_dir / 'samples.jsonl'}:{i}: its spec is not a spec ({type(exc).__name__}: {exc}); "
                            f"restore the file or rerun `eclipse-bench run` to rewrite it") from None
        item = Item(id=r.prompt_id, prompt=r.prompt, category=r.category or "", spec=spec, level=r.level)
        inside(run_dir, r.image)
        record = records.get(r.key)
        samples.append(PlannedSample(r.key, item, r.n, r.seed, r.image, sha256=record.sha256 if record else None,
                                     orientation=record.orientation if record else None))
    # Evidence keys from the run itself, never from this machine's model cache: the providers' identities recorded
    # in the manifest (identities.providers, filled by every run into this directory)
    recorded = ((manifest.identities or {}).get("providers") or {}).get(scorers) or {}
    absent = [p for p in metric.providers if p not in recorded]
    if absent:
        raise UserError(f"{run_dir} holds no {absent[0]!r} evidence, which metric {metric.name!r} needs; collect it "
                        f"with `eclipse-bench run ... --out {run_dir} --metric {metric.name}` (images are reused)")
    assign_evidence_keys(samples, metric, {p: recorded[p] for p in metric.providers})
    for p in metric.providers:
        have = stored_evidence(run_dir, p)
        lacking = [s for s in samples if s.evidence_keys[p] not in have]
        if len(lacking) == len(samples):
            raise UserError(f"{run_dir} holds no {p!r} evidence, which metric {metric.name!r} needs; collect it with "
                            f"`eclipse-bench run ... --out {run_dir} --metric {metric.name}` (images are reused)")
        if lacking:   # a cut file, a torn last line: rescore computes nothing, so it would score them unscorable
            raise UserError(f"{run_dir / 'evidence' / (p + '.jsonl')} lacks the records of {len(lacking)} of "
                            f"{len(samples)} images (e.g. {lacking[0].image}); rerun `eclipse-bench run` with the "
                            f"run's options to compute them (nothing else is redone), then rescore")
    own = metric.name == manifest.metric.name
    suffix = "" if own else f".{metric.name}"
    _, results_name, report_name = output_names(suffix)
    with RunLock(run_dir):
        if own:
            choices = choices_from(manifest.settings, metric)
            label = metric.label(choices, [s.item for s in samples])
            manifest.metric.version, manifest.metric.reference_compat = metric.version, compat
            manifest.metric.models = provider_models(metric, scorers, choices)
            manifest.metric.equivalence, manifest.metric.reference_models = label["equivalence"], label["reference_models"]
            manifest.metric.thresholds = label["thresholds"]
            atomic_write_json(run_dir / "manifest.json", manifest.to_json())
        timings = read_results(run_dir).timings if (run_dir / "results.json").is_file() else {}
        results = score_run(run_dir, samples, metric, compat, timings, suffix, scorers,
                            reference_images=manifest.suite.reference_images, manifest=manifest)
        write_finished(run_dir, len(samples), suffix)   # the manifest and results this rescore rewrote
        render_run(run_dir, run_dir / report_name, suffix=suffix)
    return results


