"""Plots for people who would rather look than read, drawn with matplotlib at paper size (6.5 in wide, 9 pt type):
in the HTML reports (PNG data URIs) and as files (`--plots DIR`: PNG and SVG of each).

- `scores`: each suite x metric of a leaderboard, one bar per run with its 95% CI;
- `groups`: per category / tag / level of each run (GenEval's tags, HRS levels, ...), with bootstrap CIs;
- `atoms`: GenEval 2's Soft-TIFA by atom count, one line per run;
- `deltas`: a comparison's per-prompt differences (candidate - baseline), sorted, with the gate's detectable drop;
- `grid`: per category, the worst, median and best prompts' first image with prompt and score.

Plots only read what the run committed; a run without groups or images simply has fewer plots.
"""

from __future__ import annotations

import base64
import io
import textwrap
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.reports.export import export_frame

WIDTH = 6.5          # inches: a page's text width
DPI = 150
GREY, GREEN, RED = "#6e7781", "#1a7f37", "#cf222e"


def _plt():
    import matplotlib  # lazy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                         "xtick.labelsize": 8, "ytick.labelsize": 8, "svg.fonttype": "none",
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


LEVELS = ("easy", "medium", "hard")


def group_order(name: str) -> tuple:
    """Groups in their natural order: atom counts numerically, HRS levels easy < medium < hard, others by name."""
    g = str(name).split("=", 1)[-1].split(" ", 1)[-1]
    return (0, int(g), "") if g.isdigit() else ((1, LEVELS.index(g), "") if g in LEVELS else (2, 0, g))


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def scores_figure(columns: list[dict], rows: list[dict]):
    """One panel per leaderboard column: a bar per measured run with its CI whisker; the best comparable in green."""
    plt = _plt()
    panels = [(j, c) for j, c in enumerate(columns)
              if any(not r["published"] and r["cells"][j] and r["cells"][j]["score"] is not None for r in rows)]
    if not panels:
        return None
    n_runs = max(sum(1 for r in rows if not r["published"] and r["cells"][j]) for j, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH, 0.6 + len(panels) * (0.35 + 0.22 * n_runs)),
                             squeeze=False)
    for ax, (j, col) in zip(axes[:, 0], panels):
        bars = [(r["name"], r["cells"][j]) for r in rows if not r["published"] and r["cells"][j]
                and r["cells"][j]["score"] is not None]
        ys = range(len(bars))
        vals = [c["score"] for _, c in bars]
        lo = [c["score"] - c["ci"][0] if c["ci"][0] is not None else 0 for _, c in bars]
        hi = [c["ci"][1] - c["score"] if c["ci"][1] is not None else 0 for _, c in bars]
        ax.barh(list(ys), vals, xerr=[lo, hi], color=[GREEN if c.get("best") else GREY for _, c in bars],
                error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_yticks(list(ys), [_short(n) for n, _ in bars])
        ax.invert_yaxis()
        ax.set_title(f"{col['suite']} · {col['metric']} ({col['scale']}), 95% CI", loc="left")
        for y, v in zip(ys, vals):
            ax.annotate(f"{v:.4g}", (v, y), xytext=(3, -3), textcoords="offset points", fontsize=7)
    fig.tight_layout()
    return fig


def groups_figure(run_dirs: list[Path], names: list[str], metric: Optional[str] = None,
                  compat: Optional[bool] = None):
    """Per group of each run (categories, tags, levels), bars with bootstrap CIs; one panel per suite x metric."""
    plt = _plt()
    df = export_frame(run_dirs, "category", allow_incomplete=True, metric=metric, compat=compat)
    df["name"] = df["run"].map(dict(zip(map(str, run_dirs), names)))
    df = df[df["group"] != "overall"]
    if df.empty:
        return None
    keys = list(dict.fromkeys(zip(df["suite"], df["metric"])))
    fig, axes = plt.subplots(len(keys), 1, figsize=(WIDTH, 2.2 * len(keys)), squeeze=False)
    for ax, (suite, metric) in zip(axes[:, 0], keys):
        part = df[(df["suite"] == suite) & (df["metric"] == metric)]
        groups = sorted(dict.fromkeys(part["group"]), key=group_order)
        runs = list(dict.fromkeys(part["name"]))
        width = 0.8 / len(runs)
        for k, run in enumerate(runs):
            rows = part[part["name"] == run].set_index("group")
            xs = [i + (k - (len(runs) - 1) / 2) * width for i, g in enumerate(groups) if g in rows.index]
            got = [rows.loc[g] for g in groups if g in rows.index]
            vals = [float(r["score"]) for r in got]
            err = [[max(v - float(r["ci_low"]), 0) if r["ci_low"] == r["ci_low"] and r["ci_low"] is not None else 0
                    for v, r in zip(vals, got)],
                   [max(float(r["ci_high"]) - v, 0) if r["ci_high"] == r["ci_high"] and r["ci_high"] is not None
                    else 0 for v, r in zip(vals, got)]]
            ax.bar(xs, vals, width * 0.92, yerr=err, label=_short(run, 40), error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_xticks(range(len(groups)), [g.split("=", 1)[1] for g in groups], rotation=30 if len(groups) > 5 else 0,
                      ha="right" if len(groups) > 5 else "center")
        ax.set_title(f"{suite} · {metric} per {groups[0].split('=')[0]}, 95% CI", loc="left")
        if len(runs) > 1:
            ax.legend(frameon=False, ncols=min(len(runs), 3))
    fig.tight_layout()
    return fig


def atoms_figure(results: list[dict], names: list[str]):
    """GenEval 2: the score by atom count (by_level), one line per run."""
    plt = _plt()
    lines = [(n, r) for n, r in zip(names, results) if r["suite"] == "geneval2" and r.get("by_level")]
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
    for name, r in lines:
        levels = sorted(r["by_level"], key=int)
        ax.plot([int(x) for x in levels], [r["by_level"][x] for x in levels], marker="o", ms=3, label=_short(name, 40))
    ax.set_xlabel("atoms per prompt")
    ax.set_ylabel(f"{lines[0][1]['metric']} ({lines[0][1].get('scale', '0-100')})")
    ax.set_title("GenEval 2 by atom count", loc="left")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def deltas_figure(comparison: Any):
    """A comparison's per-prompt differences, sorted, with zero and the gate's detectable drop marked."""
    plt = _plt()
    overall = comparison.groups[0]
    if not overall.deltas:
        return None
    d = sorted(v for _, v in overall.deltas)
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
    ax.bar(range(len(d)), d, width=1.0, color=[RED if v < 0 else GREEN for v in d])
    ax.axhline(0, color="black", lw=0.6)
    if overall.detectable_drop is not None:
        ax.axhline(-overall.detectable_drop, color=RED, lw=0.8, ls="--",
                   label=f"detectable drop {overall.detectable_drop:.4g} (overall)")
        ax.legend(frameon=False, loc="upper left")
    ax.set_xlabel(f"prompts, sorted ({len(d)} scored in both runs)")
    ax.set_ylabel("candidate - baseline")
    ax.set_title(f"{comparison.suite} · {comparison.metric}: per-prompt change, delta {overall.delta:+.4g} "
                 f"({overall.verdict})", loc="left")
    fig.tight_layout()
    return fig


def grid_figure(run_dir: Path, suffix: str = "", missing: frozenset | set = frozenset()):
    """Per category: the worst, median and best prompts (mean over their images), the first image of each."""
    plt = _plt()
    state = RunState.open(run_dir, suffix, "plot")
    by_prompt: dict[str, dict] = {}
    for s in state.samples():
        if s.score is None or s.image in missing:
            continue
        p = by_prompt.setdefault(s.prompt_id, {"prompt": s.prompt, "category": s.category or "all", "scores": [],
                                               "image": s.image})
        p["scores"].append(s.score)
    if not by_prompt:
        return None
    cats: dict[str, list] = {}
    for p in by_prompt.values():
        p["mean"] = sum(p["scores"]) / len(p["scores"])
        cats.setdefault(p["category"], []).append(p)
    fig, axes = plt.subplots(len(cats), 3, figsize=(WIDTH, 2.5 * len(cats)), squeeze=False)
    for row, (cat, ps) in zip(axes, sorted(cats.items())):
        ps.sort(key=lambda p: (p["mean"], p["prompt"]))
        picks = {id(p): (label, p) for label, p in (("worst", ps[0]), ("median", ps[len(ps) // 2]), ("best", ps[-1]))}
        for ax in row:
            ax.set_axis_off()
        for ax, (label, p) in zip(row, picks.values()):   # a category of one or two prompts: each shown once
            with Image.open(inside(run_dir, p["image"])) as im:
                ax.imshow(im.convert("RGB"))
            ax.set_title("\n".join(textwrap.wrap(f"{cat} {label} ({p['mean']:.3g}): {p['prompt']}", 38)[:3]),
                         fontsize=7, loc="left")
    fig.tight_layout()
    return fig


def sweep_figure(index: dict):
    """A checkpoint sweep: each suite's score (with its CI) against the training step."""
    plt = _plt()
    by_suite: dict[str, list] = {}
    for r in index["runs"]:
        if r.get("step") is not None and r.get("score") is not None:
            by_suite.setdefault(f"{r['suite']} · {r['metric']}", []).append(r)
    if not by_suite:
        return None
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    for name, rs in by_suite.items():
        rs = sorted(rs, key=lambda r: r["step"])
        steps, vals = [r["step"] for r in rs], [r["score"] for r in rs]
        ax.plot(steps, vals, marker="o", ms=3, label=_short(name, 40))
        lo = [r["ci95"][0] if r["ci95"][0] is not None else v for r, v in zip(rs, vals)]
        hi = [r["ci95"][1] if r["ci95"][1] is not None else v for r, v in zip(rs, vals)]
        ax.fill_between(steps, lo, hi, alpha=0.15)
    ax.set_xlabel("training step")
    ax.set_ylabel("score (95% CI)")
    ax.set_title(f"{index['pairing']}: score against step", loc="left")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def emit(figures: dict, plots_dir: Optional[Path]) -> dict[str, str]:
    """{name: PNG data URI} of the figures made (None: skipped), each also written as NAME.png and NAME.svg to
    plots_dir; the figures are closed."""
    plt = _plt()
    out = {}
    if plots_dir is not None:
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        if fig is None:
            continue
        out[name] = png_uri(fig)
        if plots_dir is not None:
            for fmt in ("png", "svg"):
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=DPI)
                atomic_write_bytes(Path(plots_dir) / f"{name}.{fmt}", buf.getvalue(), make_parents=False)
        plt.close(fig)
    return out
