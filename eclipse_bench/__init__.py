"""eclipse-bench: compositional text-to-image evaluation for prior + decoder pairings.

The public API. Everything else is a module of a layer, imported as ``eclipse_bench.<its path>``: its file is that
path under the repository root (``eclipse_bench.bench.core.store`` is ``bench/core/store.py``; the layer folders are
linked into this package, ``eclipse_bench/bench -> ../bench``, so every tool resolves them without running code).
Data flows one way through the layers, listed in LAYERS from the bottom: a module imports its own layer and those
below it, never one beside it or above (tests/test_import_graph.py reads this table and the folders).
"""

from __future__ import annotations

import os as _os
from pathlib import Path as _Path
from typing import Any as _Any

from eclipse_bench.bench.app.importer import Importer
from eclipse_bench.bench.app.multi import is_many, run_many
from eclipse_bench.bench.app.options import RunOptions, ScoreOptions
from eclipse_bench.bench.app.prior_eval import prior_eval as _prior_eval
from eclipse_bench.bench.app.runner import Runner
from eclipse_bench.bench.app.scoring import rescore as _rescore
from eclipse_bench.bench.core.version import __version__
from eclipse_bench.reports.compare import compare_runs as _compare_runs
from eclipse_bench.reports.export import export_frame as _export_frame
from eclipse_bench.reports.html import render_leaderboard as _render_leaderboard
from eclipse_bench.reports.html import render_run as _render_run
from eclipse_bench.reports.table import table as _table

# folder (as an import path below eclipse_bench) -> layer; each layer may import the layers of lower rank
LAYERS = {
    "bench.core": ("core", 0),              # errors, registry, keys, store, paths, schema, loaders, tiny twins
    "prompts": ("prompts", 1),              # suites -> items with structured specs
    "bench.generation": ("generation", 2),  # pairings, generators, the generation stage
    "metrics": ("metrics", 2),              # evidence providers, the evidence stage, rules, aggregates
    "reports": ("reports", 3),              # HTML, compare, export
    "bench.app": ("app", 4),                # the CLI and the orchestration of a run, scoring, prior-eval
}

__all__ = ["__version__", "LAYERS", "compare", "export", "prior_eval", "report", "rescore", "run", "score", "table"]


def run(pairing: str, suite: str, **options: _Any) -> dict:
    """Generate (what is missing), collect evidence, score and report one run; returns its results.json as a dict.
    `options` are the run options by field name (eclipse_bench.bench.app.options.RunOptions: out, limit,
    images_per_prompt, seed, batch_size, device, dtype, metric, scorers, ...). Several suites ("t2i-compbench",
    "color,shape") or checkpoints (prior_checkpoint="ckpts/step-*") make one run each; then the benchmark's index
    (benchmark.json: every run with its suite, checkpoint, step and score) is returned."""
    cfg = RunOptions(pairing=pairing, suite=suite, **options)
    cfg.validate()
    if is_many(cfg):
        return run_many(cfg, printing=False)
    out, results = Runner(cfg).run()
    return results.to_json() if results is not None else {}


def rescore(run_dir: str | _os.PathLike, metric: str | None = None, reference_compat: bool | None = None) -> dict:
    """Re-apply a metric's rules to the evidence stored in a run directory (no model is loaded); returns the
    results.json it wrote, as a dict."""
    return _rescore(_Path(run_dir), metric, reference_compat).to_json()


def prior_eval(prior: _Any, text_encoder: _Any, tokenizer: _Any, suite: str = "color", **kwargs: _Any) -> dict:
    """Prior-only metrics of an in-memory prior, for a training loop (eclipse_bench.bench.app.prior_eval)."""
    return _prior_eval(prior, text_encoder, tokenizer, suite=suite, **kwargs)


def score(images: str | _os.PathLike, suite: str, **options: _Any) -> dict:
    """Import images made anywhere (the layouts of the benchmarks' own tools, or a manifest) into a run directory
    and score them as a generated run is scored; returns its results.json as a dict. `options` are the score options
    by field name (eclipse_bench.bench.app.options.ScoreOptions: name, out, layout, metric, scorers, limit, ...)."""
    _, results = Importer(ScoreOptions(images=_Path(images), suite=suite, **options)).run()
    return results.to_json()


def compare(baseline: str | _os.PathLike, candidate: str | _os.PathLike, max_drop: float | None = None,
            **options: _Any) -> dict:
    """The CI gate's comparison of two finished runs, as `eclipse-bench compare --format json` prints it: "verdict"
    is "regression" or "pass", per-group deltas, CIs and p-values, coverage and the power line. `options`: alpha,
    max_unscorable_increase, min_prompts, allow, metric, compat (reports.compare.compare_runs)."""
    return _compare_runs(_Path(baseline), _Path(candidate), max_drop, **options).to_json()


def report(run_dirs: str | _os.PathLike | list, out: str | _os.PathLike, **options: _Any) -> _Path:
    """The HTML drill-down of one run, or the leaderboard of several; returns the path written."""
    dirs = [run_dirs] if isinstance(run_dirs, (str, _os.PathLike)) else list(run_dirs)
    if len(dirs) == 1:
        return _render_run(_Path(dirs[0]), _Path(out), **options)
    return _render_leaderboard([_Path(d) for d in dirs], _Path(out), **options)


def export(run_dirs: str | _os.PathLike | list, level: str = "sample", **options: _Any):
    """Runs as a pandas DataFrame: one row per sample (level="sample") or per group of the results ("category"),
    with their labels (scorers, equivalence, limit, images per prompt)."""
    dirs = [run_dirs] if isinstance(run_dirs, (str, _os.PathLike)) else list(run_dirs)
    return _export_frame([_Path(d) for d in dirs], level, **options)


def table(run_dirs: str | _os.PathLike | list, fmt: str = "markdown", **options: _Any) -> str:
    """Runs as the benchmark's published table (markdown, latex or csv), footnoted: layout, ci, metric, compat."""
    dirs = [run_dirs] if isinstance(run_dirs, (str, _os.PathLike)) else list(run_dirs)
    return _table([_Path(d) for d in dirs], fmt, **options)
