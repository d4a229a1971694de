"""The versioned run schema: every run file is read through it; an older run directory is migrated in memory (or,
where that cannot be done, refused with one line saying what to do); a newer one is refused; a field of the wrong
type is an error naming the file and the field."""

from __future__ import annotations

import json

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.schema import SCHEMA_VERSION, Manifest, Results, read_manifest, read_results
from eclipse_bench.bench.core.state import seal


def test_a_version_2_run_is_read_as_it_is(tiny_runs, run_copy, tmp_path):
    """eclipse-bench 0.2 wrote the same files and a marker vouching for the manifest and results only."""
    from eclipse_bench.bench.core.state import file_sha256

    run = run_copy(tiny_runs["tiny-eclipse-karlo"])
    for name in ("manifest.json", "results.json"):
        doc = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps({**doc, "schema_version": 2}))
    (run / "finished.json").write_text(json.dumps({"schema_version": 2, "manifest": file_sha256(run / "manifest.json"),
                                                   "results": file_sha256(run / "results.json"), "samples": 8}))
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["rescore", str(run)]) == 0   # rescored into a schema-3 state
    assert json.loads((run / "finished.json").read_text())["schema_version"] == 3


def _as_version_1(run):
    """What eclipse-bench 0.1 wrote: no schema_version, no identities, no evidence keys in samples.jsonl."""
    for name in ("manifest.json", "results.json"):
        doc = json.loads((run / name).read_text())
        doc.pop("schema_version", None)
        doc.pop("identities", None)
        (run / name).write_text(json.dumps(doc))
    (run / "finished.json").unlink()   # 0.1 wrote no marker
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("evidence_keys", None)
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _scores(n=8):
    return {f"p{i}": [0.5 + i / 100, 0.4] for i in range(n)}


def test_a_real_run_writes_the_schema_version(tiny_runs):
    run = tiny_runs["tiny-eclipse-karlo"]
    for name in ("manifest.json", "results.json"):
        assert json.loads((run / name).read_text())["schema_version"] == SCHEMA_VERSION == 3
    m, r = read_manifest(run), read_results(run)
    assert Manifest.from_json(m.to_json()) == m and Results.from_json(r.to_json()) == r


def test_a_version_1_run_is_read_by_migrating_it(fake_run, tmp_path, capsys):
    a = _as_version_1(fake_run(tmp_path / "a", _scores()))
    b = _as_version_1(fake_run(tmp_path / "b", _scores()))
    assert read_manifest(a).extra["migrated_from"] == 1 and read_manifest(a).identities == {}
    assert main(["report", str(a), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["compare", str(a), str(b)]) == 0
    assert main(["export", str(a), "--format", "csv", "--out", str(tmp_path / "a.csv")]) == 0
    assert (tmp_path / "a.csv").read_text().count("\n") == 17   # header + 16 samples
    capsys.readouterr()
    assert main(["rescore", str(a)]) == 2   # its evidence keys cannot be rebuilt: one line, what to do
    err = capsys.readouterr().err.strip()
    assert "run schema 1" in err and "eclipse-bench run" in err and "\n" not in err


@pytest.mark.parametrize("command", ["report", "compare", "rescore", "export"])
def test_a_newer_schema_is_refused_with_one_line(fake_run, tmp_path, capsys, command):
    run = fake_run(tmp_path / "a", _scores())
    doc = json.loads((run / "manifest.json").read_text())
    doc["schema_version"] = SCHEMA_VERSION + 1
    (run / "manifest.json").write_text(json.dumps(doc))
    results = json.loads((run / "results.json").read_text())
    results["schema_version"] = SCHEMA_VERSION + 1
    (run / "results.json").write_text(json.dumps(results))
    seal(run, "", 16)   # as a newer eclipse-bench would have committed them
    args = {"report": ["report", str(run), "--out", str(tmp_path / "r.html")], "compare": ["compare", str(run), str(run)],
            "rescore": ["rescore", str(run)],
            "export": ["export", str(run), "--format", "json", "--out", str(tmp_path / "x.json")]}[command]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert f"run schema {SCHEMA_VERSION + 1}" in err and "upgrade eclipse-bench" in err and "\n" not in err


def test_a_field_of_the_wrong_type_names_the_file_and_the_field(fake_run, tmp_path, capsys):
    run = fake_run(tmp_path / "a", _scores())
    doc = json.loads((run / "results.json").read_text())
    doc["n_images"] = "sixteen"
    (run / "results.json").write_text(json.dumps(doc))
    seal(run, "", 16)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(run / "results.json") in err and "n_images must be an integer" in err and "\n" not in err
