"""A whole benchmark in one command, and checkpoint sweeps.

`--suite t2i-compbench` (or `hrs`, `builtin`, or `color,shape,texture`) runs each suite in its own run directory
under one parent (runs/<pairing>/<suite> by default; --out PARENT puts them in PARENT/<suite>), each scored with its
own metric, the pairing loaded once. `--prior-checkpoint` with several checkpoints (comma-separated, or a glob of a
training run's step folders such as 'ckpts/step-*') runs every suite for every checkpoint, in PARENT/<checkpoint>/
<suite>, the step read from the checkpoint's name (its last number) and given to the trackers.

The parent holds benchmark.json, the index `table`, `report` and `export` read when given the parent: every run with
its suite, checkpoint, step and headline; a sweep also gets sweep.png / sweep.svg, each suite's score against the
step.
"""

from __future__ import annotations

import glob
import re
from dataclasses import replace
from pathlib import Path
from typing import Optional

from eclipse_bench.bench.app.options import RunOptions
from eclipse_bench.bench.app.pipeline import print_results
from eclipse_bench.bench.app.rundir import default_out, path_part
from eclipse_bench.bench.app.runner import Runner
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.store import atomic_write_json
from eclipse_bench.prompts.load import expand_suites, load_suite
from eclipse_bench.reports.export import INDEX
from eclipse_bench.reports.plots import emit, sweep_figure


def expand_checkpoints(value: Optional[str]) -> list[Optional[str]]:
    """--prior-checkpoint as a list: comma-separated, each a folder, a hub id or a glob of folders (sorted by step)."""
    if not value:
        return [None]
    out: list[str] = []
    for part in (p.strip() for p in str(value).split(",")):
        if not part:
            continue
        if any(c in part for c in "*?["):
            found = sorted(glob.glob(part), key=lambda p: (step_of(p) is None, step_of(p) or 0, p))
            if not found:
                raise UserError(f"--prior-checkpoint {part!r} matches nothing; check the pattern (quote it so the "
                                f"shell leaves it to eclipse-bench)")
            out += found
        else:
            out.append(part)
    return list(dict.fromkeys(out))


def step_of(checkpoint: Optional[str]) -> Optional[int]:
    """The training step a checkpoint's name carries (its last number: step-1500, checkpoint-1500), or None."""
    if not checkpoint:
        return None
    found = re.findall(r"\d+", Path(str(checkpoint).rstrip("/")).name)
    return int(found[-1]) if found else None


def is_many(cfg: RunOptions) -> bool:
    return len(expand_suites(cfg.suite or "")) > 1 or len(expand_checkpoints(cfg.prior_checkpoint)) > 1


def run_many(cfg: RunOptions, printing: bool = True) -> dict:
    """Every suite (x every checkpoint) as its own run; returns the index written to PARENT/benchmark.json."""
    suites, checkpoints = expand_suites(cfg.suite or ""), expand_checkpoints(cfg.prior_checkpoint)
    if cfg.shard is not None:
        raise UserError("--shard runs one part of one suite: give one suite and one checkpoint per job (a job array "
                        "over suites), or drop --shard")
    sweep = len(checkpoints) > 1
    if sweep and len({step_of(c) for c in checkpoints}) < len(checkpoints):
        raise UserError("--prior-checkpoint: a sweep reads each checkpoint's step from its name (its last number), "
                        "and these names do not give distinct steps: name the folders step-N")
    first = Runner(replace(cfg, suite=suites[0], prior_checkpoint=checkpoints[0], out=None))   # checks the names
    parent = Path(cfg.out) if cfg.out else default_out(first.spec.name, load_suite(suites[0], cfg.split)).parent
    if (parent / "manifest.json").exists():
        raise UserError(f"--out {parent} is a run directory; several suites or checkpoints need a parent folder of "
                        f"runs: choose another --out (nothing was done)")
    runs = []
    for ckpt in checkpoints:
        generator = None   # the pairing, loaded once per checkpoint and used for every suite
        for suite in suites:
            where = parent / path_part(Path(str(ckpt).rstrip("/")).name) if sweep else parent
            one = replace(cfg, suite=suite, prior_checkpoint=ckpt, out=where / path_part(suite),
                          log_step=step_of(ckpt) if sweep and cfg.log_step is None else cfg.log_step)
            runner = Runner(one)
            runner.generator = generator
            out, results = runner.run()
            generator = runner.generator
            if printing:
                print_results(results, out / "report.html")
            runs.append({"suite": suite, "checkpoint": ckpt, "step": step_of(ckpt) if sweep else None,
                         "dir": str(out.relative_to(parent)) if out.is_relative_to(parent) else str(out),
                         "metric": results.metric, "score": results.score, "ci95": results.ci95,
                         "scale": results.scale, "n_images": results.n_images})
    index = {"pairing": first.spec.name, "suites": suites, "checkpoints": checkpoints, "sweep": sweep, "runs": runs}
    parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(parent / INDEX, index)
    if sweep:
        emit({"sweep": sweep_figure(index)}, parent)
    if printing:
        print(f"benchmark: {len(runs)} runs indexed in {parent / INDEX}" +
              (f"; score against step in {parent / 'sweep.png'}" if sweep else ""))
    return index
