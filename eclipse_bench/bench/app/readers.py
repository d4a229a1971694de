"""The commands that read finished runs and write elsewhere: report, compare (the CI gate), export, table. A
reader never writes into a run it reads (rundir.output_file)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from eclipse_bench.bench.app.rundir import output_file
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.reports.compare import compare_runs, format_junit, format_junit_error, format_text, render_compare
from eclipse_bench.reports.export import expand_run_dirs, export
from eclipse_bench.reports.html import render_leaderboard, render_run
from eclipse_bench.reports.table import write_table


def cmd_report(a: argparse.Namespace) -> int:
    runs = expand_run_dirs(a.runs)   # a benchmark's parent: the runs it indexes
    out, plots = output_file(a.out, "--out", runs), output_file(a.plots, "--plots", runs, folder=True)
    path = (render_run(runs[0], out, a.link_images, a.metric, a.reference_compat, a.allow_incomplete, plots)
            if len(runs) == 1 else render_leaderboard(runs, out, a.metric, a.reference_compat, a.allow_incomplete,
                                                      plots))
    print(f"report: {Path(path).resolve()}")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    try:
        return _compare(a)
    except UserError as exc:   # a CI system reading the JUnit report sees the error too, never an empty report
        if a.format == "junit":
            print(format_junit_error(str(exc)), end="")
        raise


def _compare(a: argparse.Namespace) -> int:
    if a.max_drop is not None and not (math.isfinite(a.max_drop) and a.max_drop >= 0):
        raise UserError(f"--max-drop must be a number >= 0 (got {a.max_drop})")
    if not (math.isfinite(a.alpha) and 0 < a.alpha < 1):
        raise UserError(f"--alpha must be between 0 and 1 (got {a.alpha})")
    if a.max_unscorable_increase < 0:
        raise UserError(f"--max-unscorable-increase must be >= 0 (got {a.max_unscorable_increase})")
    if a.min_prompts is not None and a.min_prompts < 1:
        raise UserError(f"--min-prompts must be >= 1 (got {a.min_prompts})")
    for run in (a.baseline, a.candidate):
        if not run.is_dir():
            raise UserError(f"{run}: no such run directory; check the path")
    default = a.candidate.resolve().parent / f"{a.candidate.resolve().name}.compare.html"
    html = output_file(a.html or default, "--html", (a.baseline, a.candidate))
    c = compare_runs(a.baseline, a.candidate, a.max_drop, a.alpha, max_unscorable_increase=a.max_unscorable_increase,
                     min_prompts=a.min_prompts, allow=tuple(a.allow), metric=a.metric, compat=a.reference_compat)
    # first: a failure to write it must not follow a printed verdict
    render_compare(c, html, output_file(a.plots, "--plots", (a.baseline, a.candidate), folder=True))
    if a.format == "json":
        print(json.dumps(c.to_json(), indent=2))
    elif a.format == "junit":
        print(format_junit(c), end="")
    else:
        print(format_text(c))
    for w in c.warnings:
        if a.format != "text":
            print(f"eclipse-bench: warning: {w}", file=sys.stderr)
    if a.format == "text":
        print(f"report: {Path(html).resolve()}")
    return 1 if c.regressed else 0


def cmd_export(a: argparse.Namespace) -> int:
    path = export(a.runs, output_file(a.out, "--out", expand_run_dirs(a.runs)), a.format, a.level, a.allow_incomplete, a.metric,
                  a.reference_compat)
    print(f"wrote {path}")
    return 0


def cmd_table(a: argparse.Namespace) -> int:
    out = output_file(a.out, "--out", expand_run_dirs(a.runs))
    text = write_table(a.runs, out, fmt=a.format, layout=a.layout, ci=a.ci, metric=a.metric,
                       compat=a.reference_compat, allow_incomplete=a.allow_incomplete)
    print(f"wrote {out}" if out is not None else text.rstrip("\n"))
    return 0
