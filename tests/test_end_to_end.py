"""`eclipse-bench run` end to end with every tiny pairing, through the real loaders."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl
from oracles import blip_vqa_score

PAIRINGS = ("tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky")


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_run_writes_the_run_directory(tiny_runs, pairing):
    out = tiny_runs[pairing]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pairing"]["name"] == pairing
    assert manifest["suite"]["name"] == "builtin/color" and len(manifest["suite"]["hash"]) == 64
    assert manifest["settings"]["seeds"] == [42, 43]  # T2I-CompBench: image n uses 42 + n
    assert "torch" in manifest["versions"]

    samples = list(read_jsonl(out / "samples.jsonl"))
    assert len(samples) == 8
    assert {(s["prompt_id"], s["n"]) for s in samples} == {(f"color-{i:03d}", n) for i in range(4) for n in (0, 1)}
    for s in samples:
        with Image.open(out / s["image"]) as im:
            im.verify()
        with Image.open(out / s["image"]) as im:
            assert im.format == "PNG" and im.size == (64, 64)
        questions = s["evidence"]["vqa"]["questions"]
        assert [q["phrase"] for q in questions] == s["spec"]["phrases"]
        assert s["score"] == blip_vqa_score([q["p_yes"] for q in questions])   # the reference's rule, written out
    assert len(list((out / "images").glob("*.png"))) == 8

    results = json.loads((out / "results.json").read_text())
    assert results["pairing"] == pairing and results["suite"] == "builtin/color" and results["metric"] == "blip-vqa"
    assert 0.0 <= results["score"] <= 1.0
    lo, hi = results["ci95"]
    assert lo <= results["score"] <= hi
    assert results["n_prompts"] == 4 and results["n_images"] == 8
    assert results["score"] == pytest.approx(np.mean([s["score"] for s in samples]))
    html = (out / "report.html").read_text()
    assert f"{results['score']:.4f}" in html and html.count("data:image/jpeg;base64,") == 8


@pytest.mark.parametrize("pairing, prior_calls", [("tiny-eclipse-karlo", 1), ("tiny-karlo", 2),
                                                   ("tiny-eclipse-kandinsky", 1)])
def test_eclipse_prior_is_one_forward_pass_and_timed(tiny_runs, pairing, prior_calls):
    """The ECLIPSE prior runs once per batch, the diffusion prior once per step (the twins' 2 steps, guided as one
    batch); each stage's time is recorded per image."""
    from eclipse_bench.bench.generation.generator import load_generator
    from eclipse_bench.bench.generation.pairings import PAIRINGS

    gen = load_generator(PAIRINGS.get(pairing), "cpu")
    calls = []
    gen.prior.register_forward_hook(lambda module, args, out: calls.append(1))
    gen.generate(["a red car", "a blue bench", "a cat"], [42, 43, 44])
    assert len(calls) == prior_calls
    assert gen.timings["prior"] > 0 and gen.timings["decoder"] > gen.timings["prior"]
    timed = json.loads((tiny_runs[pairing] / "results.json").read_text())["timings"]["generation"]
    assert set(timed) >= set(gen.stages) | {"total"} and timed["total"] >= sum(timed[s] for s in gen.stages)


def test_same_seed_twice_gives_identical_images_and_scores(tiny_runs, session_tmp):
    again = session_tmp / "again-eclipse-karlo"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "4",
                 "--images-per-prompt", "2", "--out", str(again), "--no-progress"]) == 0
    first = tiny_runs["tiny-eclipse-karlo"]
    for a, b in zip(read_jsonl(first / "samples.jsonl"), read_jsonl(again / "samples.jsonl")):
        assert (first / a["image"]).read_bytes() == (again / b["image"]).read_bytes()
        assert a["score"] == b["score"] and a["evidence"] == b["evidence"]


def test_another_seed_gives_other_images(session_tmp, tiny_runs):
    out = session_tmp / "seed7"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1",
                 "--images-per-prompt", "1", "--seed", "7", "--out", str(out), "--no-progress"]) == 0
    base = tiny_runs["tiny-eclipse-karlo"]
    (ours,) = [s for s in read_jsonl(out / "samples.jsonl")]
    theirs = next(s for s in read_jsonl(base / "samples.jsonl") if (s["prompt_id"], s["n"]) == ("color-000", 0))
    assert (ours["seed"], theirs["seed"]) == (7, 42) and ours["image"] != theirs["image"]  # content-keyed files
    assert (out / ours["image"]).read_bytes() != (base / theirs["image"]).read_bytes()


@pytest.mark.parametrize("pairing", ["tiny-eclipse-karlo", "tiny-kandinsky"])
def test_batch_size_does_not_change_images(tiny_runs, session_tmp, pairing):
    out = session_tmp / f"bs3-{pairing}"
    assert main(["run", "--prior", pairing, "--suite", "builtin/color", "--limit", "4", "--images-per-prompt", "2",
                 "--batch-size", "3", "--out", str(out), "--no-progress"]) == 0
    ref = tiny_runs[pairing]
    for a, b in zip(read_jsonl(ref / "samples.jsonl"), read_jsonl(out / "samples.jsonl")):
        x = np.asarray(Image.open(ref / a["image"]), dtype=int)
        y = np.asarray(Image.open(out / b["image"]), dtype=int)
        assert np.abs(x - y).max() <= 1  # batched kernels round differently: at most 1/255 after quantisation
        # the listening BLIP twin moves P(yes) by up to 7e-4 for a one-grey-level change (tests/test_scale.py)
        assert abs(a["score"] - b["score"]) <= (1e-4 + 1e-12 if np.array_equal(x, y) else 4e-3)


def test_rerunning_a_finished_run_does_no_model_work(tiny_runs, run_copy):
    from eclipse_bench.bench.app.options import RunOptions
    from eclipse_bench.bench.app.runner import Runner

    out = run_copy(tiny_runs["tiny-kandinsky"])
    before = (out / "samples.jsonl").read_text()
    runner = Runner(RunOptions(pairing="tiny-kandinsky", suite="builtin/color", out=out, limit=4,
                              images_per_prompt=2, progress=False))
    runner.run()
    assert runner.pipe.model_calls == {"generate": 0, "evidence": 0}
    assert runner.generator is None and runner.pipe.providers == {}  # no model was even loaded
    assert (out / "samples.jsonl").read_text() == before


def test_report_command_renders_one_run_and_a_leaderboard(tiny_runs, session_tmp, capsys):
    one = session_tmp / "one.html"
    assert main(["report", str(tiny_runs["tiny-karlo"]), "--out", str(one)]) == 0
    assert "tiny-karlo" in one.read_text()
    board = session_tmp / "board.html"
    assert main(["report", *map(str, tiny_runs.values()), "--out", str(board)]) == 0
    html = board.read_text()
    assert all(p in html for p in PAIRINGS)
    assert capsys.readouterr().out.strip().endswith(str(board))


def test_console_script_runs_offline_in_a_fresh_process(session_tmp, tiny_runs):
    """The installed entry point, as a user calls it (one subprocess: ~5 s of imports)."""
    out = session_tmp / "subprocess-run"
    proc = subprocess.run(
        [sys.executable, "-m", "eclipse_bench", "run", "--prior", "tiny-eclipse-kandinsky", "--suite", "builtin/color",
         "--limit", "2", "--images-per-prompt", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"report: {(out / 'report.html').resolve()}"
    assert "Traceback" not in proc.stderr


def test_leaderboard_keeps_runs_and_metrics_apart(fake_run, tmp_path):
    """Two runs of one pairing with different metrics: two rows or columns, each with its metric, scale and n."""
    from eclipse_bench.reports.html import leaderboard_data

    scores = {f"p{i}": [0.5 + i / 100, 0.6] for i in range(6)}
    a = fake_run(tmp_path / "vqa", scores)
    b = fake_run(tmp_path / "clip", {k: [0.31, 0.3] for k in scores}, metric="clip-score")
    c = fake_run(tmp_path / "vqa-again", {k: [0.2, 0.1] for k in scores})
    data = leaderboard_data([a, b, c])
    assert [(col["metric"], col["scale"]) for col in data["columns"]] == [("blip-vqa", "0-1"), ("clip-score", "0-1")]
    measured = [r for r in data["rows"] if not r["published"]]
    assert len(measured) == 3 and len({r["name"] for r in measured}) == 3   # one row per run
    best = [(r["name"], j) for r in measured for j, cell in enumerate(r["cells"]) if cell and cell["best"]]
    assert len(best) == 2 and {j for _, j in best} == {0, 1}                 # one best per metric column
    assert all(cell["n"] == 12 for r in measured for cell in r["cells"] if cell)
    assert any("tiny random-weight scorers" in w for w in data["warnings"])
    out = tmp_path / "board.html"
    assert main(["report", str(a), str(b), str(c), "--out", str(out)]) == 0
    html = out.read_text()
    assert "clip-score &middot; 0-1" in html and "n = 12 images, 6 prompts" in html and 'id="run-warnings"' in html
