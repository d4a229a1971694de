"""Self-contained HTML: the run drill-down, the leaderboard and the comparison.

jinja2 with autoescaping, so prompt text is always shown literally. Images are embedded as data URIs
(or linked, for big runs). The only script is ours, allowed by its hash in the Content-Security-Policy,
so injected markup can never run one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.schema import Manifest, Results, Sample
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.metrics.registry import METRICS, PROVIDERS, check_scores
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


def run_page(run_dir: Path, samples: list[Sample], results: Results, manifest: Manifest, notes: tuple = (),
             missing: set = frozenset(), link_images: bool = False, base: Optional[Path] = None) -> bytes:
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
        compat_note=METRICS.get(metric).compat_note if metric in METRICS else "", notes=list(notes))
    return html.encode("utf-8")


def render_run(run_dir: Path, out: Path, link_images: bool = False, metric: Optional[str] = None,
               compat: Optional[bool] = None, allow_incomplete: bool = False) -> Path:
    """The drill-down of a run's committed state (`metric`, `compat`: a variant rescore wrote beside the run's own: the
    results of another metric, the reference's rules). A run that is unfinished, or misses samples or images, is an
    error (allow_incomplete: rendered, stating what is missing)."""
    state = RunState.variant(Path(run_dir), metric, compat, "report")
    samples, notes, missing = completeness(state, allow_incomplete)
    page = run_page(state.run_dir, samples, state.results(), state.manifest(), notes, missing, link_images,
                    Path(out).parent)
    atomic_write_bytes(Path(out), page)
    return Path(out)


def leaderboard_data(run_dirs: list[Path], metric: Optional[str] = None, compat: Optional[bool] = None,
                     allow_incomplete: bool = False) -> dict:
    """Runs x (suite, metric) columns from results.json files: one row per run (two runs of one pairing are two
    rows), one column per suite and metric with its scale, published reference rows where the protocol matches."""
    runs = []
    for d in run_dirs:   # each run held to what a report of it alone requires
        state = RunState.variant(Path(d), metric, compat, "put on a leaderboard")
        completeness(state, allow_incomplete, "put on a leaderboard")
        runs.append((Path(d), state.results().to_json()))
    columns: list[tuple[str, str]] = []
    meta: dict[tuple[str, str], dict] = {}
    for d, r in runs:
        col = (r["suite"], r["metric"])
        if col not in columns:
            columns.append(col)
            meta[col] = {"suite": r["suite"], "metric": r["metric"], "scale": r.get("scale", "0-1"),
                         "ipp": r.get("images_per_prompt")}
    pairing_count: dict[str, int] = {}
    for _, r in runs:
        pairing_count[r["pairing"]] = pairing_count.get(r["pairing"], 0) + 1
    rows: dict[str, dict] = {}
    warnings = []
    for d, r in runs:
        label = r["pairing"] if pairing_count[r["pairing"]] == 1 else f"{r['pairing']} ({d.name})"
        if label in rows and (r["suite"], r["metric"]) in rows[label]["by_col"]:
            label = f"{r['pairing']} ({d})"
        row = rows.setdefault(label, {"name": label, "published": False, "by_col": {}, "runs": []})
        row["runs"].append(str(d))
        row["by_col"][(r["suite"], r["metric"])] = {
            "score": r["score"], "ci": r.get("ci95", [None, None]), "n": r["n_images"], "n_prompts": r["n_prompts"],
            "n_unscorable": r.get("n_unscorable", 0), "metric": r["metric"], "scale": r.get("scale", "0-1"),
            "run": str(d), "equivalence": r.get("equivalence"), "reference_models": r.get("reference_models"),
            "scorers": r.get("scorers"), "evidence_models": ", ".join((r.get("evidence_models") or {}).values()),
            "phrases_exact": (r.get("specs") or {}).get("reference_exact", True), "limit": r.get("limit")}
        if r.get("scorers") == "tiny":
            warnings.append(f"{label} on {r['suite']}: tiny random-weight scorers (plumbing only, not a measurement)")
        if r.get("limit"):
            warnings.append(f"{label} on {r['suite']}: --limit {r['limit']} (a subset of the suite's prompts)")
    best = {}
    for col in columns:
        vals = [row["by_col"][col]["score"] for row in rows.values() if col in row["by_col"]
                and row["by_col"][col]["score"] is not None]
        best[col] = max(vals) if vals else None
    out_rows = []
    for label in sorted(rows):
        row = rows[label]
        out_rows.append({"name": label, "published": False, "runs": row["runs"], "cells": [
            {**row["by_col"][c], "best": row["by_col"][c]["score"] is not None and row["by_col"][c]["score"] == best[c]}
            if c in row["by_col"] else None for c in columns]})
    pub_rows: dict[str, list] = {}
    for j, col in enumerate(columns):
        for model, value in published(col[0], col[1], meta[col]["ipp"] or 0).items():
            pub_rows.setdefault(model, [None] * len(columns))[j] = {"score": value, "ci": [None, None], "n": None,
                                                                    "best": False}
    for model, row_cells in pub_rows.items():
        out_rows.append({"name": f"{model} (published)", "published": True, "runs": [], "cells": row_cells})

    prior = [p for p in (prior_rows(d) for d, _ in runs) if p is not None]
    return {"columns": [meta[c] for c in columns], "suites": [c[0] for c in columns], "rows": out_rows,
            "source": SOURCE if pub_rows else None, "warnings": warnings, "prior": prior}


def _bar_chart(suite: str, rows: list[dict], j: int) -> dict:
    """An SVG bar chart of one column: measured rows, with their CI whiskers."""
    bars = [(r["name"], r["cells"][j]) for r in rows if not r["published"] and r["cells"][j]
            and r["cells"][j]["score"] is not None]
    top = max([c["ci"][1] if c["ci"][1] is not None else c["score"] for _, c in bars] + [1e-9])
    top = top * 1.1 if top > 0 else 1.0
    width, bar_h, gap, label_w = 520, 18, 6, 190
    items = []
    for i, (name, c) in enumerate(bars):
        y = i * (bar_h + gap)
        scale = (width - label_w - 60) / top
        lo, hi = c["ci"]
        items.append({"y": y, "name": name, "w": max(c["score"], 0) * scale, "x0": label_w,
                      "lo": label_w + max(lo, 0) * scale if lo is not None else None,
                      "hi": label_w + max(hi, 0) * scale if hi is not None else None,
                      "value": fmt(c["score"]), "best": c.get("best")})
    return {"suite": suite, "items": items, "height": max(len(items) * (bar_h + gap), bar_h), "width": width,
            "bar_h": bar_h}


def render_leaderboard(run_dirs: list[Path], out: Path, metric: Optional[str] = None, compat: Optional[bool] = None,
                       allow_incomplete: bool = False) -> Path:
    data = leaderboard_data(run_dirs, metric, compat, allow_incomplete)
    charts = [{**_bar_chart(c["suite"], data["rows"], j), "title": f"{c['suite']} · {c['metric']} ({c['scale']})"}
              for j, c in enumerate(data["columns"])]
    html = template_env().get_template("leaderboard.html.j2").render(
        data=data, charts=charts, script=SORT_SCRIPT, csp=csp(SORT_SCRIPT))
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)
