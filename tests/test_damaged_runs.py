"""Damaged, unfinished and odd run directories and inputs: never a silent wrong number, never a rewrite that loses
data. One table row per case (issue #19): each asserts the exit code, one line on stderr naming the input (and the
fix), and that nothing already computed was lost or rewritten. The first ten exited 0 with a wrong or incomplete
result before."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import faults
import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl

RUN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "3", "--images-per-prompt", "2",
       "--batch-size", "2", "--no-progress"]


@pytest.fixture(scope="module")
def finished(session_tmp):
    out = session_tmp / "damaged-base"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".lock")}


def _first_png(run):
    return run / json.loads((run / "samples.jsonl").read_text().splitlines()[0])["image"]


def _lines(path):
    return path.read_text().splitlines(keepends=True)


def _rewrite_line(path, i, text):
    lines = _lines(path)
    lines[i] = text
    path.write_text("".join(lines))


def _json_edit(path, fn):
    doc = json.loads(path.read_text())
    doc = fn(doc)
    path.write_text(json.dumps(doc))


def _suite(tmp, text, name="s.jsonl", raw=None):
    p = tmp / name
    p.write_bytes(raw if raw is not None else text.encode())
    return p


def _sample_edit(run, fn):
    path = run / "samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    fn(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _report(run, tmp):
    return ["report", str(run), "--out", str(tmp / "r.html")]


def _rescore(run, tmp):
    return ["rescore", str(run)]


def _compare(run, tmp):
    return ["compare", str(run), str(run), "--html", str(tmp / "c.html")]


def _export(run, tmp):
    return ["export", str(run), "--format", "csv", "--out", str(tmp / "e.csv")]


def _torn_samples(run, tmp):
    p = run / "samples.jsonl"
    p.write_bytes(p.read_bytes()[:-40])


def _fifo(tmp):
    p = tmp / "fifo"
    os.mkfifo(p)
    return p


# (prepare(run, tmp) -> argv, exit code, text the one line names)
CASES = {
    # -- exited 0 with a wrong or incomplete result
    "report: samples.jsonl deleted": (lambda r, t: ((r / "samples.jsonl").unlink(), _report(r, t))[1], 2,
                                      "samples.jsonl is missing"),
    "report: a PNG deleted": (lambda r, t: (_first_png(r).unlink(), _report(r, t))[1], 2, "(deleted)"),
    "report: a PNG truncated": (lambda r, t: (_first_png(r).write_bytes(b"\x89PNG"), _report(r, t))[1], 2,
                                "damaged"),
    "report: images/ is a file": (lambda r, t: (shutil.rmtree(r / "images"), (r / "images").write_text("x"),
                                                _report(r, t))[-1], 2, "6 of 6 images are missing or damaged"),
    "rescore: a torn tail in evidence/vqa.jsonl": (
        lambda r, t: ((r / "evidence" / "vqa.jsonl").write_bytes((r / "evidence" / "vqa.jsonl").read_bytes()[:-30]),
                      _rescore(r, t))[1], 2, "lacks the records of 1 of 6 images"),
    "export: samples.jsonl deleted": (lambda r, t: ((r / "samples.jsonl").unlink(), _export(r, t))[1], 2,
                                      "samples.jsonl is missing"),
    "rescore: manifest.json is {}": (lambda r, t: ((r / "manifest.json").write_text("{}"), _rescore(r, t))[1], 2,
                                     "manifest.json changed after the run finished"),
    # -- data errors that were internal errors (exit 3)
    "run: a --pairings file that is not UTF-8": (
        lambda r, t: ["run", "--pairings", str(_suite(t, "", "p.yaml", b"pairings:\n  - name: \xff\xfe\n")),
                      "--prior", "x", "--suite", "builtin/color"], 2, "not UTF-8"),
    "run: a user suite line nested too deeply": (
        lambda r, t: ["run", "--prior", "tiny-karlo", "--suite", str(_suite(t, "[" * 100000 + "]" * 100000 + "\n")),
                      "--out", str(t / "o")], 2, "nested too deeply"),
    "rescore: an evidence record of the wrong shape": (
        lambda r, t: (_rewrite_line(r / "evidence" / "vqa.jsonl", 0,
                                    json.dumps({**json.loads(_lines(r / "evidence" / "vqa.jsonl")[0]),
                                                "evidence": {"answers": 1}}) + "\n"), _rescore(r, t))[1], 2,
        "vqa.jsonl:1: not a vqa evidence record"),
    "run (resume): an images.jsonl record without key": (
        lambda r, t: (_rewrite_line(r / "images.jsonl", 0, json.dumps(
            {k: v for k, v in json.loads(_lines(r / "images.jsonl")[0]).items() if k != "key"}) + "\n"),
                      [*RUN, "--out", str(r)])[1], 2, "images.jsonl:1: key is missing"),
    "prior-eval: a seed beyond 64 bits": (
        lambda r, t: ["prior-eval", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color",
                      "--seed", "99999999999999999999999", "--out", str(t / "pe")], 2, "--seed 99999999999999999999999"),
    # -- no bound
    "run: --images-per-prompt 1000000000": (lambda r, t: [*RUN, "--images-per-prompt", "1000000000", "--out",
                                                          str(t / "o")], 2, "at most 1000 images per prompt"),
    # -- a raw traceback and exit 1
    "run: --out with a byte that is not UTF-8": (
        lambda r, t: [*RUN, "--out", os.fsdecode(bytes(t) + b"/out-\xff")], 2, "is not UTF-8 text"),
    # -- misleading messages
    "run: --decoder-checkpoint DIR that is no checkpoint": (
        lambda r, t: ((t / "ckpt").mkdir(), [*RUN, "--decoder-checkpoint", str(t / "ckpt"), "--out", str(t / "o")])[1],
        2, "lacks text_encoder/config.json"),
    "run: --prior-checkpoint FILE": (
        lambda r, t: ((t / "f.txt").write_text("x"), [*RUN, "--prior-checkpoint", str(t / "f.txt"),
                                                      "--out", str(t / "o")])[1], 2, "is a file, not a checkpoint"),
    "report: --out RUN_DIR (a directory)": (lambda r, t: ["report", str(r), "--out", str(r)], 2, "is a directory"),
    "compare: --html DIR": (lambda r, t: ["compare", str(r), str(r), "--html", str(t)], 2, "is a directory"),
    "run: an image path that is a directory": (
        lambda r, t: (_first_png(r).unlink(), _first_png(r).mkdir(), [*RUN, "--out", str(r)])[2], 2,
        "is a directory"),
    "compare: --format junit --html on a path it cannot write": (
        lambda r, t: ["compare", str(r), str(r), "--format", "junit", "--html", "/proc/compare.html"], 2,
        "/proc/compare.html"),
    # -- smaller
    "suites validate: a directory": (lambda r, t: ["suites", "validate", str(t)], 2, "is a directory"),
    "run: a FIFO as the suite": (lambda r, t: [*RUN[:3], "--suite", str(_fifo(t)), "--out", str(t / "o")], 2,
                                 "not a regular file"),
    "run: /dev/zero as the suite": (lambda r, t: [*RUN[:3], "--suite", "/dev/zero", "--out", str(t / "o")], 2,
                                    "not a regular file"),
    "prior-eval: --seed -1": (lambda r, t: ["prior-eval", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color",
                                            "--seed", "-1", "--out", str(t / "pe")], 2, "--seed -1"),
    "suites validate: a misspelt category": (
        lambda r, t: ["suites", "validate", str(_suite(t, '{"prompt": "a red car", "category": "colour"}\n'))], 2,
        "did you mean 'color'"),
    "report: --out into a missing folder": (lambda r, t: ["report", str(r), "--out", str(t / "no" / "r.html")], 2,
                                            "does not exist"),
    "compare: --html into a missing folder": (lambda r, t: ["compare", str(r), str(r), "--html",
                                                            str(t / "no" / "c.html")], 2, "does not exist"),
    "export: --out into a missing folder": (lambda r, t: ["export", str(r), "--out", str(t / "no" / "e.csv")], 2,
                                            "does not exist"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_or_odd_input_is_one_line_and_loses_nothing(finished, tmp_path, capsys, case):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    prepare, code, needle = CASES[case]
    argv = prepare(run, tmp_path)
    before = _snapshot(run)
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("eclipse-bench: error: ") and needle in err, err
    assert "Traceback" not in captured.err
    assert _snapshot(run) == before   # nothing already computed lost, nothing rewritten
    if "junit" in case:
        assert captured.out == ""     # no verdict printed before the error


# A committed file damaged after the run finished: every reader names it and the repair, and the repair works.
REPAIRABLE = {   # damage -> the file it damages
    "samples.jsonl with a torn tail": (lambda r: (r / "samples.jsonl").write_bytes((r / "samples.jsonl").read_bytes()[:-40]),
                                       "samples.jsonl"),
    "a garbled line in the middle of samples.jsonl": (lambda r: _rewrite_line(r / "samples.jsonl", 2, '{"key": \n'),
                                                      "samples.jsonl"),
    "a sample without score": (lambda r: _sample_edit(r, lambda rows: rows[1].pop("score")), "samples.jsonl"),
    "a sample without key": (lambda r: _sample_edit(r, lambda rows: rows[1].pop("key")), "samples.jsonl"),
    "a spec that is a string": (lambda r: _sample_edit(r, lambda rows: rows[0].update(spec="a red car")),
                                "samples.jsonl"),
    "a score edited by hand": (lambda r: _sample_edit(r, lambda rows: rows[0].update(score=0.99)), "samples.jsonl"),
    "results.json is []": (lambda r: (r / "results.json").write_text("[]"), "results.json"),
    "a score that is a string": (lambda r: _json_edit(r / "results.json", lambda d: {**d, "score": "high"}),
                                 "results.json"),
    "report.html deleted": (lambda r: (r / "report.html").unlink(), "report.html"),
}


@pytest.mark.parametrize("case", list(REPAIRABLE))
def test_a_damaged_committed_file_is_named_and_the_advised_rescore_repairs_it(finished, tmp_path, capsys, case):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    damage, name = REPAIRABLE[case]
    damage(run)
    for argv in (_report(run, tmp_path), _compare(run, tmp_path), _export(run, tmp_path)):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"{name} " in err and f"`eclipse-bench rescore {run}`" in err, err
    assert main(["rescore", str(run)]) == 0   # the advice: rebuilds the state from the images and evidence
    for argv in (_report(run, tmp_path), _compare(run, tmp_path), _export(run, tmp_path)):
        assert main(argv) == 0, argv
    assert (run / "samples.jsonl").read_bytes() == (finished / "samples.jsonl").read_bytes()
    same = lambda d: {k: v for k, v in json.loads((d / "results.json").read_text()).items() if k != "timings"}
    assert same(run) == same(finished)


def test_a_damaged_manifest_is_named_and_rerunning_the_command_repairs_it(finished, tmp_path, capsys):
    """The manifest is what rescore reads: the advice is to move it aside and rerun the command, which reuses every
    image and all evidence."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "manifest.json").write_text("{}")
    for argv in (_report(run, tmp_path), _rescore(run, tmp_path)):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "manifest.json changed after the run finished" in err and "mv " in err and "rerun" in err, err
    (run / "manifest.json").rename(run / "manifest.damaged.json")
    images = _snapshot(run / "images")
    assert main([*RUN, "--out", str(run)]) == 0
    assert _snapshot(run / "images") == images and main(_report(run, tmp_path)) == 0
    assert (run / "samples.jsonl").read_bytes() == (finished / "samples.jsonl").read_bytes()


def test_a_rerun_makes_a_truncated_png_again_and_scores_its_new_bytes(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    png = _first_png(run)
    good = png.read_bytes()
    png.write_bytes(good[:100])
    assert main([*RUN, "--out", str(run)]) == 0
    assert png.name in capsys.readouterr().err
    from PIL import Image

    assert Image.open(png).size == (64, 64)
    assert png.read_bytes() == good   # made again in its batch: the very bytes it had (#27)
    sha = hashlib.sha256(good).hexdigest()
    recs = [r for r in read_jsonl(run / "images.jsonl") if png.name in r["image"]]
    assert len(recs) == 2 and all(r["sha256"] == sha for r in recs)   # recorded again when it was made again


def test_report_with_allow_incomplete_states_what_is_missing(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    png = _first_png(run)
    png.unlink()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html"), "--allow-incomplete"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert 'id="incomplete-banner"' in html and f"{png.relative_to(run)}: deleted" in html
    assert html.count("image missing or damaged") == 1


def test_a_utf8_bom_suite_is_accepted(tmp_path, capsys):
    p = _suite(tmp_path, "", raw="\ufeff".encode() + b'{"prompt": "a red car", "category": "color"}\n')
    assert main(["suites", "validate", str(p)]) == 0
    assert "1 prompts OK" in capsys.readouterr().out


@pytest.mark.parametrize("signal_name, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_and_sighup_end_a_run_with_one_line_and_keep_its_work(tmp_path, capsys, monkeypatch, signal_name,
                                                                      code):
    out = tmp_path / "run"
    capsys.readouterr()
    with faults.injected(f"{signal_name}@after:images.jsonl:2"):
        assert main([*RUN, "--out", str(out)]) == code
    err = capsys.readouterr().err.strip()
    assert err == (f"eclipse-bench: terminated by {signal_name}; finished work is kept in the run directory, "
                   f"re-run to resume")
    kept = list(read_jsonl(out / "images.jsonl"))
    assert len(kept) == 4   # two batches of two were written and recorded before the signal
    assert main([*RUN, "--out", str(out)]) == 0 and len(list(read_jsonl(out / "images.jsonl"))) == 6


def test_a_resume_removes_the_temporaries_a_killed_write_left(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    orphan = run / "images" / f".{_first_png(run).name}.tmp-abc123"
    orphan.write_bytes(b"half a png")
    assert main([*RUN, "--out", str(run)]) == 0
    assert not orphan.exists()


def test_a_kill_during_a_rerun_that_extends_a_finished_run(finished, tmp_path, capsys):
    """Killed (SIGKILL) while a rerun extends a finished 3-prompt run to 6: the finished state stays readable and
    labelled as it was (report), a gate refuses the directory until the rerun is finished (compare: exit 2,
    "unfinished"), and the resumed rerun gives exactly the uninterrupted run."""
    import subprocess

    from eclipse_bench.bench.core.schema import read_results

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    bigger = [*RUN[:6], "6", *RUN[7:]]          # --limit 6
    proc = subprocess.run(faults.command("after:images.jsonl:2", [*bigger, "--out", str(run)]), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert (run / "manifest.next.json").is_file()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert read_results(run).n_prompts == 3 and "a rerun of this directory has not finished" in html
    assert json.loads((run / "manifest.json").read_text())["settings"]["limit"] == 3   # labelled as it was made
    capsys.readouterr()
    assert main(["compare", str(finished), str(run), "--html", str(tmp_path / "c.html")]) == 2
    err = capsys.readouterr().err
    assert "unfinished" in err and "rerun" in err
    assert main([*bigger, "--out", str(run)]) == 0
    fresh = tmp_path / "fresh"
    assert main([*bigger, "--out", str(fresh)]) == 0
    ours = {r["key"]: r for r in read_jsonl(run / "samples.jsonl")}
    theirs = {r["key"]: r for r in read_jsonl(fresh / "samples.jsonl")}
    assert ours.keys() == theirs.keys() and len(ours) == 12
    for k in ours:
        assert (run / ours[k]["image"]).read_bytes() == (fresh / theirs[k]["image"]).read_bytes()
        assert ours[k]["score"] == theirs[k]["score"]
    assert not (run / "manifest.next.json").exists()


def test_a_full_disk_names_the_file_it_could_not_write(finished, tmp_path, capsys, monkeypatch):
    import errno

    import eclipse_bench.bench.core.store as store

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    out = tmp_path / "r.html"
    assert main(["report", str(finished), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"eclipse-bench: error: cannot use {out}: No space left on device; free space on that disk, then rerun " \
                  f"the same command (finished work is kept)"
    assert not out.exists() and not list(tmp_path.glob(".r.html*"))   # no temporary left behind
