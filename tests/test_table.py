"""`eclipse-bench table`: tiny runs of T2I-CompBench, GenEval, GenEval 2 and HRS-Bench as the benchmarks' published
tables. The oracle is each run's results.json: every cell of the markdown and the LaTeX is parsed back and must equal
it (to the digits shown), and every number that is a proxy, tiny, limited or otherwise off-protocol carries the
footnote that says so. The LaTeX is compiled where a LaTeX engine is installed."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.reports.table import table

SUITES = {"t2i-compbench/color": "t2i-color", "t2i-compbench/spatial": "t2i-spatial", "geneval": "geneval",
          "geneval2": "geneval2", "hrs/counting": "hrs-counting"}


@pytest.fixture(scope="module")
def runs(official_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    out = {}
    for suite, name in SUITES.items():
        out[name] = root / name
        assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", suite, "--limit", "3", "--images-per-prompt",
                     "1", "--scorers", "tiny", "--out", str(out[name]), "--no-progress"]) == 0
    assert main(["rescore", str(out["geneval2"]), "--metric", "soft-tifa-am"]) == 0
    return out


def _results(d: Path, suffix: str = "") -> dict:
    return json.loads((d / f"results{suffix}.json").read_text())


def expected_cells(runs: dict) -> dict:
    """(table title, column title) -> the number results.json holds, written out per benchmark from the results."""
    color, spatial = _results(runs["t2i-color"]), _results(runs["t2i-spatial"])
    ge, g2, g2am, hrs = (_results(runs["geneval"]), _results(runs["geneval2"]),
                         _results(runs["geneval2"], ".soft-tifa-am"), _results(runs["hrs-counting"]))
    out = {("T2I-CompBench", "Color"): color["score"], ("T2I-CompBench", "Spatial"): spatial["score"]}
    tags = {"single_object": "Single object", "two_object": "Two objects", "counting": "Counting", "colors": "Colors",
            "position": "Position", "color_attr": "Color attribution"}
    out.update({("GenEval", tags[k]): v for k, v in ge["by_category"].items()})
    out[("GenEval", "Overall")] = ge["score"]
    out[("GenEval 2", "Soft-TIFA GM")] = g2["score"]
    out[("GenEval 2", "Soft-TIFA AM")] = g2am["score"]
    out.update({("GenEval 2", f"{k} atoms"): v for k, v in g2["by_level"].items()})
    out.update({("HRS-Bench", f"Counting ({lv})"): v for lv, v in hrs["by_level"].items()})
    return out


def parse_markdown(text: str) -> tuple[dict, dict, dict]:
    """{(table, column): value}, {(table, column): [marks]}, {(table, mark): footnote}."""
    values, marks, notes = {}, {}, {}
    title, header = None, None
    for line in text.splitlines():
        if m := re.fullmatch(r"\*\*(.+)\*\*", line):
            title, header = m.group(1), None
        elif line.startswith("| Model"):
            header = [c.strip() for c in line.strip("|").split("|")][1:]
        elif line.startswith("|---"):
            continue
        elif line.startswith("| ") and header:
            cells = [c.strip() for c in line.strip("|").split("|")][1:]
            for col, cell in zip(header, cells):
                if cell == "–":
                    continue
                m = re.fullmatch(r"(\*\*)?([0-9.]+)(?: ± [0-9.]+)?(\*\*)?(?:<sup>([a-z,]+)</sup>)?", cell)
                assert m, cell
                values[(title, col)] = float(m.group(2))
                marks[(title, col)] = (m.group(4) or "").split(",") if m.group(4) else []
        elif m := re.fullmatch(r"<sup>([a-z]+)</sup> (.+?)\s*", line):
            notes[(title, m.group(1))] = m.group(2)
    return values, marks, notes


def parse_latex(text: str) -> dict:
    values, title = {}, None
    for block in text.split(r"\begin{table}")[1:]:
        title = re.search(r"\\caption\{(.+)\.\}", block).group(1)
        body = block.split(r"\toprule")[1].split(r"\bottomrule")[0]
        lines = [x.strip() for x in body.split("\n") if x.strip().endswith(r"\\")]
        header = [c.strip() for c in lines[0][:-2].split("&")][1:]
        for line in lines[1:]:
            cells = [c.strip() for c in line[:-2].split("&")]
            assert len(cells) == len(header) + 1, line   # every row has the header's columns
            for col, cell in zip(header, cells[1:]):
                if cell != "--":
                    values[(title, col)] = float(re.match(r"(?:\\textbf\{)?([0-9.]+)", cell).group(1))
    return values


def _close(shown: float, value: float, digits: int) -> bool:
    return abs(shown - value) <= 0.5 * 10 ** -digits + 1e-12


def _digits(title: str) -> int:
    return 2 if title in ("GenEval 2", "HRS-Bench") else 4


def test_markdown_cells_equal_results_and_carry_their_footnotes(runs):
    text = table(list(runs.values()), "markdown")
    values, marks, notes = parse_markdown(text)
    expected = expected_cells(runs)
    assert set(values) == set(expected)
    for k, v in expected.items():
        assert _close(values[k], v, _digits(k[0])), (k, values[k], v)
    for (title, col), ms in marks.items():
        said = [notes[(title, m)] for m in ms]
        assert any("tiny random-weight" in n for n in said) and any("--limit 3" in n for n in said), (title, col)
        # the detector-based columns are proxies here; BLIP-VQA and the Qwen3-VL judge are the benchmark's own
        proxy = any(n.startswith("proxy") for n in said)
        assert proxy == (title in ("GenEval", "HRS-Bench") or col == "Spatial"), (title, col, said)
    # the benchmark's own column order
    t2i_header = next(line for line in text.splitlines() if line.startswith("| Model | Color"))
    assert t2i_header.index("Color") < t2i_header.index("Spatial")


def test_latex_cells_equal_results_and_compile(runs, tmp_path):
    text = table(list(runs.values()), "latex", ci=True)
    values = parse_latex(text)
    expected = expected_cells(runs)
    assert set(values) == set(expected)
    for k, v in expected.items():
        assert _close(values[k], v, _digits(k[0])), (k, values[k], v)
    assert text.count(r"\toprule") == 4 and r"$\pm$" in text and r"\_" not in text.split(r"\toprule")[0]
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no LaTeX engine installed: structure checked, not compiled")
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + text +
                   "\n\\end{document}\n")
    r = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (tmp_path / "t.pdf").stat().st_size > 1000, r.stdout[-2000:]


def test_csv_keeps_full_precision_and_the_labels(runs):
    rows = list(csv.DictReader(io.StringIO(table([runs["geneval2"]], "csv"))))
    g2 = _results(runs["geneval2"])
    gm = next(r for r in rows if r["column"] == "Soft-TIFA GM")
    assert float(gm["value"]) == g2["score"] and [float(gm["ci_low"]), float(gm["ci_high"])] == g2["ci95"]
    assert "tiny random-weight" in gm["notes"] and gm["published"] == "false"


def test_best_is_bold_only_among_comparable_runs(tiny_runs, fake_run, tmp_path):
    text = table([tiny_runs["tiny-eclipse-karlo"], tiny_runs["tiny-karlo"]], "markdown")
    values, _, _ = parse_markdown(text)
    scores = {p: _results(tiny_runs[p])["score"] for p in ("tiny-eclipse-karlo", "tiny-karlo")}
    best = max(scores, key=scores.get)
    assert f"| {best} | **" in text and text.count("**") == 2 + 2   # the title and one bold cell
    # a run on other prompts in the same column: nothing is bold, and the column says why
    other = fake_run(tmp_path / "other", {"p0": [0.9, 0.9]}, pairing="other-model", suite_hash="b" * 64)
    text = table([tiny_runs["tiny-eclipse-karlo"], other], "markdown")
    assert text.count("**") == 2 and "not compared: the runs in this column differ" in text


def test_published_rows_come_only_with_the_papers_protocol(fake_run, tmp_path):
    scores = {f"p{i}": [0.5 + i / 100] * 10 for i in range(3)}
    paper = fake_run(tmp_path / "paper", scores, suite="t2i-compbench/color@2023", images_per_prompt=10,
                     pairing="my-prior")
    text = table([paper], "markdown")
    assert "| Karlo (published) | 0.5127<sup>" in text and "published: ECLIPSE (Patel et al., CVPR 2024)" in text
    fewer = fake_run(tmp_path / "fewer", {k: v[:2] for k, v in scores.items()}, suite="t2i-compbench/color@2023",
                     pairing="my-prior")
    assert "(published)" not in table([fewer], "markdown")


def test_cli_writes_the_file_and_refuses_a_suite_without_a_table(runs, tmp_path, capsys):
    out = tmp_path / "t.tex"
    assert main(["table", str(runs["t2i-color"]), "--format", "latex", "--out", str(out)]) == 0
    assert out.read_text().startswith("% eclipse-bench table: T2I-CompBench")
    assert main(["table", str(runs["t2i-color"]), "--layout", "geneval"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not in the GenEval table" in err[0]
    assert main(["table", str(runs["t2i-color"]), "--out", str(runs["t2i-color"] / "t.md")]) == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_keeps_the_labels_and_integers(runs, tmp_path, fmt):
    import pandas as pd

    read = {"csv": pd.read_csv, "parquet": pd.read_parquet}[fmt]
    ge = _results(runs["geneval"])
    out = tmp_path / f"s.{fmt}"
    assert main(["export", str(runs["geneval"]), "--format", fmt, "--out", str(out)]) == 0
    samples = read(out)
    for col in ("scorers", "equivalence", "limit", "images_per_prompt", "reference_compat"):
        assert set(samples[col]) == {ge[col]}, col
    assert samples["n"].dtype.kind == "i" and samples["seed"].dtype.kind == "i"
    out = tmp_path / f"c.{fmt}"
    assert main(["export", str(runs["geneval"]), "--level", "category", "--format", fmt, "--out", str(out)]) == 0
    groups = read(out).set_index("group")
    assert groups.loc["overall", "ci_low"] == ge["ci95"][0] and groups.loc["overall", "n_images"] == ge["n_images"]
    for tag, v in ge["by_category"].items():
        g = groups.loc[f"category={tag}"]
        part = samples[samples["category"] == tag]
        assert g["score"] == pytest.approx(v) and g["n_images"] == part["score"].notna().sum()
        assert g["ci_low"] <= g["score"] <= g["ci_high"]
        if part["score"].nunique() == 1:   # every prompt of the group scored alike: nothing to resample
            assert g["ci_low"] == g["ci_high"] == g["score"]
    assert groups["n_images"].dtype.kind == "i" and groups["equivalence"].eq("proxy").all()


def test_python_api_returns_what_it_says(runs, tmp_path):
    import eclipse_bench as eb

    color = runs["t2i-color"]
    r = eb.rescore(color)
    assert isinstance(r, dict) and r == _results(color) | {"timings": r["timings"]}
    c = eb.compare(color, color)
    assert c["verdict"] == "pass" and c["groups"]
    board = eb.report([color, runs["t2i-spatial"]], tmp_path / "lb.html").read_text()
    assert "t2i-compbench/color" in board and "t2i-compbench/spatial" in board
    assert list(eb.export(color)["prompt_id"]) == [s["prompt_id"] for s in map(json.loads, (
        color / "samples.jsonl").read_text().splitlines())]
    assert eb.table([color], "markdown") == table([color], "markdown")
    scored = eb.score(color / "images.jsonl", "t2i-compbench/color", out=tmp_path / "scored", scorers="tiny",
                      limit=3, layout="manifest", name="again")
    assert scored["pairing"] == "again" and scored["score"] == pytest.approx(_results(color)["score"])


# -- a whole benchmark in one command, and checkpoint sweeps ---------------------------------------------------

def test_a_benchmark_is_one_command_with_one_index(tmp_path, capsys):
    parent = tmp_path / "bench"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color,builtin/counting", "--limit", "2",
                 "--images-per-prompt", "1", "--out", str(parent), "--no-progress"]) == 0
    index = json.loads((parent / "benchmark.json").read_text())
    assert [r["suite"] for r in index["runs"]] == ["builtin/color", "builtin/counting"]
    for r in index["runs"]:   # each suite its own run, scored with its own metric
        res = _results(parent / r["dir"])
        assert (res["suite"], res["metric"], res["score"]) == (r["suite"], r["metric"], r["score"])
    assert [r["metric"] for r in index["runs"]] == ["blip-vqa", "hrs-counting"]
    # table, report and export read the parent as the runs it indexes
    assert table([parent], "markdown") == table([parent / r["dir"] for r in index["runs"]], "markdown")
    assert main(["report", str(parent), "--out", str(tmp_path / "lb.html")]) == 0
    assert "builtin/counting" in (tmp_path / "lb.html").read_text()
    capsys.readouterr()
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color,builtin/nope", "--out",
                 str(tmp_path / "x")]) == 2
    assert "unknown suite 'builtin/nope'" in capsys.readouterr().err and not (tmp_path / "x").exists()
    one = parent / index["runs"][0]["dir"]   # a run directory is never a benchmark's parent
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color,builtin/counting", "--out",
                 str(one)]) == 2
    assert "is a run directory" in capsys.readouterr().err and not (one / "benchmark.json").exists()


def test_a_checkpoint_sweep_scores_every_step(tmp_path):
    import torch

    from eclipse_bench.bench.core.tiny import resolve
    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    base = EclipsePriorTransformer.from_pretrained(resolve("tiny:eclipse-karlo-prior"))
    g = torch.Generator().manual_seed(0)
    for step in (100, 200, 300):   # a 'training run': the weights drift with the step
        with torch.no_grad():
            for p in base.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.5)
        base.save_pretrained(tmp_path / "ckpts" / f"step-{step}")
    parent = tmp_path / "sweep"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--prior-checkpoint", str(tmp_path / "ckpts" / "step-*"),
                 "--suite", "builtin/color", "--limit", "2", "--images-per-prompt", "1", "--out", str(parent),
                 "--no-progress"]) == 0
    index = json.loads((parent / "benchmark.json").read_text())
    assert [r["step"] for r in index["runs"]] == [100, 200, 300] and index["sweep"]
    scores = [r["score"] for r in index["runs"]]
    assert len(set(scores)) == 3   # a result per checkpoint, each its own
    for r in index["runs"]:
        m = json.loads((parent / r["dir"] / "manifest.json").read_text())
        assert m["settings"]["prior_checkpoint"] == r["checkpoint"]
    assert (parent / "sweep.png").is_file() and (parent / "sweep.svg").is_file()
    md = table([parent], "markdown")
    for step in (100, 200, 300):   # rows told apart by the checkpoint's folder, not a path
        assert f"| tiny-eclipse-karlo (step-{step}) |" in md
