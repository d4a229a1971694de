"""Experiment trackers (`--log-to wandb,tensorboard,trackio,...`) through accelerate's tracking API: after a run,
score, rescore or prior-eval has committed its results, they are sent to each tracker named:

- the run config: the manifest's settings and the scorers' identities, flattened, with the labels;
- the headline score with its 95% CI, n, and every table of the results (per category, per level, GenEval 2's per
  skill and per atom count) as scalars, and the per-group table (score, CI, n) as a table where the tracker has
  tables (W&B, Trackio) or as markdown text (TensorBoard);
- the labels in words (reference-equivalent or proxy and for what, tiny scorers, --limit, reference-compat rules);
- a table of sample images (spread over the score's ranks) with prompt, score and the rule's evidence summary:
  a W&B Table / Trackio Table of images, TensorBoard images plus a markdown table of the same samples.

Logging reads the committed run and writes only under --log-dir (default: a folder `eclipse-bench-logs` beside the
run directory, never inside one): it changes no key and no result. A tracker that fails is one warning line; the
run stays finished and complete.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.version import __version__
from eclipse_bench.reports.export import export_frame

# tracker -> the package it needs (accelerate's tracker classes import it when they start)
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow",
            "comet_ml": "comet_ml", "aim": "aim", "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab"}
SAMPLE_IMAGES = 16
THUMB = 256


def check_trackers(value: Any, name: str) -> None:
    """--log-to: known trackers whose packages are installed (checked before any work)."""
    for t in filter(None, (x.strip() for x in str(value).split(","))):
        if t not in PACKAGES:
            raise UserError(f"{name} {t!r}: not a tracker; use any of {', '.join(PACKAGES)} (comma-separated)")
        if importlib.util.find_spec(PACKAGES[t]) is None and not (t == "tensorboard" and
                                                                  importlib.util.find_spec("tensorboardX")):
            raise UserError(f"{name} {t}: the package {PACKAGES[t]!r} is not installed; pip install {PACKAGES[t]} "
                            f"(nothing was done)")


def trackers_of(value: Optional[str]) -> list[str]:
    return list(dict.fromkeys(filter(None, (x.strip() for x in str(value or "").split(",")))))


def log_dir_for(run_dir: Path, log_dir: Optional[Path]) -> Path:
    """--log-dir, else `eclipse-bench-logs` beside the run directory; never inside a run directory."""
    target = Path(log_dir) if log_dir else Path(run_dir).resolve().parent / "eclipse-bench-logs"
    resolved = target.resolve()
    for d in [resolved, *resolved.parents]:
        if (d / "finished.json").is_file() or (d / "manifest.json").is_file() and (d / "images").is_dir():
            raise UserError(f"--log-dir {target} is inside the run directory {d}; a run is never written into: "
                            f"choose a folder outside it")
    return target


def _flat(d: Any, prefix: str = "") -> dict:
    """A nested dict as {a/b/c: scalar}; lists and None as text (trackers' configs take scalars)."""
    out: dict = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}/"))
        return out
    key = prefix.rstrip("/")
    out[key] = d if isinstance(d, (bool, int, float, str)) else ("" if d is None else str(d))
    return out


def labels(r: dict) -> dict:
    """The labels of a result, in words."""
    out = {"equivalence": r.get("equivalence", "reference"), "reference_models": r.get("reference_models", ""),
           "scorers": r.get("scorers", "real"), "limit": r.get("limit") or "none (the whole suite)",
           "reference_compat": bool(r.get("reference_compat")), "images_per_prompt": r.get("images_per_prompt"),
           "metric_version": r.get("metric_version", "")}
    if r.get("scorers") == "tiny":
        out["warning"] = "tiny random-weight scorers: a test of the plumbing, not a measurement"
    return out


def payload(run_dir: Path, suffix: str = "") -> dict:
    """What is logged for a committed run state: config, scalars, label text, tables and sample images."""
    state = RunState.open(run_dir, suffix, "log to a tracker")
    r, m = state.results().to_json(), state.manifest().to_json()
    head = f"{r['suite']}/{r['metric']}"
    scalars: dict[str, float] = {}
    if r.get("score") is not None:
        scalars[f"{head}/score"] = float(r["score"])
    lo, hi = r.get("ci95") or [None, None]
    if lo is not None and hi is not None:
        scalars[f"{head}/ci95_low"], scalars[f"{head}/ci95_high"] = float(lo), float(hi)
    for k in ("n_images", "n_prompts", "n_unscorable", "pooled"):
        if isinstance(r.get(k), (int, float)):
            scalars[f"{head}/{k}"] = float(r[k])
    for key in ("by_category", "by_level"):
        for g, v in (r.get(key) or {}).items():
            if v is not None:
                scalars[f"{head}/{key[3:]}/{g}"] = float(v)
    for title, table in (r.get("breakdowns") or {}).items():
        for g, v in table.items():
            if v is not None:
                scalars[f"{head}/{title}/{g}"] = float(v)
    config = {**_flat({"settings": m.get("settings", {}), "identities": m.get("metric", {}).get("identities", {})}),
              **_flat({"labels": labels(r)}), "pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"],
              "eclipse_bench_version": __version__, "run_dir": str(run_dir)}
    groups = export_frame([run_dir], "category", metric=None if not suffix else r["metric"],
                          compat=None if not suffix else r.get("reference_compat"))
    group_table = groups[["group", "score", "ci_low", "ci_high", "n_images", "n_prompts"]]
    samples = [s for s in state.samples() if s.score is not None]
    samples.sort(key=lambda s: (s.score, s.key))
    if len(samples) > SAMPLE_IMAGES:   # spread over the ranks: worst, best and between
        idx = np.linspace(0, len(samples) - 1, SAMPLE_IMAGES).round().astype(int)
        samples = [samples[i] for i in sorted(set(idx))]
    shown = []
    for s in samples:
        with Image.open(run_dir / s.image) as im:
            thumb = im.convert("RGB").resize((THUMB, THUMB))
        shown.append({"image": thumb, "prompt": s.prompt, "score": float(s.score), "evidence": s.reason[:300],
                      "prompt_id": s.prompt_id, "n": s.n})
    return {"run_name": f"{r['pairing']}/{r['suite']}", "scalars": scalars, "config": config, "labels": labels(r),
            "groups": group_table, "samples": shown, "head": head}


def _markdown(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else
                                       (f"{v:.4f}" if isinstance(v, float) else str(v).replace("|", "\\|"))
                                       for v in row) + " |")
    return "\n".join(lines)


def open_tracker(name: str, run_name: str, project: str, log_dir: Path):
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS  # lazy: accelerate

    cls = LOGGER_TYPE_TO_CLASS[name]
    if name == "tensorboard":
        t = cls(run_name.replace("/", "_"), log_dir / "tensorboard" / project)
    elif name == "wandb":
        t = cls(project, name=run_name, dir=str(log_dir), reinit="finish_previous")
    elif name == "trackio":
        t = cls(project, name=run_name)
    elif getattr(cls, "requires_logging_directory", False):
        t = cls(project, log_dir / name)
    else:
        t = cls(project)
    if hasattr(t, "start"):
        t.start()
    return t


def _send(name: str, t: Any, p: dict, step: Optional[int]) -> None:
    config = p["config"]
    t.store_init_configuration(config)
    t.log(p["scalars"], step=step)
    samples = p["samples"]
    sample_rows = [[s["prompt_id"], s["n"], s["prompt"], s["score"], s["evidence"]] for s in samples]
    sample_cols = ["prompt_id", "n", "prompt", "score", "evidence"]
    if name == "tensorboard":
        t.log({f"{p['head']}/labels": _markdown(_labels_frame(p["labels"])),
               f"{p['head']}/groups": _markdown(p["groups"]),
               f"{p['head']}/samples": _markdown(_frame(sample_cols, sample_rows))}, step=step)
        if samples:
            t.log_images({f"{p['head']}/samples": np.stack([np.asarray(s["image"]) for s in samples])}, step=step,
                         dataformats="NHWC")
    elif name == "wandb":
        import wandb  # lazy: wandb

        t.log({f"{p['head']}/labels": wandb.Table(dataframe=_labels_frame(p["labels"]))}, step=step)
        t.log_table(f"{p['head']}/groups", dataframe=p["groups"], step=step)
        t.log_table(f"{p['head']}/samples", columns=["image", *sample_cols],
                    data=[[wandb.Image(s["image"], caption=s["prompt"]), *row] for s, row in zip(samples, sample_rows)],
                    step=step)
        if samples:   # the images themselves as media too (an offline run keeps a table's images as placeholders)
            t.log({f"{p['head']}/sample_images": [wandb.Image(s["image"], caption=_caption(s)) for s in samples]},
                  step=step)
    elif name == "trackio":
        import trackio  # lazy: trackio

        t.log({f"{p['head']}/labels": trackio.Table(dataframe=_labels_frame(p["labels"])),
               f"{p['head']}/groups": trackio.Table(dataframe=p["groups"].astype(object).where(
                   p["groups"].notna(), None)),
               f"{p['head']}/samples": trackio.Table(columns=["image", *sample_cols], data=[
                   [trackio.Image(s["image"], caption=_caption(s)), *row] for s, row in zip(samples, sample_rows)])},
              step=step)
    t.finish()


def _caption(s: dict) -> str:
    return f"{s['prompt']} (image {s['n']}): {s['score']:.4f}"


def _frame(cols: list, rows: list):
    import pandas as pd  # lazy: pandas

    return pd.DataFrame(rows, columns=cols)


def _labels_frame(lab: dict):
    return _frame(["label", "value"], [[k, str(v)] for k, v in lab.items()])


def log_to_trackers(run_dir: Path, trackers: str, log_dir: Optional[Path] = None, project: Optional[str] = None,
                    run_name: Optional[str] = None, step: Optional[int] = None, suffix: str = "") -> dict:
    """Send a committed run state to each tracker; {tracker: "ok" | the failure}. Never raises for a tracker's
    failure: one warning line each, the run is untouched."""
    names = trackers_of(trackers)
    if not names:
        return {}
    where = log_dir_for(run_dir, log_dir)
    where.mkdir(parents=True, exist_ok=True)
    p = payload(Path(run_dir), suffix)
    done = {}
    for name in names:
        try:
            if name == "wandb":
                os.environ.setdefault("WANDB_SILENT", "true")
            with contextlib.redirect_stdout(io.StringIO()):   # the trackers' own chatter stays off our output
                t = open_tracker(name, run_name or p["run_name"], project or "eclipse-bench", where)
                _send(name, t, p, step)
            done[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - a tracker never costs the run
            msg = " ".join(str(exc).split())[:200] or type(exc).__name__
            done[name] = msg
            print(f"warning: --log-to {name} failed ({type(exc).__name__}: {msg}); the run in {run_dir} is finished "
                  f"and complete, rerun `eclipse-bench rescore {run_dir} --log-to {name}` to log it again",
                  file=sys.stderr)
    return done


def prior_scalars(results: dict) -> dict:
    """prior-eval's numbers as scalars: prior_eval/SUITE/MODEL/METRIC (MODEL: the prior and its baselines)."""
    out = {}
    for k, v in _flat(results.get("models", {})).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
            out[f"prior_eval/{results.get('suite', '')}/{k}"] = float(v)
    return out


def log_prior_to_trackers(results: dict, trackers: str, log_dir: Path, project: Optional[str] = None,
                          run_name: Optional[str] = None, step: Optional[int] = None) -> dict:
    """prior-eval's results (the prior and its baselines) to each tracker; a failure is one warning line."""
    done = {}
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    config = {**_flat({k: v for k, v in results.items() if k not in ("models", "seconds")}),
              "eclipse_bench_version": __version__}
    for name in trackers_of(trackers):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                t = open_tracker(name, run_name or f"{results.get('pairing')}/{results.get('suite')}/prior-eval",
                             project or "eclipse-bench", Path(log_dir))
                t.store_init_configuration(config)
                t.log(prior_scalars(results), step=step)
                t.finish()
            done[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - a tracker never costs the evaluation
            msg = " ".join(str(exc).split())[:200] or type(exc).__name__
            done[name] = msg
            print(f"warning: --log-to {name} failed ({type(exc).__name__}: {msg}); the prior-eval results in "
                  f"{results.get('run_dir') or 'memory'} are complete", file=sys.stderr)
    return done
