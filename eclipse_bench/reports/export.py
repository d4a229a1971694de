"""`eclipse-bench export`: runs as tables (pandas) for people who make their own plots; and what every reader
(report, export, table, plots) requires of a run it reads (completeness)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.metrics.aggregate import summarise
from eclipse_bench.metrics.registry import METRICS, check_scores

def completeness(state: RunState, allow_incomplete: bool = False, what: str = "report") -> tuple:
    """(samples, [notes], {missing images}) of a committed state whose scores are numbers on the metric's scale:
    every sample with an intact image, or (allow_incomplete) what there is with a note for each thing missing;
    otherwise one error naming what is missing and the fix."""
    run_dir, notes = state.run_dir, []
    samples = state.samples()
    check_scores(state.results(), samples, state.path(f"results{state.suffix}.json"),
                 state.path(f"samples{state.suffix}.jsonl"))
    problems = state.image_problems(samples)
    if problems and not allow_incomplete:
        shown = ", ".join(f"{p} ({why})" for p, why in problems[:3])
        raise UserError(f"{run_dir}: {len(problems)} of {len(samples)} images are missing or damaged: {shown}"
                        f"{', ...' if len(problems) > 3 else ''}; rerun the command that made the run to make them "
                        f"again, or pass --allow-incomplete to {what} without them (listed as missing)")
    notes += [f"image {p}: {why}" for p, why in problems]
    if state.pending_rerun:
        notes.append("a rerun of this directory has not finished (manifest.next.json): these are the results of "
                     "its last finished run")
    return samples, notes, {p for p, _ in problems}



INDEX = "benchmark.json"   # a parent of several runs (a whole benchmark, a checkpoint sweep): its index


def expand_run_dirs(run_dirs: list) -> list[Path]:
    """Run directories as given, a benchmark's parent standing for the runs its benchmark.json lists."""
    out = []
    for d in map(Path, run_dirs):
        index = d / INDEX
        if not (d / "manifest.json").exists() and index.is_file():
            try:
                out += [d / r["dir"] for r in json.loads(index.read_text())["runs"]]
            except (ValueError, KeyError, TypeError):
                raise UserError(f"{index}: not a benchmark index eclipse-bench wrote; rerun the command that made "
                                f"it") from None
        else:
            out.append(d)
    return out


def distinct_names(dirs: list[Path]) -> list[str]:
    """Short names that tell run directories apart: the fewest trailing path parts that differ, leaving out the parts
    they all share at the end (runs/step-100/builtin__color, runs/step-200/builtin__color -> step-100, step-200)."""
    parts = [Path(d).resolve().parts for d in dirs]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[-1 - common] for p in parts}) == 1:
        common += 1
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[len(p) - common - k:len(p) - common]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(d) for d in dirs]


SAMPLE_COLUMNS = ("pairing", "suite", "metric", "prompt_id", "prompt", "category", "level", "n", "seed", "image",
                  "score", "reason", "run")


def caveats(r: dict) -> list[str]:
    """What a result's number is not, by code: "proxy" (stand-in evidence models), "tiny" (random-weight scorers),
    "limit" (a --limit subset), "compat" (the reference scripts' rules). The leaderboard shows them as badges, the
    paper table as footnotes."""
    return [code for code, present in (("proxy", r.get("equivalence") == "proxy"), ("tiny", r.get("scorers") == "tiny"),
                                       ("limit", bool(r.get("limit"))), ("compat", bool(r.get("reference_compat"))))
            if present]


LABEL_COLUMNS = ("scorers", "equivalence", "reference_models", "reference_compat", "limit", "images_per_prompt",
                 "metric_version")
INTEGER_COLUMNS = ("n", "seed", "limit", "images_per_prompt", "n_images", "n_prompts", "n_unscorable")


def _labels(r: dict) -> dict:
    """What a number is: tiny or real scorers, reference-equivalent or a proxy (and for what), the reference
    scripts' rules or not, a --limit subset, the images per prompt and the rule's version."""
    return {k: r.get(k) for k in LABEL_COLUMNS}


def export_frame(run_dirs: list[Path], level: str = "sample", allow_incomplete: bool = False,
                 metric: Optional[str] = None, compat: Optional[bool] = None):
    """One row per sample (or per group of the results) of finished runs, each with the run's labels; an incomplete
    run (samples or images missing) is an error unless allow_incomplete. Group rows carry their n and a 95% CI
    (bootstrap over the group's prompts, as the run's own)."""
    import pandas as pd  # lazy: pandas

    rows = []
    for d in expand_run_dirs(run_dirs):
        state = RunState.variant(d, metric, compat, "export")
        samples, _, _ = completeness(state, allow_incomplete, "export")   # every level: scores checked to be numbers
        r = state.results().to_json()
        head = {"pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"]}
        if level == "sample":
            for rec in samples:
                s = rec.to_json()
                rows.append({**head, **{k: s.get(k) for k in SAMPLE_COLUMNS[3:-1]},
                             "image": str(inside(d, rec.image)), **_labels(r), "run": str(d)})
            continue
        lo, hi = r.get("ci95", [None, None])
        rows.append({**head, "group": "overall", "score": r["score"], "ci_low": lo, "ci_high": hi,
                     "n_images": r["n_images"], "n_prompts": r["n_prompts"], "n_unscorable": r.get("n_unscorable", 0),
                     **_labels(r), "run": str(d)})
        agg = METRICS.get(r["metric"]).aggregator() if r["metric"] in METRICS else None
        scored = [rec.to_json() for rec in samples]
        for key in ("by_category", "by_level"):
            for g, v in (r.get(key) or {}).items():
                part = [x for x in scored if str(x.get(key[3:])) == str(g)]
                summary = summarise(part, agg) if agg is not None and part else {}
                same = summary.get("score") is not None and v is not None and abs(summary["score"] - v) <= 1e-9
                glo, ghi = summary.get("ci95", [None, None]) if same else (None, None)
                rows.append({**head, "group": f"{key[3:]}={g}", "score": v, "ci_low": glo, "ci_high": ghi,
                             "n_images": sum(x.get("score") is not None for x in part),
                             "n_prompts": len({x["prompt_id"] for x in part}),
                             "n_unscorable": sum(x.get("score") is None for x in part), **_labels(r), "run": str(d)})
    df = pd.DataFrame(rows)
    for col in INTEGER_COLUMNS:   # integers stay integers where a value is missing (pandas' nullable Int64)
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    return df


def export(run_dirs: list[Path], out: Path, fmt: str, level: str = "sample", allow_incomplete: bool = False,
           metric: Optional[str] = None, compat: Optional[bool] = None) -> Path:
    df = export_frame(run_dirs, level, allow_incomplete, metric, compat)
    out = Path(out)
    if fmt == "csv":
        data = df.to_csv(index=False).encode("utf-8")
    elif fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    elif fmt == "json":
        data = df.to_json(orient="records", indent=1, force_ascii=False).encode("utf-8")
    else:
        raise UserError(f"unknown --format {fmt!r}; use csv, parquet or json")
    atomic_write_bytes(out, data, make_parents=False)   # whole or nothing, into a folder that exists
    return out
