"""`eclipse-bench compare` as a CI gate, on runs built by hand; `export`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eclipse_bench.cli import main


def _scores(n_prompts=40, base=0.6, shift=0.0, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return {f"p{i:03d}": [float(np.clip(base + (i % 7) * 0.03 + shift + rng.normal(0, noise), 0, 1)) for _ in range(2)]
            for i in range(n_prompts)}


def test_identical_runs_pass(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores())
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "verdict: pass" in out and (b / "compare.html").is_file()


def test_real_drop_above_max_drop_is_a_regression(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores(shift=-0.08, noise=0.01, seed=1))
    assert main(["compare", str(a), str(b), "--max-drop", "0.02", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    overall = report["groups"][0]
    assert report["verdict"] == "regression" and overall["verdict"] == "regression"
    assert overall["delta"] == pytest.approx(-0.08, abs=0.01) and overall["ci95"][1] < 0 and overall["p_value"] < 0.05


def test_drop_within_noise_passes(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores(noise=0.1, seed=2))
    b = fake_run(tmp_path / "b", _scores(shift=-0.005, noise=0.1, seed=3))
    assert main(["compare", str(a), str(b), "--max-drop", "0.02"]) == 0
    big_but_noisy_a = fake_run(tmp_path / "c", _scores(n_prompts=6, noise=0.3, seed=4))
    big_but_noisy_b = fake_run(tmp_path / "d", _scores(n_prompts=6, shift=-0.05, noise=0.3, seed=5))
    assert main(["compare", str(big_but_noisy_a), str(big_but_noisy_b), "--max-drop", "0.02"]) == 0  # not significant


def test_improvement_is_not_a_failure(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores(shift=0.1, noise=0.01, seed=1))
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["verdict"] == "improvement"


@pytest.mark.parametrize("change, needle", [
    ({"suite": "builtin/shape"}, "different suite"),
    ({"suite_hash": "b" * 64}, "different prompt list"),
    ({"metric": "clip-score"}, "different metric"),
    ({"images_per_prompt": 1}, "different images per prompt"),
])
def test_mismatched_runs_exit_2(fake_run, tmp_path, capsys, change, needle):
    a = fake_run(tmp_path / "a", _scores())
    scores = _scores() if change.get("images_per_prompt") != 1 else {k: v[:1] for k, v in _scores().items()}
    b = fake_run(tmp_path / "b", scores, **change)
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_junit_validates_against_the_schema(fake_run, tmp_path, capsys):
    import xmlschema

    schema = xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd"))
    a = fake_run(tmp_path / "a", _scores(), categories={f"p{i:03d}": ("x" if i % 2 else "y") for i in range(40)})
    b = fake_run(tmp_path / "b", _scores(shift=-0.1, seed=1),
                 categories={f"p{i:03d}": ("x" if i % 2 else "y") for i in range(40)})
    assert main(["compare", str(a), str(b), "--format", "junit"]) == 1
    xml = capsys.readouterr().out
    schema.validate(xml)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["overall", "category=x", "category=y"]
    assert all(c.find("failure") is not None for c in cases)
    assert root.find("testsuite").get("failures") == "3"


def test_compare_html_shows_changed_prompts_side_by_side(fake_run, tmp_path):
    a = fake_run(tmp_path / "a", _scores(), prompts={"p003": "<b>a red car</b>"})
    b = fake_run(tmp_path / "b", {**_scores(), "p003": [0.0, 0.0]}, prompts={"p003": "<b>a red car</b>"})
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "c.html")]) in (0, 1)
    html = (tmp_path / "c.html").read_text()
    assert "&lt;b&gt;a red car&lt;/b&gt;" in html and html.count("data:image/jpeg;base64,") >= 4


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export(fake_run, tmp_path, fmt):
    import pandas as pd

    a = fake_run(tmp_path / "a", _scores(n_prompts=5))
    out = tmp_path / f"x.{fmt}"
    assert main(["export", str(a), "--format", fmt, "--out", str(out)]) == 0
    df = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt](out)
    assert len(df) == 10 and set(df["prompt_id"]) == {f"p{i:03d}" for i in range(5)}
    assert df["score"].mean() == pytest.approx(json.loads((a / "results.json").read_text())["score"])
    assert main(["export", str(a), "--level", "category", "--format", "csv", "--out", str(tmp_path / "c.csv")]) == 0
    assert pd.read_csv(tmp_path / "c.csv")["group"].tolist() == ["overall"]
