"""A finished run is sealed (issue #26): readers never write into it, a killed writer never strands it, the gate
refuses what is not a number, inputs are strict, and every message's advice is a command that works. One test per
case found by the hostile-user review; each failed on the code before."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import faults
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.state import seal
from eclipse_bench.bench.core.store import read_jsonl

RUN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "3", "--images-per-prompt", "2",
       "--batch-size", "2", "--no-progress"]


@pytest.fixture(scope="module")
def finished(session_tmp):
    out = session_tmp / "sealed-base"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def _files(run: Path) -> dict:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()
            and not p.name.startswith(".lock")}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("eclipse-bench: error: ") and "Traceback" not in err, err
    return err


# -- 1. readers never write into a run they read ---------------------------------------------------------------

READER_OUTPUTS = [
    (lambda r, t: ["report", str(r), "--out", str(r / "results.json")]),
    (lambda r, t: ["report", str(r), "--out", str(r / "samples.jsonl")]),
    (lambda r, t: ["report", str(r), "--out", str(r / "manifest.json")]),
    (lambda r, t: ["report", str(t / "other"), str(r), "--out", str(r / "report.html")]),   # a leaderboard
    (lambda r, t: ["export", str(r), "--format", "json", "--out", str(r / "samples.jsonl")]),
    (lambda r, t: ["compare", str(r), str(t / "other"), "--html", str(r / "results.json")]),
    (lambda r, t: ["report", str(r), "--out", str(t / "link-into-run")]),                     # through a link
]


@pytest.mark.parametrize("argv", READER_OUTPUTS)
def test_a_reader_refuses_an_output_inside_a_run_it_reads(run, tmp_path, capsys, argv):
    shutil.copytree(run, tmp_path / "other")
    os.symlink(run / "results.json", tmp_path / "link-into-run")
    before = _files(run)
    capsys.readouterr()
    assert main(argv(run, tmp_path)) == 2
    assert "is inside the run directory" in _one_line(capsys)
    assert _files(run) == before and main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0


def test_compare_writes_its_page_beside_the_candidate_never_into_it(run, tmp_path, capsys):
    before = _files(run)
    assert main(["compare", str(run), str(run)]) == 0
    assert _files(run) == before and (run.parent / "run.compare.html").is_file()


# -- 2. a killed rescore never strands a run -----------------------------------------------------------------

def test_a_rescore_killed_while_it_replaces_the_manifest_strands_nothing(run, tmp_path, capsys):
    """score IMGS --out RUN, IMGS deleted, rescore SIGKILLed in the middle of its commit: every reader works (the
    commit was decided) and rescore runs again, from what RUN holds."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rows = list(read_jsonl(run / "samples.jsonl"))
    for r in rows:
        shutil.copy(run / r["image"], imgs / f"{r['prompt_id']}-{r['n']}.png")
    (imgs / "m.jsonl").write_text("".join(json.dumps({"prompt_id": r["prompt_id"], "n": r["n"],
                                                      "image": f"{r['prompt_id']}-{r['n']}.png"}) + "\n"
                                          for r in rows))
    scored = tmp_path / "scored"
    assert main(["score", str(imgs / "m.jsonl"), "--suite", "builtin/color", "--limit", "3", "--scorers", "tiny",
                 "--out", str(scored), "--no-progress"]) == 0
    shutil.rmtree(imgs)
    proc = subprocess.run(faults.command("after:manifest.json:1", ["rescore", str(scored)]), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert (scored / "commit.json").is_file()   # killed between the commit point and its end
    for argv in (["report", str(scored), "--out", str(tmp_path / "r.html")],
                 ["export", str(scored), "--format", "csv", "--out", str(tmp_path / "e.csv")],
                 ["compare", str(scored), str(scored), "--html", str(tmp_path / "c.html")],
                 ["rescore", str(scored)]):
        assert main(argv) == 0, argv
    assert not (scored / "commit.json").exists()


def test_an_unfinished_run_with_all_its_evidence_is_finished_by_rescore(run, tmp_path, capsys):
    """A run killed after its evidence, before its commit (a first run: nothing was ever committed): rescore
    finishes it from the plan, the images and the evidence, with no model."""
    fresh = tmp_path / "fresh"
    proc = subprocess.run(faults.command("before:samples.next.jsonl:1", [*RUN, "--out", str(fresh)]),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9 and not (fresh / "finished.json").exists()
    assert main(["report", str(fresh), "--out", str(tmp_path / "r.html")]) == 2
    assert "rescore" in _one_line(capsys)
    assert main(["rescore", str(fresh)]) == 0
    assert (fresh / "samples.jsonl").read_bytes() == (run / "samples.jsonl").read_bytes()


# -- 3. scores are numbers on the metric's scale ------------------------------------------------------------------

def _edit_samples(run, fn, reseal=True):
    rows = (run / "samples.jsonl").read_text().splitlines()
    rows = fn(rows)
    (run / "samples.jsonl").write_text("\n".join(rows) + "\n")
    if reseal:   # as a run that really produced these numbers would have committed them
        seal(run, "", len(rows))


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_score_is_refused_naming_file_and_line(run, tmp_path, capsys, bad):
    _edit_samples(run, lambda rows: [rows[0].replace('"score": ', f'"score": {bad}, "was": ', 1), *rows[1:]])
    for argv in (["compare", str(run), str(run), "--html", str(tmp_path / "c.html")],
                 ["report", str(run), "--out", str(tmp_path / "r.html")],
                 ["export", str(run), "--format", "csv", "--out", str(tmp_path / "e.csv")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = _one_line(capsys)
        assert "samples.jsonl:1" in err and "nan" not in err.lower().replace("finite", "")


def test_a_score_off_the_metric_scale_is_refused(run, tmp_path, capsys):
    _edit_samples(run, lambda rows: [json.dumps({**json.loads(rows[0]), "score": 7.5}), *rows[1:]])
    for argv in (["compare", str(run), str(run), "--html", str(tmp_path / "c.html")],
                 ["report", str(run), "--out", str(tmp_path / "r.html")]):
        capsys.readouterr()
        assert main(argv) == 2
        assert "samples.jsonl:1: score 7.5 is outside metric blip-vqa's range [0, 1]" in _one_line(capsys)


def test_junit_is_a_failing_report_when_the_comparison_cannot_be_made(tmp_path, capsys):
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope"), "--format", "junit"]) == 2
    out = capsys.readouterr().out
    root = ET.parse(io.StringIO(out)).getroot()
    assert root.get("errors") == "1" and root.find(".//error") is not None
    import xmlschema

    xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd")).validate(io.StringIO(out))


# -- 4. the last finished state is that state ----------------------------------------------------------------

@pytest.mark.parametrize("point, shown", [("after:samples.next.jsonl:1", "old"), ("after:commit.json:1", "new")])
def test_a_rerun_killed_in_its_commit_shows_one_state_whole(run, tmp_path, capsys, point, shown):
    """A same-size rerun (another seed) killed anywhere in its commit: export shows the old state or the new one,
    whole, never the new samples beside the old results."""
    old = (run / "samples.jsonl").read_bytes()
    proc = subprocess.run(faults.command(point, [*RUN, "--seed", "7", "--out", str(run)]), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert main(["export", str(run), "--format", "json", "--out", str(tmp_path / "e.json")]) == 0
    exported = [r["seed"] for r in json.loads((tmp_path / "e.json").read_text())]
    assert set(exported) == ({42, 43} if shown == "old" else {7, 8})
    assert main([*RUN, "--seed", "7", "--out", str(run)]) == 0   # the rerun then finishes it
    assert (run / "samples.jsonl").read_bytes() != old


def test_an_extending_rerun_killed_before_its_commit_leaves_the_old_state_readable(run, tmp_path, capsys):
    bigger = [*RUN[:6], "6", *RUN[7:]]
    proc = subprocess.run(faults.command("after:samples.next.jsonl:1", [*bigger, "--out", str(run)]),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9
    for argv in (["report", str(run), "--out", str(tmp_path / "r.html")],
                 ["export", str(run), "--format", "csv", "--out", str(tmp_path / "e.csv")]):
        assert main(argv) == 0, argv
    assert "a rerun of this directory has not finished" in (tmp_path / "r.html").read_text()
    assert len((tmp_path / "e.csv").read_text().splitlines()) == 1 + 6


# -- 5. the marker covers what it vouches for ---------------------------------------------------------------------

def test_a_leaderboard_holds_each_run_to_what_a_report_of_it_requires(run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    (other / "samples.jsonl").unlink()
    assert main(["report", str(run), str(other), "--out", str(tmp_path / "board.html")]) == 2
    assert "samples.jsonl" in _one_line(capsys)
    shutil.rmtree(other)
    shutil.copytree(run, other)
    shutil.rmtree(other / "images")
    assert main(["report", str(run), str(other), "--out", str(tmp_path / "board.html")]) == 2
    assert "missing or damaged" in _one_line(capsys)


def test_a_marker_of_a_newer_schema_is_refused_by_every_reader(run, tmp_path, capsys):
    marker = json.loads((run / "finished.json").read_text())
    (run / "finished.json").write_text(json.dumps({**marker, "schema_version": 99}))
    for argv in (["compare", str(run), str(run), "--html", str(tmp_path / "c.html")],
                 ["report", str(run), "--out", str(tmp_path / "r.html")]):
        capsys.readouterr()
        assert main(argv) == 2
        assert "newer eclipse-bench" in _one_line(capsys)


# -- 6. strict inputs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, needle", [
    ('{"prompt": "a red car", "catgory": "color"}', "unknown key 'catgory' (did you mean 'category'?)"),
    ('{"prompt": "a red car", "spec": {"objects": [{"noun": "car"}], "exlude": []}}',
     "unknown key 'exlude' (did you mean 'exclude'?)"),
    ('{"prompt": "a red car", "spec": {"objects": [{"noun": "car", "atributes": ["red"]}]}}',
     "unknown key 'atributes' (did you mean 'attributes'?)"),
])
def test_unknown_keys_in_a_user_suite_are_errors_with_a_suggestion(tmp_path, capsys, line, needle):
    (tmp_path / "s.jsonl").write_text(line + "\n")
    for argv in (["suites", "validate", str(tmp_path / "s.jsonl")],
                 [*RUN[:3], "--suite", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "o")]):
        capsys.readouterr()
        assert main(argv) == 2
        assert needle in _one_line(capsys)


def _t2i_folder(run, tmp) -> Path:
    """The run's images as T2I-CompBench's sampling script names them: samples/{prompt}_{index:06d}.png."""
    folder = tmp / "t2i" / "samples"
    folder.mkdir(parents=True)
    rows = sorted(read_jsonl(run / "samples.jsonl"), key=lambda r: (r["prompt_id"], r["n"]))
    for k, r in enumerate(rows):
        shutil.copy(run / r["image"], folder / f"{r['prompt']}_{k:06d}.png")
    return folder.parent


@pytest.mark.parametrize("extra", ["samples/old", "beside.png"])
def test_a_layout_refuses_what_it_would_pass_over(run, tmp_path, capsys, extra):
    root = _t2i_folder(run, tmp_path)
    if extra.endswith("old"):
        (root / extra).mkdir()
        shutil.copy(next((root / "samples").iterdir()), root / extra / "x.png")
    else:
        shutil.copy(next((root / "samples").iterdir()), root / extra)
    argv = ["score", str(root), "--suite", "builtin/color", "--limit", "3", "--scorers", "tiny", "--no-progress",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "the t2i-compbench layout does not use" in _one_line(capsys) and not (tmp_path / "o").exists()
    assert main([*argv, "--allow-extra"]) == 0
    assert "left out" in capsys.readouterr().err


def _manifest(tmp, lines) -> Path:
    (tmp / "m.jsonl").write_bytes(b"".join((ln if isinstance(ln, bytes) else json.dumps(ln).encode()) + b"\n"
                                           for ln in lines))
    return tmp / "m.jsonl"


def test_images_per_prompt_is_what_was_scored(run, tmp_path):
    rows = [r for r in read_jsonl(run / "samples.jsonl")]
    for r in rows:
        shutil.copy(run / r["image"], tmp_path / f"{r['prompt_id']}-{r['n']}.png")
    m = _manifest(tmp_path, [{"prompt_id": r["prompt_id"], "n": 0 if r["n"] == 0 else 5,
                              "image": f"{r['prompt_id']}-{r['n']}.png"} for r in rows])
    assert main(["score", str(m), "--suite", "builtin/color", "--limit", "3", "--scorers", "tiny", "--no-progress",
                 "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["settings"]["images_per_prompt"] == 2


def test_a_manifest_line_whose_id_and_prompt_disagree_is_refused(run, tmp_path, capsys):
    rows = list(read_jsonl(run / "samples.jsonl"))
    shutil.copy(run / rows[0]["image"], tmp_path / "a.png")
    m = _manifest(tmp_path, [{"prompt_id": rows[0]["prompt_id"], "prompt": "a blue bench", "image": "a.png"}])
    assert main(["score", str(m), "--suite", "builtin/color", "--scorers", "tiny", "--out", str(tmp_path / "o")]) == 2
    assert "m.jsonl:1: prompt_id" in _one_line(capsys)


def test_a_geneval2_file_naming_one_prompt_twice_is_refused(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "g.json").write_text('{"a red car": "a.png", "a red car": "a.png"}')
    assert main(["score", str(tmp_path / "g.json"), "--suite", "builtin/color", "--scorers", "tiny",
                 "--out", str(tmp_path / "o")]) == 2
    assert "names the prompt 'a red car' twice" in _one_line(capsys)


def test_invalid_utf8_in_an_import_manifest_is_exit_2_naming_the_line(tmp_path, capsys):
    m = _manifest(tmp_path, [{"prompt_id": "color-000", "image": "a.png"}, b'{"prompt": "\xff"}'])
    assert main(["score", str(m), "--suite", "builtin/color", "--scorers", "tiny", "--out", str(tmp_path / "o")]) == 2
    assert "m.jsonl:2: not UTF-8" in _one_line(capsys)


# -- 7. names never escape the runs tree ---------------------------------------------------------------------------

def test_a_name_of_dots_or_slashes_is_refused(run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = tmp_path / "m.jsonl"
    m.write_text("")
    for name in ("..", ".", "a/b"):
        assert main(["score", str(m), "--suite", "builtin/color", "--name", name]) == 2
        assert "--name" in _one_line(capsys)
    (tmp_path / "p.yaml").write_text("pairings:\n  - name: ..\n    base: tiny-karlo\n")
    assert main(["run", "--pairings", str(tmp_path / "p.yaml"), "--prior", "..", "--suite", "builtin/color"]) == 2
    assert "name '..'" in _one_line(capsys) and not (tmp_path / "builtin__color").exists()


# -- 8 and 11. messages that point the right way ------------------------------------------------------------------

def test_a_manifest_that_is_a_directory_is_refused_before_any_work(run, tmp_path, capsys):
    (run / "manifest.json").unlink()
    (run / "manifest.json").mkdir()
    shutil.rmtree(run / "images")
    assert main([*RUN, "--out", str(run)]) == 2
    assert "manifest.json is not a file" in _one_line(capsys) and not (run / "images").exists()


def test_score_with_limit_takes_its_prompts_and_says_the_others_are_left_out(run, tmp_path, capsys):
    root = _t2i_folder(run, tmp_path)
    assert main(["score", str(root), "--suite", "builtin/color", "--limit", "2", "--scorers", "tiny", "--no-progress",
                 "--out", str(tmp_path / "o")]) == 0
    assert "image(s) of the others are left out" in capsys.readouterr().err


def test_compare_of_a_missing_directory_names_it(run, tmp_path, capsys):
    assert main(["compare", str(run), str(tmp_path / "nope")]) == 2
    err = _one_line(capsys)
    assert "nope: no such run directory" in err and "--html" not in err


def test_report_of_a_missing_directory_says_so(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")]) == 2
    err = _one_line(capsys)
    assert "no such run directory" in err and "unfinished" not in err


def test_the_disk_check_names_sizes_in_readable_units(tmp_path, capsys, monkeypatch):
    import shutil as sh

    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sh, "disk_usage", lambda p: usage(10 ** 9, 10 ** 9, 100))
    assert main([*RUN, "--out", str(tmp_path / "o")]) == 2
    err = _one_line(capsys)
    assert "100 bytes free" in err and "1.1 MiB" in err and "0.0 GiB" not in err


def test_offline_score_with_real_scorers_points_to_the_twins(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    m = _manifest(tmp_path, [{"prompt_id": f"color-00{i}", "image": "a.png"} for i in range(2)])
    assert main(["score", str(m), "--suite", "builtin/color", "--limit", "2", "--limit-mode", "first",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]   # after the layout's line
    assert "--scorers tiny" in err and "nothing was imported" in err and "generated" not in err


def test_offline_prior_eval_names_each_missing_checkpoint_once(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    assert main(["prior-eval", "--prior", "eclipse-karlo", "--suite", "builtin/color", "--out", str(tmp_path / "p")]) == 2
    err = _one_line(capsys)
    listed = err.split("; pre-download")[0]
    assert listed.count("kakaobrain/karlo-v1-alpha") == 1 and "2 checkpoint(s) missing" in listed


# -- 9. GenEval's own layout ----------------------------------------------------------------------------------------

def test_geneval_layout_as_genevals_generation_script_writes_it(tmp_path, official_data, capsys):
    """generation/diffusers_generate.py: outpath = f"{index:0>5}", metadata.jsonl holds the line (json.dump, no
    newline), samples/f"{sample_count:05}.png", grid.png beside them."""
    from eclipse_bench.prompts.load import load_suite

    lines = (official_data / "geneval" / "evaluation_metadata.jsonl").read_text().splitlines()
    suite = load_suite("geneval").limit(2, "first")
    for item in suite.items:
        index = int(item.id.rsplit("-", 1)[1])
        folder = tmp_path / "out" / f"{index:0>5}"
        (folder / "samples").mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(lines[index])
        for n in range(2):
            Image.new("RGB", (32, 32), (40 * n, 80, 120)).save(folder / "samples" / f"{n:05}.png")
        Image.new("RGB", (64, 32)).save(folder / "grid.png")
    assert main(["score", str(tmp_path / "out"), "--suite", "geneval", "--limit", "2", "--limit-mode", "first",
                 "--scorers", "tiny", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "results.json").read_text())["n_images"] + \
        json.loads((tmp_path / "o" / "results.json").read_text())["n_unscorable"] == 4


# -- 10. a rescore variant never changes what a plain read means ----------------------------------------------------

def test_rescore_with_the_reference_rules_writes_beside_the_run(run, tmp_path, capsys):
    before = (run / "results.json").read_bytes()
    assert main(["rescore", str(run), "--reference-compat"]) == 0
    assert (run / "results.compat.json").is_file() and (run / "results.json").read_bytes() == before
    assert main(["rescore", str(run)]) == 0
    assert json.loads((run / "results.json").read_text())["reference_compat"] is False
    assert main(["compare", str(run), str(run), "--html", str(tmp_path / "c.html")]) == 0
    assert main(["report", str(run), "--reference-compat", "--out", str(tmp_path / "r.html")]) == 0
    assert json.loads((run / "results.compat.json").read_text())["reference_compat"] is True
    fresh = tmp_path / "fresh"
    shutil.copytree(run, fresh)
    for p in fresh.glob("*.compat.*"):
        p.unlink()
    (fresh / "finished.compat.json").unlink(missing_ok=True)
    assert main(["report", str(fresh), "--reference-compat", "--out", str(tmp_path / "r2.html")]) == 2
    assert f"`eclipse-bench rescore {fresh} --reference-compat`" in _one_line(capsys)
