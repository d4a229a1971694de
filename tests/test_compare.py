"""`eclipse-bench compare` as a CI gate, on runs built by hand; `export`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.state import seal


def _scores(n_prompts=40, base=0.6, shift=0.0, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return {f"p{i:03d}": [float(np.clip(base + (i % 7) * 0.03 + shift + rng.normal(0, noise), 0, 1)) for _ in range(2)]
            for i in range(n_prompts)}


def test_identical_runs_pass(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores())
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "verdict: pass" in out and (b.parent / "b.compare.html").is_file() and not (b / "compare.html").exists()


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
    assert [c.get("name") for c in cases] == ["overall", "category=x", "category=y", "coverage"]
    assert all(c.find("failure") is not None for c in cases[:3]) and cases[3].find("failure") is None
    assert root.find("testsuite").get("failures") == "3"


def test_compare_html_shows_changed_prompts_side_by_side(fake_run, tmp_path):
    a = fake_run(tmp_path / "a", _scores(), prompts={"p003": "<b>a red car</b>"})
    b = fake_run(tmp_path / "b", {**_scores(), "p003": [0.0, 0.0]}, prompts={"p003": "<b>a red car</b>"})
    # one prompt of 40 collapsing moves the mean by 0.016 but is no significant drop: the gate passes, and the HTML
    # still shows that prompt side by side
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "c.html")]) == 0
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


def _with_unscorable(scores, ids):
    return {k: ([None] * len(v) if k in ids else v) for k, v in scores.items()}


def test_more_unscorable_samples_fail_the_gate(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    half = {f"p{i:03d}" for i in range(0, 40, 2)}
    b = fake_run(tmp_path / "b", _with_unscorable(_scores(), half))   # 20 of 40 prompts unscorable, rest equal
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "COVERAGE REGRESSION" in out and "20 of the baseline's 40 scored prompts" in out
    assert main(["compare", str(a), str(b), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["coverage"]["failed"] and report["coverage"]["candidate_unscorable"] == 40
    assert main(["compare", str(a), str(b), "--format", "junit"]) == 1
    assert 'type="coverage"' in capsys.readouterr().out
    html = (b.parent / f"{b.name}.compare.html").read_text()
    assert "coverage regression" in html


def test_unscorable_increase_within_the_allowance(fake_run, tmp_path, capsys):
    base = _with_unscorable(_scores(), set())
    base["p000"] = [None, 0.7]           # one unscorable image, prompt still scored
    cand = dict(_scores())
    cand["p000"] = [None, 0.7]
    cand["p001"] = [None, 0.63]          # one more unscorable image
    a, b = fake_run(tmp_path / "a", base), fake_run(tmp_path / "b", cand)
    assert main(["compare", str(a), str(b)]) == 1
    assert main(["compare", str(a), str(b), "--max-unscorable-increase", "1"]) == 0


def test_empty_candidate_is_not_a_pass(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", {k: [None, None] for k in _scores()})   # every sample unscorable
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no scored sample" in err and "\n" not in err
    (a / "samples.jsonl").write_text("")                                  # a baseline whose scores were cut
    assert main(["compare", str(a), str(a)]) == 2
    err = capsys.readouterr().err.strip()
    assert "samples.jsonl changed after the run finished" in err and "rescore" in err and "\n" not in err


@pytest.mark.parametrize("change, allow", [
    ({"metric_version": "1"}, "metric-version"), ({"reference_compat": True}, "compat"),
    ({"seeds": [7, 8]}, "seeds"), ({"models": {"vqa": "Salesforce/blip-vqa-capfilt-large"}}, "scorers"),
])
def test_protocol_differences_exit_2_unless_allowed(fake_run, tmp_path, capsys, change, allow):
    a = fake_run(tmp_path / "a", _scores())
    b = fake_run(tmp_path / "b", _scores())
    results, manifest = json.loads((b / "results.json").read_text()), json.loads((b / "manifest.json").read_text())
    for k, v in change.items():
        if k in ("metric_version", "reference_compat"):
            results[k] = v
        elif k == "seeds":
            manifest["settings"]["seeds"] = v
        else:
            manifest["metric"]["models"] = v
    (b / "results.json").write_text(json.dumps(results))
    (b / "manifest.json").write_text(json.dumps(manifest))
    seal(b, "", 80)   # a run finished with these settings
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot compare" in err and f"--allow {allow}" in err and "\n" not in err
    assert main(["compare", str(a), str(b), "--allow", allow]) == 0


def test_small_samples_warn_and_min_prompts_requires_more(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores(n_prompts=5))
    b = fake_run(tmp_path / "b", _scores(n_prompts=5, shift=-0.3))
    assert main(["compare", str(a), str(b)]) == 0       # 5 prompts: p >= 2/32 > 0.05, never a regression
    assert "can never reach p < 0.05" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--min-prompts", "10"]) == 2


@pytest.mark.parametrize("flag", [["--max-drop", "nan"], ["--alpha", "nan"], ["--max-drop", "-1"],
                                  ["--max-unscorable-increase", "-1"], ["--min-prompts", "0"]])
def test_bad_gate_options_exit_2(fake_run, tmp_path, capsys, flag):
    a = fake_run(tmp_path / "a", _scores(n_prompts=3))
    assert main(["compare", str(a), str(a), *flag]) == 2
    assert "\n" not in capsys.readouterr().err.strip()


# -- the gate states its power ---------------------------------------------------------------------------------

def _compare_json(capsys, *args):
    capsys.readouterr()
    rc = main(["compare", *map(str, args), "--format", "json"])
    return rc, json.loads(capsys.readouterr().out)


def test_the_gate_states_the_smallest_drop_it_can_detect(fake_run, tmp_path, capsys):
    base = fake_run(tmp_path / "a", _scores(n_prompts=20, noise=0.05, seed=4))
    same = fake_run(tmp_path / "b", _scores(n_prompts=20, noise=0.05, seed=4))
    noisy = fake_run(tmp_path / "c", _scores(n_prompts=20, noise=0.05, seed=5))
    rc, identical = _compare_json(capsys, base, same)
    assert rc == 0 and identical["groups"][0]["detectable_drop"] == pytest.approx(0.01)   # no noise: --max-drop
    rc, r = _compare_json(capsys, base, noisy)
    g = r["groups"][0]
    assert rc == 0 and g["detectable_drop"] == pytest.approx((g["ci95"][1] - g["ci95"][0]) / 2)
    assert g["detectable_drop"] > 0.01 and f"{g['detectable_drop']:.4f}" in r["power"]
    # the statement holds: the same noisy candidate made worse by twice that drop is flagged
    drop = 2 * g["detectable_drop"]
    worse = fake_run(tmp_path / "d", {k: [max(0.0, v - drop) for v in vs] for k, vs in
                                      _scores(n_prompts=20, noise=0.05, seed=5).items()})
    rc, r = _compare_json(capsys, base, worse)
    assert rc == 1 and r["groups"][0]["verdict"] == "regression"
    # text and JUnit say it too
    main(["compare", str(base), str(noisy)])
    assert "power: with 20 common prompts this gate detects overall drops larger than" in capsys.readouterr().out
    main(["compare", str(base), str(noisy), "--format", "junit"])
    assert 'name="detectable_drop" value="' in capsys.readouterr().out


def test_a_gate_too_small_to_reject_says_so(fake_run, tmp_path, capsys):
    a = fake_run(tmp_path / "a", _scores(n_prompts=5))
    rc, r = _compare_json(capsys, a, a)
    assert rc == 0 and r["groups"][0]["detectable_drop"] is None and "no drop can be called a regression" in r["power"]


def test_compare_gates_real_runs(tmp_path, capsys):
    """On `run` output (tiny twins): a second identical run passes; a candidate whose evidence is made worse on
    purpose (every P(yes) halved, then rescored) fails the gate."""
    import shutil

    from eclipse_bench.bench.core.store import read_jsonl

    common = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "12",
              "--images-per-prompt", "1", "--no-progress"]
    base, again = tmp_path / "base", tmp_path / "again"
    assert main([*common, "--out", str(base)]) == 0 and main([*common, "--out", str(again)]) == 0
    assert main(["compare", str(base), str(again)]) == 0
    worse = tmp_path / "worse"
    shutil.copytree(base, worse)
    ev = worse / "evidence" / "vqa.jsonl"
    rows = list(read_jsonl(ev))
    for r in rows:
        for q in r["evidence"]["questions"]:
            q["p_yes"] *= 0.5
    ev.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["rescore", str(worse)]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(worse)]) == 1
    assert "verdict: REGRESSION" in capsys.readouterr().out
