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

from eclipse_bench.bench.app.options import RunOptions
from eclipse_bench.bench.app.prior_eval import prior_eval as _prior_eval
from eclipse_bench.bench.app.runner import Runner
from eclipse_bench.bench.app.scoring import rescore as _rescore
from eclipse_bench.bench.core.version import __version__

# folder (as an import path below eclipse_bench) -> layer; each layer may import the layers of lower rank
LAYERS = {
    "bench.core": ("core", 0),              # errors, registry, keys, store, paths, schema, loaders, tiny twins
    "prompts": ("prompts", 1),              # suites -> items with structured specs
    "bench.generation": ("generation", 2),  # pairings, generators, the generation stage
    "metrics": ("metrics", 2),              # evidence providers, the evidence stage, rules, aggregates
    "reports": ("reports", 3),              # HTML, compare, export
    "bench.app": ("app", 4),                # the CLI and the orchestration of a run, scoring, prior-eval
}

__all__ = ["__version__", "LAYERS", "prior_eval", "rescore", "run"]


def run(pairing: str, suite: str, **options: _Any) -> dict:
    """Generate (what is missing), collect evidence, score and report one run; returns its results.json as a dict.
    `options` are the run options by field name (eclipse_bench.bench.app.options.RunOptions: out, limit,
    images_per_prompt, seed, batch_size, device, dtype, metric, scorers, ...)."""
    out, results = Runner(RunOptions(pairing=pairing, suite=suite, **options)).run()
    return results.to_json() if results is not None else {}


def rescore(run_dir: str | _os.PathLike, metric: str | None = None, reference_compat: bool | None = None) -> dict:
    """Re-apply a metric's rules to the evidence stored in a run directory (no model is loaded); returns the
    results.json it wrote, as a dict."""
    return _rescore(_Path(run_dir), metric, reference_compat).to_json()


def prior_eval(prior: _Any, text_encoder: _Any, tokenizer: _Any, suite: str = "color", **kwargs: _Any) -> dict:
    """Prior-only metrics of an in-memory prior, for a training loop (eclipse_bench.bench.app.prior_eval)."""
    return _prior_eval(prior, text_encoder, tokenizer, suite=suite, **kwargs)
