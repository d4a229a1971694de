"""Self-contained HTML: the run drill-down, the leaderboard and the comparison.

jinja2 with autoescaping, so prompt text is always shown literally. Images are embedded as data URIs
(or linked, for big runs). The only script is ours, allowed by its hash in the Content-Security-Policy,
so injected markup can never run one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.schema import Manifest, Results, Sample
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.metrics.registry import METRICS, PROVIDERS
from eclipse_bench.reports.export import caveats, completeness, distinct_names, expand_run_dirs
from eclipse_bench.reports.plots import atoms_figure, emit, grid_figure, group_order, groups_figure, scores_figure
from eclipse_bench.reports.prior import prior_rows
from eclipse_bench.reports.published import SOURCE, published
from eclipse_bench.reports.render import csp, fmt, image_uri, template_env

SORT_SCRIPT = """
document.querySelectorAll('table.sortable th[data-col]').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
    var dir = th.dataset.dir === 'desc' ? 1 : -1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y);
      if (isNaN(nx) && isNaN(ny)) return dir * String(x).localeCompare(String(y));
      if (isNaN(nx)) return 1; if (isNaN(ny)) return -1;
      return dir * (nx - ny);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
var filter = document.getElementById('suite-filter');
if (filter) filter.addEventListener('change', function () {
  var v = filter.value;
  document.querySelectorAll('[data-suite]').forEach(function (el) {
    el.style.display = (v === '' || el.dataset.suite === v) ? '' : 'none';
  });
});
"""


def _evidence_view(ev: dict, metric: str) -> dict:
    """What the drill-down shows of one image's evidence: each provider draws its own (its `view`)."""
    mdef = METRICS.get(metric) if metric in METRICS else None
    view: dict[str, Any] = {}
    for name, record in (ev or {}).items():
        if record is not None and name in PROVIDERS and PROVIDERS.get(name).view is not None:
            view.update(PROVIDERS.get(name).view(record, mdef))
    return view


def run_page(run_dir: Path, samples: list[Sample], results: Results, manifest: Manifest, notes: tuple = (),
             missing: set = frozenset(), link_images: bool = False, base: Optional[Path] = None,
             plots: Optional[dict] = None) -> bytes:
    """The drill-down page: every prompt (worst first) with its images, scores, evidence and the rule's reason."""
    metric = results.metric
    prompts: dict[str, dict[str, Any]] = {}
    for s in samples:
        p = prompts.setdefault(s.prompt_id, {"id": s.prompt_id, "prompt": s.prompt, "images": [], "spec": s.spec,
                                             "level": s.level, "category": s.category, "scores": []})
        uri = "" if s.image in missing else image_uri(inside(run_dir, s.image), link=link_images,
                                                      base=base or run_dir)
        p["images"].append({"uri": uri,
                            "score": fmt(s.score), "seed": s.seed, "reason": s.reason, "path": s.image,
                            "unscorable": s.score is None, "ev": _evidence_view(s.evidence, metric)})
        if s.score is not None:
            p["scores"].append(s.score)
    for p in prompts.values():
        p["mean"] = sum(p["scores"]) / len(p["scores"]) if p["scores"] else None
        spec = p["spec"]
        rels = [spec.get("relation")] + list(spec.get("extra_relations") or [])
        p["checked"] = {
            "objects": ", ".join(" ".join(filter(None, [str(o.get("count") or ""), *o.get("attributes", []),
                                                        o["noun"]])) for o in spec.get("objects", [])),
            "relations": "; ".join(f"{spec['objects'][r['subject']]['noun']} {r['name']} "
                                   f"{spec['objects'][r['object']]['noun']}" for r in rels if r
                                   and r["subject"] < len(spec.get("objects", []))
                                   and r["object"] < len(spec.get("objects", []))),
            "phrases": " | ".join(spec.get("phrases", [])),
            "exclude": ", ".join(f"{e['noun']} < {e['count']}" for e in spec.get("exclude", [])),
        }
    ordered = sorted(prompts.values(), key=lambda p: (p["mean"] is None, p["mean"] if p["mean"] is not None else 0))
    html = template_env().get_template("run.html.j2").render(
        results=results.to_json(), manifest=manifest.to_json(), prompts=ordered, csp=csp(), ci=results.ci95,
        settings_json=json.dumps(manifest.settings, indent=1), timings=results.timings,
        compat_note=METRICS.get(metric).compat_note if metric in METRICS else "", notes=list(notes),
        plots=plots or {})
    return html.encode("utf-8")


def render_run(run_dir: Path, out: Path, link_images: bool = False, metric: Optional[str] = None,
               compat: Optional[bool] = None, allow_incomplete: bool = False, plots_dir: Optional[Path] = None) -> Path:
    """The drill-down of a run's committed state (`metric`, `compat`: a variant rescore wrote beside the run's own: the
    results of another metric, the reference's rules). A run that is unfinished, or misses samples or images, is an
    error (allow_incomplete: rendered, stating what is missing). With its plots (per group with CIs, the image grid),
    also written to plots_dir as PNG and SVG."""
    state = RunState.variant(Path(run_dir), metric, compat, "report")
    samples, notes, missing = completeness(state, allow_incomplete)
    results = state.results()
    plots = emit({"groups": groups_figure([state.run_dir], [results.pairing], metric, compat),
                  "grid": grid_figure(state.run_dir, state.suffix, missing)}, plots_dir)
    page = run_page(state.run_dir, samples, results, state.manifest(), notes, missing, link_images,
                    Path(out).parent, plots)
    atomic_write_bytes(Path(out), page)
    return Path(out)


def _badges(r: dict) -> list[str]:
    """The short labels a leaderboard cell carries (the legend says what each means)."""
    return [f"limit {r['limit']}" if code == "limit" else code for code in caveats(r)]


BADGE_LEGEND = {"proxy": "stand-in evidence models (e.g. YOLO for UniDet or Mask2Former): compare with published "
                         "numbers with care",
                "tiny": "tiny random-weight scorers: a test of the plumbing, not a measurement",
                "limit": "a --limit subset of the suite's prompts", "compat": "the reference scripts' rules"}


def _row_names(runs: list) -> list[str]:
    """Rows are named by pairing (the model); a pairing with two runs in one column is told apart by what differs
    between its runs (images per prompt, --limit, scorers, seed, checkpoint), the directory only as a last resort."""
    by_pairing: dict[str, list[int]] = {}
    for i, (_, r, _) in enumerate(runs):
        by_pairing.setdefault(r["pairing"], []).append(i)
    names = [r["pairing"] for _, r, _ in runs]
    for pairing, idx in by_pairing.items():
        cols = [(runs[i][1]["suite"], runs[i][1]["metric"]) for i in idx]
        if len(cols) == len(set(cols)):
            continue   # one row: its runs fill different columns
        facts = [{"images/prompt": runs[i][1].get("images_per_prompt"), "limit": runs[i][1].get("limit"),
                  "scorers": runs[i][1].get("scorers"), "seed": runs[i][1].get("seed"),
                  "checkpoint": (runs[i][2].get("settings") or {}).get("prior_checkpoint")} for i in idx]
        differing = [k for k in facts[0] if len({str(f[k]) for f in facts}) > 1]
        paths = distinct_names([runs[i][0] for i in idx])
        for i, f, path in zip(idx, facts, paths):
            tag = path if differing == ["checkpoint"] or not differing else \
                ", ".join(f"{k} {f[k]}" for k in differing[:2])
            names[i] = f"{pairing} ({tag})"
        if len({names[i] for i in idx}) < len(idx):   # still alike: the directories
            for i, path in zip(idx, paths):
                names[i] = f"{pairing} ({path})"
    return names


def leaderboard_data(run_dirs: list[Path], metric: Optional[str] = None, compat: Optional[bool] = None,
                     allow_incomplete: bool = False) -> dict:
    """Rows x (suite, metric) columns from results.json files: a row per model (its runs in different columns), a
    column per suite and metric with its scale; badges per cell (proxy, tiny, limit, compat) with one legend; the
    best of a column marked only where its runs are comparable (same prompts, images per prompt, scorers, --limit,
    rules); per-group values (categories, tags, levels, atom counts) as a second table; published reference rows
    where the protocol matches."""
    runs = []
    for d in expand_run_dirs(run_dirs):   # each run held to what a report of it alone requires
        state = RunState.variant(Path(d), metric, compat, "put on a leaderboard")
        completeness(state, allow_incomplete, "put on a leaderboard")
        runs.append((Path(d), state.results().to_json(), state.manifest().to_json()))
    columns: list[tuple[str, str]] = []
    meta: dict[tuple[str, str], dict] = {}
    for d, r, _ in runs:
        col = (r["suite"], r["metric"])
        if col not in columns:
            columns.append(col)
            meta[col] = {"suite": r["suite"], "metric": r["metric"], "scale": r.get("scale", "0-1"),
                         "ipp": r.get("images_per_prompt")}
    rows: dict[str, dict] = {}
    warnings, used = [], set()
    for (d, r, _), label in zip(runs, _row_names(runs)):
        row = rows.setdefault(label, {"name": label, "published": False, "by_col": {}, "runs": [], "groups": {}})
        row["runs"].append(str(d))
        badges = _badges(r)
        used.update(b.split()[0] for b in badges)
        row["by_col"][(r["suite"], r["metric"])] = {
            "score": r["score"], "ci": r.get("ci95", [None, None]), "n": r["n_images"], "n_prompts": r["n_prompts"],
            "n_unscorable": r.get("n_unscorable", 0), "metric": r["metric"], "scale": r.get("scale", "0-1"),
            "run": str(d), "equivalence": r.get("equivalence"), "reference_models": r.get("reference_models"),
            "scorers": r.get("scorers"), "evidence_models": ", ".join((r.get("evidence_models") or {}).values()),
            "phrases_exact": (r.get("specs") or {}).get("reference_exact", True), "limit": r.get("limit"),
            "badges": badges, "signature": (r.get("suite_hash"), r.get("images_per_prompt"), r.get("scorers"),
                                            r.get("limit"), r.get("reference_compat"))}
        for key in ("by_category", "by_level"):
            for g, v in (r.get(key) or {}).items():
                row["groups"][(r["suite"], r["metric"], f"{key[3:]} {g}")] = v
        if r.get("scorers") == "tiny":
            warnings.append(f"{label} on {r['suite']}: tiny random-weight scorers (plumbing only, not a measurement)")
        if r.get("limit"):
            warnings.append(f"{label} on {r['suite']}: --limit {r['limit']} (a subset of the suite's prompts)")
    best, not_compared = {}, set()
    for col in columns:
        cells = [row["by_col"][col] for row in rows.values() if col in row["by_col"]
                 and row["by_col"][col]["score"] is not None]
        if len({c["signature"] for c in cells}) > 1:
            not_compared.add(col)   # no best among runs on other prompts, image counts, scorers or rules
        best[col] = max(c["score"] for c in cells) if cells and col not in not_compared else None
    out_rows = []
    for label in sorted(rows):
        row = rows[label]
        out_rows.append({"name": label, "published": False, "runs": row["runs"], "cells": [
            {**row["by_col"][c], "best": best[c] is not None and row["by_col"][c]["score"] == best[c]}
            if c in row["by_col"] else None for c in columns]})
    group_cols = sorted(dict.fromkeys(g for row in rows.values() for g in row["groups"]),
                        key=lambda g: (g[0], g[1], group_order(g[2])))
    group_rows = [{"name": label, "values": [rows[label]["groups"].get(g) for g in group_cols]} for label in sorted(rows)
                  if rows[label]["groups"]]
    pub_rows: dict[str, list] = {}
    for j, col in enumerate(columns):
        for model, value in published(col[0], col[1], meta[col]["ipp"] or 0).items():
            pub_rows.setdefault(model, [None] * len(columns))[j] = {"score": value, "ci": [None, None], "n": None,
                                                                    "best": False, "badges": []}
    for model, row_cells in pub_rows.items():
        out_rows.append({"name": f"{model} (published)", "published": True, "runs": [], "cells": row_cells})

    prior = [p for p in (prior_rows(d) for d, _, _ in runs) if p is not None]
    return {"columns": [{**meta[c], "compared": c not in not_compared} for c in columns],
            "suites": [c[0] for c in columns], "rows": out_rows, "source": SOURCE if pub_rows else None,
            "warnings": warnings, "legend": {k: v for k, v in BADGE_LEGEND.items() if k in used}, "prior": prior,
            "group_columns": [{"suite": s, "metric": m, "group": g} for s, m, g in group_cols],
            "group_rows": group_rows, "variant": (metric, compat), "runs": [(str(d), label, r) for (d, r, _), label in zip(runs, _row_names(runs))]}


def leaderboard_figures(data: dict) -> dict:
    """The leaderboard's plots: scores per column with CIs, per group with CIs, GenEval 2 by atom count."""
    dirs = [Path(d) for d, _, _ in data["runs"]]
    names = [label for _, label, _ in data["runs"]]
    return {"scores": scores_figure(data["columns"], data["rows"]),
            "groups": groups_figure(dirs, names, data["variant"][0], data["variant"][1]),
            "atoms": atoms_figure([r for _, _, r in data["runs"]], names)}


def render_leaderboard(run_dirs: list[Path], out: Path, metric: Optional[str] = None, compat: Optional[bool] = None,
                       allow_incomplete: bool = False, plots_dir: Optional[Path] = None) -> Path:
    data = leaderboard_data(run_dirs, metric, compat, allow_incomplete)
    plots = emit(leaderboard_figures(data), plots_dir)
    html = template_env().get_template("leaderboard.html.j2").render(
        data=data, plots=plots, script=SORT_SCRIPT, csp=csp(SORT_SCRIPT))
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)
