"""GenEval 2 end to end: the suite from the pinned file, `run --suite geneval2 --limit 8` and `score` of GenEval 2's
JSON layout giving Soft-TIFA with the reference's per-skill and per-atom-count tables, the drill-down showing every
question with its probability, rescore switching between the judge's metrics without a model, and the judge's
labels, keys and errors."""

from __future__ import annotations

import json
import shutil

import pytest

from eclipse_bench.bench.app.cli import main


@pytest.fixture(scope="module")
def g2_run(session_tmp):
    import os
    from pathlib import Path

    data = os.environ.get("ECLIPSE_BENCH_DATA")
    if not (data and (Path(data) / "geneval2" / "geneval2_data.jsonl").is_file()):
        pytest.skip("GenEval 2's data file absent: set ECLIPSE_BENCH_DATA (../shared/benchmarks in the dev setup)")
    out = session_tmp / "runs" / "geneval2"
    if not (out / "finished.json").is_file():
        assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "geneval2", "--limit", "8",
                     "--out", str(out), "--no-progress"]) == 0
    return out


def test_the_suite_from_the_pinned_file(official_data):
    from eclipse_bench.prompts.fetch import upstream_url
    from eclipse_bench.prompts.load import load_suite

    suite = load_suite("geneval2")
    assert len(suite.items) == 800 and suite.default_metric == "soft-tifa-gm" and suite.images_per_prompt == 1
    assert sum(len(i.spec.questions) for i in suite.items) == 6012
    assert sorted({i.level for i in suite.items}, key=int) == [str(n) for n in range(3, 11)]
    assert all(i.spec.atoms == int(i.level) for i in suite.items)
    first = suite.items[0]
    assert first.prompt == "a green backpack and a pig"
    assert [(q.question, q.answer, q.skill) for q in first.spec.questions][:2] == [
        ("How many backpacks are in the image?", "one", "count"), ("Is the backpack green?", "Yes", "attribute")]
    limited = suite.limit(8)
    assert sorted(i.level for i in limited.items) == sorted(str(n) for n in range(3, 11))   # one per atom count
    assert upstream_url("geneval2/geneval2_data.jsonl") == ("https://raw.githubusercontent.com/facebookresearch/"
                                                            "GenEval2/a6e82d2289e8d418f27f0adee77908b07060eea3/"
                                                            "geneval2_data.jsonl")


def test_a_changed_data_file_is_refused(official_data, tmp_path, monkeypatch, capsys):
    (tmp_path / "geneval2").mkdir()
    text = (official_data / "geneval2" / "geneval2_data.jsonl").read_text()
    (tmp_path / "geneval2" / "geneval2_data.jsonl").write_text(text.replace("green backpack", "red backpack", 1))
    monkeypatch.setenv("ECLIPSE_BENCH_DATA", str(tmp_path))
    assert main(["suites", "show", "geneval2", "--limit", "1"]) == 2
    assert "does not match the pinned facebookresearch/GenEval2" in capsys.readouterr().err


def test_run_gives_soft_tifa_with_the_reference_tables(g2_run):
    results = json.loads((g2_run / "results.json").read_text())
    assert results["metric"] == "soft-tifa-gm" and results["scale"] == "0-100" and results["n_prompts"] == 8
    assert results["equivalence"] == "reference" and results["evidence_models"] == {"judge": "tiny:qwen3-vl"}
    tables = results["breakdowns"]
    assert list(tables["per atom count (Soft-TIFA GM)"]) == [str(n) for n in range(3, 11)]
    assert {"object", "count"} <= set(tables["per skill (Soft-TIFA AM)"])
    samples = [json.loads(line) for line in (g2_run / "samples.jsonl").read_text().splitlines()]
    # the headline and the tables are the reference's arithmetic over the stored P lists
    gms = {s["prompt_id"]: s["details"]["gm"] for s in samples}
    assert results["score"] == pytest.approx(100 * sum(gms.values()) / 8, rel=1e-9)
    for s in samples:
        assert tables["per atom count (Soft-TIFA GM)"][s["level"]] == pytest.approx(100 * s["details"]["gm"], rel=1e-9)
    objects = [p for s in samples for p, k in zip(s["details"]["p"], s["details"]["skills"]) if k == "object"]
    assert tables["per skill (Soft-TIFA AM)"]["object"] == pytest.approx(100 * sum(objects) / len(objects), rel=1e-9)
    html = (g2_run / "report.html").read_text()
    assert "per skill (Soft-TIFA AM)" in html and "per atom count (Soft-TIFA GM)" in html
    for s in samples:   # every question with its probability in the drill-down
        for q, p in zip(s["evidence"]["judge"]["questions"], s["details"]["p"] + [None]):
            if q["kind"] == "tifa":
                assert q["question"] in html and f"{p:.4f}" in html


def test_rescore_switches_between_the_judge_metrics_without_a_model(g2_run, tmp_path, monkeypatch):
    from eclipse_bench.metrics import judge

    run = tmp_path / "g2"
    shutil.copytree(g2_run, run)
    monkeypatch.setattr(judge.QwenJudge, "__init__", lambda *a, **k: pytest.fail("rescore loaded the judge"))
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for metric in ("soft-tifa-am", "tifa", "vqascore"):
        assert main(["rescore", str(run), "--metric", metric]) == 0
        r = json.loads((run / f"results.{metric}.json").read_text())
        assert r["metric"] == metric and r["n_prompts"] == 8
    am = json.loads((run / "results.soft-tifa-am.json").read_text())
    assert am["score"] == pytest.approx(100 * sum(s["details"]["am"] for s in samples) / 8, rel=1e-9)
    # the official answers are one..seven: the reference's digit quirk changes nothing here
    assert main(["rescore", str(run), "--reference-compat"]) == 0
    assert json.loads((run / "results.json").read_text())["score"] == pytest.approx(
        json.loads((g2_run / "results.json").read_text())["score"], abs=1e-12)


def test_score_of_geneval2s_json_layout_equals_the_run(g2_run, tmp_path):
    samples = [json.loads(line) for line in (g2_run / "samples.jsonl").read_text().splitlines()]
    images = tmp_path / "model-x"
    images.mkdir()
    mapping = {}
    for s in samples:
        target = images / f"{s['prompt_id']}.png"
        shutil.copy(g2_run / s["image"], target)
        mapping[s["prompt"]] = str(target)
    (tmp_path / "images.json").write_text(json.dumps(mapping))
    out = tmp_path / "scored"
    assert main(["score", str(tmp_path / "images.json"), "--suite", "geneval2", "--limit", "8", "--scorers", "tiny",
                 "--out", str(out), "--no-progress"]) == 0
    a, b = (json.loads((d / "results.json").read_text()) for d in (g2_run, out))
    assert b["score"] == a["score"] and b["breakdowns"] == a["breakdowns"]
    assert json.loads((out / "manifest.json").read_text())["source"]["layout"] == "geneval2"


def test_the_real_judge_is_named_when_absent(official_data, tmp_path, capsys):
    rc = main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "geneval2", "--limit", "1", "--scorers", "real",
               "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Qwen/Qwen3-VL-8B-Instruct" in err[0]


def test_another_judge_is_keyed_and_labelled(g2_run, tmp_path):
    from eclipse_bench.bench.core.tiny import materialise

    twin_copy = tmp_path / "my-judge"
    shutil.copytree(materialise("qwen3-vl"), twin_copy)
    out = tmp_path / "other"
    shutil.copytree(g2_run, out)
    assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "geneval2", "--limit", "8", "--judge",
                 str(twin_copy), "--out", str(out), "--no-progress"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["equivalence"] == "proxy" and r["evidence_models"]["judge"] == str(twin_copy)
    base = json.loads((g2_run / "results.json").read_text())
    assert r["score"] == pytest.approx(base["score"], abs=1e-9)   # the same weights: the same answers
    keys = {json.loads(line)["key"] for line in (out / "evidence" / "judge.jsonl").read_text().splitlines()}
    assert len(keys) == 16   # the twin's 8 records and the copy's 8: another judge is another key


def test_the_judge_on_another_suite_is_labelled_eclipse_bench_questions(tmp_path):
    out = tmp_path / "color"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "2",
                 "--images-per-prompt", "1", "--metric", "soft-tifa-am", "--out", str(out), "--no-progress"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["equivalence"] == "own-questions" and "eclipse-bench questions" in r["reference_models"]
    html = (out / "report.html").read_text()
    assert "eclipse-bench questions" in html and "Is the" in html
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(s["evidence"]["judge"]["source"] == "eclipse-bench questions" for s in samples)


def test_a_user_suite_with_its_own_questions(tmp_path):
    suite = tmp_path / "mine.jsonl"
    lines = [{"prompt": "two red apples", "level": "2", "spec": {"questions": [
        {"question": "How many apples are in the image?", "answer": "two", "skill": "count"},
        {"question": "Are the apples red?", "answer": "Yes", "skill": "attribute"}], "atoms": 2}},
        {"prompt": "a cat", "spec": {"questions": [{"question": "Is there a cat?", "answer": "Yes", "skill": "object"}]}}]
    suite.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "mine"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", str(suite), "--metric", "soft-tifa-gm",
                 "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["equivalence"] == "own-questions" and "the suite's own questions" in r["reference_models"]
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    asked = [q["question"] for s in samples for q in s["evidence"]["judge"]["questions"] if q["kind"] == "tifa"]
    assert asked == ["How many apples are in the image?", "Are the apples red?", "Is there a cat?"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a cat", "spec": {"questions": [{"question": "Is there a cat?"}]}}) + "\n")
    assert main(["suites", "validate", str(bad)]) == 2


def test_judge_for_a_metric_without_the_judge_is_an_error(tmp_path, capsys):
    rc = main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1", "--judge", "x/y",
               "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--judge x/y" in err[0] and "soft-tifa-gm" in err[0]
