"""Plots and the leaderboard's caveats. The oracle for each plot is what the run committed (results.json, the
samples): the bars, whiskers and lines are read back from the matplotlib figure and compared with those numbers, and
the per-prompt deltas are recomputed here from the two runs' samples."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl
from eclipse_bench.reports.compare import compare_runs
from eclipse_bench.reports.html import leaderboard_data, leaderboard_figures
from eclipse_bench.reports.plots import atoms_figure, deltas_figure, grid_figure, groups_figure


def _scores(n=8, base=0.5, step=0.03):
    return {f"p{i:03d}": [base + i * step, base + i * step / 2] for i in range(n)}


def _results(d):
    return json.loads((d / "results.json").read_text())


def test_score_bars_and_whiskers_are_the_results(fake_run, tmp_path):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores(base=0.3), pairing="tiny-karlo")
    fig = leaderboard_figures(leaderboard_data([a, b]))["scores"]
    ax = fig.axes[0]
    bars = {t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert bars == {"tiny-eclipse-karlo": pytest.approx(_results(a)["score"]),
                    "tiny-karlo": pytest.approx(_results(b)["score"])}
    (err,) = [c for c in ax.containers if hasattr(c, "lines") and c.lines[2]]
    segs = err.lines[2][0].get_segments()   # one horizontal whisker per bar: [lo, hi] at the bar's y
    got = sorted((s[0][0], s[1][0]) for s in segs)
    want = sorted(tuple(_results(d)["ci95"]) for d in (a, b))
    assert np.allclose(got, want)
    colors = {t.get_text(): p.get_facecolor() for t, p in zip(ax.get_yticklabels(), ax.patches)}
    assert colors["tiny-eclipse-karlo"] != colors["tiny-karlo"]   # the best of comparable runs stands out


def test_group_bars_are_the_categories(fake_run, tmp_path):
    cats = {f"p{i:03d}": ("color" if i % 2 else "shape") for i in range(8)}
    a = fake_run(tmp_path / "a", _scores(), categories=cats)
    fig = groups_figure([a], ["a"])
    ax = fig.axes[0]
    heights = {t.get_text(): p.get_height() for t, p in zip(ax.get_xticklabels(), ax.patches)}
    assert heights == {k: pytest.approx(v) for k, v in _results(a)["by_category"].items()}


def test_atom_lines_are_the_levels():
    r = {"suite": "geneval2", "metric": "soft-tifa-gm", "scale": "0-100",
         "by_level": {"10": 1.0, "3": 40.0, "4": 30.5, "5": 22.0}}
    (line,) = atoms_figure([r], ["a"]).axes[0].get_lines()
    assert list(line.get_xdata()) == [3, 4, 5, 10] and list(line.get_ydata()) == [40.0, 30.5, 22.0, 1.0]
    assert atoms_figure([{**r, "suite": "t2i-compbench/color"}], ["a"]) is None


def test_deltas_are_the_per_prompt_changes(fake_run, tmp_path):
    a = fake_run(tmp_path / "a", _scores())
    cand = {k: [v[0] - (0.2 if k < "p004" else 0.0), v[1]] for k, v in _scores().items()}
    b = fake_run(tmp_path / "b", cand)
    means = {}
    for d in (a, b):
        per = defaultdict(list)
        for s in read_jsonl(d / "samples.jsonl"):
            per[s["prompt_id"]].append(s["score"])
        means[d] = {k: float(np.mean(v)) for k, v in per.items()}
    expected = sorted(means[b][k] - means[a][k] for k in means[a])
    ax = deltas_figure(compare_runs(a, b)).axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx(expected)
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())   # the detectable drop


def test_grid_shows_worst_median_best_per_category(fake_run, tmp_path):
    cats = {f"p{i:03d}": ("color" if i < 5 else "shape") for i in range(8)}
    a = fake_run(tmp_path / "a", _scores(), categories=cats)
    fig = grid_figure(a)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_images()]
    assert len(titles) == 6   # two categories x worst, median, best
    assert titles[0].startswith("color worst (0.5") and "prompt p000" in titles[0]
    assert titles[2].startswith("color best") and "prompt p004" in titles[2]


def test_report_and_compare_write_and_show_their_plots(fake_run, tmp_path):
    cats = {f"p{i:03d}": ("color" if i % 2 else "shape") for i in range(8)}
    a = fake_run(tmp_path / "a", _scores(), categories=cats)
    b = fake_run(tmp_path / "b", _scores(base=0.3), pairing="tiny-karlo", categories=cats)
    plots = tmp_path / "plots"
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "lb.html"), "--plots", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["groups.png", "groups.svg", "scores.png", "scores.svg"]
    html = (tmp_path / "lb.html").read_text()
    assert 'id="plot-scores"' in html and 'id="plot-groups"' in html and "data:image/png;base64," in html
    assert main(["report", str(a), "--out", str(tmp_path / "a.html"), "--plots", str(tmp_path / "pa")]) == 0
    assert {p.name for p in (tmp_path / "pa").iterdir()} == {"groups.png", "groups.svg", "grid.png", "grid.svg"}
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "c.html"), "--plots", str(tmp_path / "pc")]) == 1
    assert 'id="plot-deltas"' in (tmp_path / "c.html").read_text() and (tmp_path / "pc" / "deltas.svg").is_file()
    assert main(["report", str(a), "--out", str(tmp_path / "x.html"), "--plots", str(a / "plots")]) == 2
    assert not (a / "plots").exists()


def test_leaderboard_caveats_are_badges_and_best_needs_comparable_runs(fake_run, tmp_path):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores(base=0.3), pairing="tiny-karlo")
    other = fake_run(tmp_path / "c", _scores(base=0.7), pairing="other", suite_hash="c" * 64)
    same = fake_run(tmp_path / "shape", _scores(), suite="builtin/shape")   # the first pairing, another suite
    data = leaderboard_data([a, b, same])
    names = [r["name"] for r in data["rows"] if not r["published"]]
    assert names == ["tiny-eclipse-karlo", "tiny-karlo"]        # one row per model, named by its pairing
    cells = {r["name"]: r["cells"] for r in data["rows"]}
    assert cells["tiny-eclipse-karlo"][0]["best"] and not cells["tiny-karlo"][0]["best"]
    assert cells["tiny-eclipse-karlo"][0]["badges"] == ["tiny"] and set(data["legend"]) == {"tiny"}
    data = leaderboard_data([a, b, other])                      # other prompts in the column: no best
    assert not any(c["best"] for r in data["rows"] for c in r["cells"] if c)
    assert data["columns"][0]["compared"] is False
    out = tmp_path / "board.html"
    assert main(["report", str(a), str(b), str(other), "--out", str(out)]) == 0
    html = out.read_text()
    assert html.count('id="run-warnings"') == 1 and "runs not comparable: no best" in html
    assert html.count('<span class="badge caveat"') == 3 + 1      # a badge per cell, and one in the legend line
