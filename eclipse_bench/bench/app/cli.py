"""The eclipse-bench command line. Exit codes: 0 ok, 1 regression (compare), 2 usage or data error, 3 internal
error (traceback in a log file)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Optional, Sequence

from eclipse_bench.bench.app.importer import Importer
from eclipse_bench.bench.app.flags import add_arguments, from_namespace, load_config
from eclipse_bench.bench.app.options import PriorEvalOptions, RunOptions, ScoreOptions, TrackingOptions
from eclipse_bench.bench.app.pipeline import print_results
from eclipse_bench.bench.app.multi import is_many, run_many
from eclipse_bench.bench.app.prior_eval import print_prior_results, run_prior_eval
from eclipse_bench.bench.app.readers import cmd_compare, cmd_export, cmd_report, cmd_table
from eclipse_bench.bench.app.runner import Runner
from eclipse_bench.bench.app.scoring import rescore_run
from eclipse_bench.bench.core.errors import Terminated, UserError, write_crash_log
from eclipse_bench.bench.generation.pairings import PAIRINGS, load_pairings_file
from eclipse_bench.metrics.registry import METRICS
from eclipse_bench.prompts.fetch import locate, pinned
from eclipse_bench.prompts.load import load_suite
from eclipse_bench.prompts.questions import questions_for
from eclipse_bench.prompts.registry import ALIASES, SUITES, canonical
from eclipse_bench.prompts import user
from eclipse_bench.reports.compare import ALLOWABLE
from eclipse_bench.reports.table import FORMATS as TABLE_FORMATS
from eclipse_bench.reports.table import LAYOUTS as TABLE_LAYOUTS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _quiet_libraries() -> None:
    for var, value in (("TRANSFORMERS_VERBOSITY", "error"), ("DIFFUSERS_VERBOSITY", "error"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(var, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*deprecated.*")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="eclipse-bench", description="Compositional text-to-image evaluation of prior + decoder pairings.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="generate images for a suite with a pairing, score them, write a report")
    add_arguments(r, RunOptions)

    sc = sub.add_parser("score", help="score images made anywhere (a folder in a benchmark's layout, a GenEval 2 "
                                      ".json, a .jsonl manifest) as a generated run is scored")
    add_arguments(sc, ScoreOptions)

    pe = sub.add_parser("prior-eval", help="evaluate a prior alone in its decoder's CLIP space (no images, seconds)")
    add_arguments(pe, PriorEvalOptions)
    d = sub.add_parser("demo", help="offline demo: tiny ECLIPSE-Karlo on builtin/color (4 prompts x 2 images)")
    d.add_argument("--out", type=Path, default=Path("runs") / "demo")

    ls = sub.add_parser("list", help="list pairings, suites or metrics")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "priors", "pairings", "suites", "metrics"])

    rs = sub.add_parser("rescore", help="re-apply a metric's rules to the evidence stored in a run (no models)")
    rs.add_argument("run_dir", type=Path)
    rs.add_argument("--metric", help="another metric whose evidence the run holds")
    rs.add_argument("--reference-compat", action="store_true", default=None,
                    help="reproduce the reference tools' rules exactly (bugs included)")
    add_arguments(rs, TrackingOptions)

    su = sub.add_parser("suites", help="list, show, validate or fetch prompt suites")
    ssub = su.add_subparsers(dest="suites_command", required=True, parser_class=_Parser)
    ssub.add_parser("list", help="every suite name")
    sh = ssub.add_parser("show", help="prompts of a suite with their specs")
    sh.add_argument("name")
    sh.add_argument("--limit", type=int)
    sh.add_argument("--limit-mode", default="stratified", choices=["stratified", "first"])
    sh.add_argument("--split", default="val", choices=["val", "train", "all"])
    sh.add_argument("--format", default="text", choices=["text", "jsonl"])
    sh.add_argument("--questions", action="store_true",
                    help="also the questions the VQA judge asks (GenEval 2's own; generated from the spec elsewhere)")
    va = ssub.add_parser("validate", help="check a user suite file (JSONL)")
    va.add_argument("file")
    fe = ssub.add_parser("fetch", help="download and verify official suite files into the user cache")
    fe.add_argument("name", help="suite name or 'all'")

    rep = sub.add_parser("report", help="render an HTML report of one or more run directories")
    rep.add_argument("runs", nargs="+", type=Path)
    rep.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    rep.add_argument("--link-images", action="store_true",
                     help="link full-size images instead of embedding thumbnails (big runs)")
    rep.add_argument("--allow-incomplete", action="store_true",
                     help="render a run whose samples or images are missing, stating each (default: an error)")
    _variant_arguments(rep, plots=True)

    cp = sub.add_parser("compare", help="compare a candidate run with a baseline; exit 1 on a regression")
    cp.add_argument("baseline", type=Path)
    cp.add_argument("candidate", type=Path)
    cp.add_argument("--max-drop", type=float, help="largest tolerated drop in score units (default 0.01, or 1.0 "
                                                   "for scores x100)")
    cp.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired test (default 0.05)")
    cp.add_argument("--max-unscorable-increase", type=int, default=0,
                    help="unscorable samples the candidate may have beyond the baseline's (default 0)")
    cp.add_argument("--min-prompts", type=int, help="exit 2 unless at least N prompts are scored in both runs")
    cp.add_argument("--allow", action="append", default=[], choices=ALLOWABLE,
                    help="compare despite this difference between the runs (repeatable)")
    cp.add_argument("--format", default="text", choices=["text", "json", "junit"])
    cp.add_argument("--html", type=Path, help="where to write the HTML comparison (default CANDIDATE.compare.html, "
                                              "beside the candidate's directory: a run is never written into)")
    _variant_arguments(cp, plots=True)

    ex = sub.add_parser("export", help="export runs as a table (pandas)")
    ex.add_argument("runs", nargs="+", type=Path)
    ex.add_argument("--format", default="csv", choices=["csv", "parquet", "json"])
    ex.add_argument("--level", default="sample", choices=["sample", "category"])
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--allow-incomplete", action="store_true",
                    help="export a run whose samples or images are missing (default: an error)")
    _variant_arguments(ex)

    tb = sub.add_parser("table", help="runs as the benchmark's published table (markdown, LaTeX, CSV), footnoted")
    tb.add_argument("runs", nargs="+", type=Path)
    tb.add_argument("--format", default="markdown", choices=list(TABLE_FORMATS))
    tb.add_argument("--layout", default="auto", choices=list(TABLE_LAYOUTS),
                    help="the benchmark's table (auto: one table per benchmark the runs belong to)")
    tb.add_argument("--ci", action="store_true", help="show each number's 95%% CI as +- half its width")
    tb.add_argument("--out", type=Path, help="write the table to this file (default: print it)")
    tb.add_argument("--allow-incomplete", action="store_true",
                    help="put in a run whose samples or images are missing (default: an error)")
    _variant_arguments(tb)
    return p


def _variant_arguments(parser: argparse.ArgumentParser, plots: bool = False) -> None:
    """Which of a run's committed results to read: its own, or a variant rescore wrote beside them (and, for the HTML
    pages, where to write their plots as files)."""
    if plots:
        parser.add_argument("--plots", type=Path, metavar="DIR", help="also write the page's plots to DIR as PNG and "
                                                                       "SVG (made if missing; never inside a run)")
    parser.add_argument("--metric", help="the results of another metric (`eclipse-bench rescore RUN --metric M` "
                                         "wrote them beside the run's own)")
    parser.add_argument("--reference-compat", action="store_true", default=None,
                        help="the results under the reference's rules (`eclipse-bench rescore RUN --reference-compat`)")


def cmd_run(a: argparse.Namespace) -> int:
    if a.pairings is not None or a.config is not None:   # pairings declared in a file must exist before the name is
        path = a.pairings or load_config(a.config, RunOptions).get("pairings")
        if path:
            load_pairings_file(str(path))
    opts = from_namespace(RunOptions, a)
    if is_many(opts):   # several suites (a whole benchmark) or several checkpoints (a sweep)
        run_many(opts)
        return 0
    out, results = Runner(opts).run()
    if results is None:
        print(f"shard done: {out}; run the same command without --shard to merge and score")
    else:
        print_results(results, out / "report.html")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    args = build_parser().parse_args(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "4",
                                      "--images-per-prompt", "2", "--out", str(a.out)])
    return cmd_run(args)


def cmd_list(a: argparse.Namespace) -> int:
    what = "pairings" if a.what == "priors" else a.what
    if what in ("all", "pairings"):
        print("pairings (--prior):")
        for n in PAIRINGS:
            print(f"  {n:28s} {PAIRINGS.help(n)}")
    if what in ("all", "suites"):
        print("suites (--suite):")
        for n in SUITES:
            print(f"  {n:28s} {SUITES.get(n).help}")
        for alias, target in sorted(ALIASES.items()):
            print(f"  {alias:28s} = {target}")
    if what in ("all", "metrics"):
        print("metrics (--metric):")
        for n in METRICS:
            print(f"  {n:28s} {METRICS.help(n)}")
    return 0


def cmd_rescore(a: argparse.Namespace) -> int:
    tracking = from_namespace(TrackingOptions, a)   # checked before any work
    results, suffix = rescore_run(a.run_dir, a.metric, a.reference_compat)
    print_results(results, a.run_dir / f"report{suffix}.html")
    tracking.log(a.run_dir, suffix)
    return 0


def cmd_suites(a: argparse.Namespace) -> int:
    if a.suites_command == "list":
        return cmd_list(argparse.Namespace(what="suites"))
    if a.suites_command == "show":
        if a.limit is not None and a.limit < 1:
            raise UserError(f"--limit must be at least 1 (got {a.limit})")
        suite = load_suite(a.name, a.split).limit(a.limit, a.limit_mode)
        if a.format == "jsonl":
            for item in suite.items:
                print(json.dumps(item.to_json(), ensure_ascii=False))
            return 0
        print(f"# {suite.name}: {len(suite.items)} prompts from {suite.source}; metric {suite.default_metric}; "
              f"hash {suite.hash[:12]}")
        for item in suite.items:
            spec = item.spec
            objs = ", ".join(" ".join(filter(None, [str(o.count or "''"), *o.attributes, o.noun])) for o in spec.objects)
            rels = "; ".join(f"{r.name}({r.subject},{r.object}{'' if r.object2 is None else ','+str(r.object2)})"
                             for r in spec.relations)
            level = f" [{item.level}]" if item.level else ""
            sub = f" <{spec.subcategory}>" if spec.subcategory else ""
            atoms = f"  atoms: {spec.atoms}" if spec.atoms is not None else ""
            print(f"{item.id}{level}{sub}: {item.prompt}\n    objects: {objs or '-'}{atoms}"
                  f"{'  relation: ' + rels if rels else ''}{'  phrases: ' + ' | '.join(spec.phrases) if spec.phrases else ''}")
            if spec.questions or a.questions:
                questions, source = questions_for(spec)
                print(f"    questions ({source}):" if questions else f"    questions ({source}): none")
                props = spec.propositions or [None] * len(questions)   # DPG-Bench: ids and what each depends on
                for q, p in zip(questions, props):
                    deps = p.dependencies if p is not None else ()
                    parents = " <- " + ",".join(map(str, deps)) if any(deps) else ""
                    dep = "" if p is None else f" ({p.id}{parents}; {p.tuple})"
                    print(f"      [{q.skill}] {q.question} -> {q.answer}{dep}")
        return 0
    if a.suites_command == "validate":
        suite = user.load(a.file)
        print(f"{a.file}: {len(suite.items)} prompts OK (metric {suite.default_metric}, hash {suite.hash[:12]})")
        return 0
    # "fetch": argparse admits no other sub-command
    if a.name == "all":
        wanted = list(pinned())
    else:
        wanted = [] if a.name not in SUITES and canonical(a.name) not in SUITES else \
            list(SUITES.get(canonical(a.name)).files)
    if not wanted:
        raise UserError(f"no official files belong to suite {a.name!r}; use a t2i-compbench/, hrs/ or geneval "
                        f"suite name, or 'all'")
    for rel in wanted:
        print(f"{rel}: {locate(rel)}")
    return 0


def cmd_prior_eval(a: argparse.Namespace) -> int:
    print_prior_results(run_prior_eval(from_namespace(PriorEvalOptions, a)))
    return 0


def cmd_score(a: argparse.Namespace) -> int:
    out, results = Importer(from_namespace(ScoreOptions, a)).run()
    print_results(results, out / "report.html")
    return 0


COMMANDS = {"run": cmd_run, "score": cmd_score, "prior-eval": cmd_prior_eval, "demo": cmd_demo, "list": cmd_list,
            "suites": cmd_suites, "rescore": cmd_rescore, "report": cmd_report, "compare": cmd_compare,
            "export": cmd_export, "table": cmd_table}


INTERNAL_ERROR = 3


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit codes: 0 ok, 1 regression (compare), 2 a user or data error (one line naming the input and the fix),
    3 an internal error (one line plus the path of a log file holding the traceback)."""
    _quiet_libraries()
    restore = _terminate_on_signals()
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"eclipse-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("eclipse-bench: interrupted; finished work is kept in the run directory, re-run to resume",
              file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"eclipse-bench: terminated by {signal.Signals(exc.signum).name}; finished work is kept in the run "
              f"directory, re-run to resume", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:  # `eclipse-bench list | head`: the reader left, nothing is wrong
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OSError as exc:  # the file system refused: a path the user gave (read-only, /proc, full disk)
        where = exc.filename or "a file"
        fix = ("free space on that disk, then rerun the same command" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
               else "choose a writable path")
        print(f"eclipse-bench: error: cannot use {where}: {exc.strerror or exc}; {fix} (finished work is kept)",
              file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last guard: no raw traceback for a user

        log = write_crash_log(exc)
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"eclipse-bench: internal error: {type(exc).__name__}: {first[:300]}; traceback in "
              f"{log or '(no log could be written)'}; please report it (finished work is kept)", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        restore()


def _terminate_on_signals():
    """SIGTERM and SIGHUP (a scheduler's time limit, a closed terminal) unwind like Ctrl-C: what is being written is
    finished and recorded, then one line. Returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}

    def handler(signum, frame):
        raise Terminated(signum)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)

    def restore():
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
