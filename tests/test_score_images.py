"""Scoring images made anywhere (`eclipse-bench score`): the images of a generated run, written out in each layout
the benchmarks' tools use (the writers below follow shared/reference/image-layouts.md, not our reader), score
exactly as the generated run did; matching is explicit and loud; --allow-missing is recorded and gated; imported runs
sit on leaderboards and in comparisons beside generated ones. Plus any diffusers pipeline as a pairing."""

from __future__ import annotations

import json
import shutil

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl

GEN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "3", "--images-per-prompt", "2",
       "--no-progress"]


@pytest.fixture(scope="module")
def generated(session_tmp):
    out = session_tmp / "to-export"
    assert main([*GEN, "--out", str(out)]) == 0
    return out


def _samples(run):
    return list(read_jsonl(run / "samples.jsonl"))


def _scores(run):
    return {(s["prompt_id"], s["n"]): s["score"] for s in _samples(run)}


def _suite_index(prompt_id):
    return int(prompt_id.rsplit("-", 1)[1])


# -- writers of each layout, exactly as each benchmark's own generation script names its files -----------------------

def write_t2i_compbench(run, folder, ipp=2):
    """T2I-CompBench's GORS_finetune/inference_eval.py: sample_path = outpath/"samples" (line 94), each image
    f"{prompts[0]}_{base_count:06}.png" with base_count a running counter over the category (line 108: prompt k's image
    n is ipp*k + n), and a grid per prompt beside samples/, f'{prompts[0]}-grid-{grid_count:05}.png' (line 112)."""
    (folder / "samples").mkdir(parents=True)
    for s in _samples(run):
        shutil.copy(run / s["image"], folder / "samples" / f"{s['prompt']}_{ipp * _suite_index(s['prompt_id']) + s['n']:06}.png")
        if s["n"] == 0:
            shutil.copy(run / s["image"], folder / f"{s['prompt']}-grid-{_suite_index(s['prompt_id']):05}.png")
    return folder


def write_manifest(run, folder):
    folder.mkdir(parents=True)
    lines = []
    for i, s in enumerate(_samples(run)):
        shutil.copy(run / s["image"], folder / f"img{i}.png")
        lines.append(json.dumps({"prompt_id": s["prompt_id"], "image": f"img{i}.png", "n": s["n"], "seed": s["seed"]}))
    (folder / "images.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "images.jsonl"


def write_geneval2(run, folder):
    """GenEval 2's README (Image Generation): one JSON object {prompt: image path}, one image per prompt."""
    folder.mkdir(parents=True)
    doc = {}
    for s in _samples(run):
        if s["n"] == 0:
            shutil.copy(run / s["image"], folder / f"{s['prompt_id']}.png")
            doc[s["prompt"]] = f"{s['prompt_id']}.png"
    (folder / "images.json").write_text(json.dumps(doc))
    return folder / "images.json"


def write_geneval(run, folder, metadata_lines):
    """GenEval's generation/diffusers_generate.py: outpath = f"{index:0>5}" (line 118), samples/ in it (line 125),
    metadata.jsonl holding the prompt's line written by json.dump, without a newline (lines 127-128), each image
    f"{sample_count:05}.png" (line 146) and a grid.png (line 160)."""
    for s in _samples(run):
        n = _suite_index(s["prompt_id"])
        d = folder / f"{n:0>5}"
        (d / "samples").mkdir(parents=True, exist_ok=True)
        (d / "metadata.jsonl").write_text(json.dumps(json.loads(metadata_lines[n])))
        shutil.copy(run / s["image"], d / "samples" / f"{s['n']:05}.png")
        shutil.copy(run / s["image"], d / "grid.png")
    return folder


def _score(images, out, *extra):
    return main(["score", str(images), "--suite", "builtin/color", "--limit", "3", "--scorers", "tiny",
                 "--out", str(out), "--no-progress", *extra])


@pytest.mark.parametrize("layout", ["t2i-compbench", "manifest", "geneval2"])
def test_a_generated_run_exported_to_a_layout_scores_the_same(generated, tmp_path, capsys, layout):
    images = {"t2i-compbench": lambda: write_t2i_compbench(generated, tmp_path / "t2i"),
              "manifest": lambda: write_manifest(generated, tmp_path / "m"),
              "geneval2": lambda: write_geneval2(generated, tmp_path / "g2")}[layout]()
    assert _score(images, tmp_path / "scored") == 0
    assert f"layout {layout} (recognised)" in capsys.readouterr().err
    ours = _scores(tmp_path / "scored")
    theirs = {k: v for k, v in _scores(generated).items() if layout != "geneval2" or k[1] == 0}
    assert ours == theirs
    manifest = json.loads((tmp_path / "scored" / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "imported" and manifest["source"]["layout"] == layout
    assert manifest["source"]["seeds"] == ("known" if layout == "manifest" else "unknown")


def test_geneval_layout_checks_each_metadata_line(official_data, session_tmp, tmp_path, capsys):
    out = session_tmp / "geneval-to-export"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "geneval", "--limit", "3", "--images-per-prompt", "2",
                 "--no-progress", "--out", str(out)]) == 0
    lines = (official_data / "geneval" / "evaluation_metadata.jsonl").read_text().splitlines()
    folder = write_geneval(out, tmp_path / "gv", lines)
    args = ["--suite", "geneval", "--limit", "3", "--scorers", "tiny", "--no-progress"]
    assert main(["score", str(folder), *args, "--out", str(tmp_path / "scored")]) == 0
    assert _scores(tmp_path / "scored") == _scores(out)
    victim = next(folder.iterdir())
    (victim / "metadata.jsonl").write_text(lines[int(victim.name) + 1] + "\n")   # another prompt's line
    capsys.readouterr()
    assert main(["score", str(folder), *args, "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{victim.name}/metadata.jsonl is not line {int(victim.name)}" in err and "\n" not in err


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eclipse-bench: error: "), err
    return err[0]


@pytest.mark.parametrize("damage, needle", [
    (lambda d: sorted((d / "samples").iterdir())[0].unlink(), "1 prompt(s) with fewer images than the others"),
    (lambda d: [p.unlink() for p in sorted((d / "samples").iterdir())[:2]], "1 prompt(s) without images"),
    (lambda d: shutil.copy(next((d / "samples").iterdir()), d / "samples" / "a unicorn_000099.png"),
     "1 file(s) that match no prompt"),                                                 # an extra image
    (lambda d: next((d / "samples").iterdir()).write_bytes(b"not an image"), "no readable image"),
    (lambda d: [p.unlink() for p in d.rglob("*.png")], "no image at all"),                 # an empty folder
])
def test_matching_problems_are_one_line_and_nothing_is_imported(generated, tmp_path, capsys, damage, needle):
    folder = write_t2i_compbench(generated, tmp_path / "t2i")
    damage(folder)
    out = tmp_path / "scored"
    capsys.readouterr()
    assert _score(folder, out) == 2
    err = _one_line_error(capsys)
    assert needle in err and str(folder) in err and "nothing was imported" in err
    assert not out.exists()


def test_a_manifest_line_for_a_prompt_not_in_the_suite(generated, tmp_path, capsys):
    manifest = write_manifest(generated, tmp_path / "m")
    manifest.write_text(manifest.read_text() + json.dumps({"prompt": "a purple giraffe", "image": "img0.png"}) + "\n")
    assert _score(manifest, tmp_path / "scored") == 2
    assert "'a purple giraffe' is no prompt of builtin/color" in _one_line_error(capsys)


def test_reimporting_recomputes_nothing_and_a_changed_file_is_a_new_sample(generated, tmp_path):
    from eclipse_bench.bench.app.importer import Importer
    from eclipse_bench.bench.app.options import ScoreOptions

    folder = write_t2i_compbench(generated, tmp_path / "t2i")
    opts = dict(images=folder, suite="builtin/color", limit=3, scorers="tiny", out=tmp_path / "scored", progress=False)
    Importer(ScoreOptions(**opts)).run()
    again = Importer(ScoreOptions(**opts))
    again.run()
    assert again.pipe.model_calls["evidence"] == 0 and again.pipe.providers == {}
    victim = sorted((folder / "samples").iterdir())[0]
    other = sorted((folder / "samples").iterdir())[-1]
    shutil.copy(other, victim)                     # the same name now holds other bytes
    changed = Importer(ScoreOptions(**opts))
    changed.run()
    assert changed.pipe.model_calls["evidence"] == 1    # one provider call for the one new image
    assert len(list(read_jsonl(tmp_path / "scored" / "images.jsonl"))) == 7


def test_allow_missing_is_recorded_in_results_report_and_gate(generated, tmp_path, capsys):
    folder = write_t2i_compbench(generated, tmp_path / "t2i")
    for p in sorted((folder / "samples").iterdir())[:2]:   # both images of the first prompt
        p.unlink()
    out = tmp_path / "partial"
    assert _score(folder, out, "--allow-missing") == 0
    results = json.loads((out / "results.json").read_text())
    assert results["coverage"] == {"n_prompts": 3, "missing_prompts": ["color-000"]} and results["n_prompts"] == 2
    assert 'id="coverage-banner"' in (out / "report.html").read_text()
    full = tmp_path / "full"
    assert _score(write_t2i_compbench(generated, tmp_path / "t2i-full"), full) == 0
    capsys.readouterr()
    assert main(["compare", str(full), str(out), "--html", str(tmp_path / "c.html")]) == 1
    text = capsys.readouterr().out
    assert "COVERAGE REGRESSION" in text and "color-000" in text
    assert "seeds not compared" in text   # both imported without seeds: said, not silently skipped


def test_a_leaderboard_mixes_imported_and_generated_runs(generated, tmp_path):
    from eclipse_bench.reports.html import leaderboard_data

    assert _score(write_t2i_compbench(generated, tmp_path / "my-model"), tmp_path / "imported") == 0
    rows = {r["name"]: r for r in leaderboard_data([generated, tmp_path / "imported"])["rows"] if not r["published"]}
    assert set(rows) == {"tiny-eclipse-karlo", "my-model"}
    assert rows["my-model"]["cells"][0]["score"] == rows["tiny-eclipse-karlo"]["cells"][0]["score"]


# -- diffusers pipelines as pairings ---------------------------------------------------------------------------

def test_a_diffusers_pipeline_directory_is_a_pairing(tmp_path, capsys):
    from eclipse_bench.bench.core.tiny import materialise

    twin = materialise("stable-diffusion")
    args = ["run", "--prior", f"diffusers:{twin}", "--suite", "builtin/color", "--limit", "2", "--images-per-prompt",
            "1", "--set", "steps=2", "--set", "height=64", "--set", "width=64", "--set", "guidance=7.5",
            "--scorers", "tiny", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    named = tmp_path / "named"
    assert main(["run", "--prior", "tiny-stable-diffusion", "--suite", "builtin/color", "--limit", "2",
                 "--images-per-prompt", "1", "--no-progress", "--out", str(named)]) == 0
    # the same pipeline and settings: the same pixels, whichever name it ran under
    by_prompt = lambda run: {s["prompt_id"]: (run / s["image"]).read_bytes() for s in _samples(run)}  # noqa: E731
    assert by_prompt(tmp_path / "run") == by_prompt(named)
    capsys.readouterr()
    assert main(["list", "priors"]) == 0
    listed = capsys.readouterr().out
    assert all(n in listed for n in ("sd-1.4", "sd-2.1", "wuerstchen", "kandinsky-2.1", "tiny-stable-diffusion-xl"))


def test_prior_eval_of_a_pipeline_without_a_prior_is_one_line(tmp_path, capsys):
    assert main(["prior-eval", "--prior", "tiny-stable-diffusion", "--suite", "builtin/color",
                 "--out", str(tmp_path / "pe")]) == 2
    err = capsys.readouterr().err.strip()
    assert "without a separate prior" in err and "\n" not in err


def test_a_setting_the_pipeline_does_not_take_is_refused(tmp_path, capsys):
    assert main(["run", "--prior", "tiny-stable-diffusion", "--suite", "builtin/color", "--limit", "1",
                 "--set", "decoder_steps=3", "--no-progress", "--out", str(tmp_path / "x")]) == 2
    assert "not a setting of pairing" in capsys.readouterr().err


def test_an_image_with_an_exif_orientation_is_scored_upright(generated, tmp_path, capsys):
    """An imported file whose EXIF orientation says "turn me" (a camera's or an editor's output) is scored as it is
    displayed: a PNG holding a generated image turned a quarter, tagged orientation 6 (display turned back, PIL's
    exif_transpose), scores exactly as the upright original, and the same pixels without the tag score as stored.
    The orientation is in the record, the evidence keys (rescore keeps them) and the manifest, and said on stderr."""
    from PIL import Image

    folder = tmp_path / "turned"
    manifest = write_manifest(generated, folder)
    first = json.loads(manifest.read_text().splitlines()[0])
    with Image.open(folder / first["image"]) as im:
        upright = im.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / first["image"], exif=exif)
    assert _score(manifest, tmp_path / "scored") == 0
    assert "1 image(s) with an EXIF orientation (img0.png) are scored upright" in capsys.readouterr().err
    key = (first["prompt_id"], first["n"])
    assert _scores(tmp_path / "scored") == _scores(generated)
    assert [r.get("exif_orientation") for r in read_jsonl(tmp_path / "scored" / "images.jsonl")].count(6) == 1
    assert json.loads((tmp_path / "scored" / "manifest.json").read_text())["source"]["exif_upright"] == 1
    before = {s["key"]: s["evidence_keys"] for s in _samples(tmp_path / "scored")}
    assert main(["rescore", str(tmp_path / "scored")]) == 0
    assert {s["key"]: s["evidence_keys"] for s in _samples(tmp_path / "scored")} == before
    assert _scores(tmp_path / "scored") == _scores(generated)

    # the same turned pixels without the tag: scored as stored, which the twins see
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / first["image"])
    assert _score(manifest, tmp_path / "as-stored") == 0
    assert "EXIF orientation" not in capsys.readouterr().err
    assert _scores(tmp_path / "as-stored")[key] != _scores(generated)[key]
    assert all("exif_orientation" not in r for r in read_jsonl(tmp_path / "as-stored" / "images.jsonl"))
