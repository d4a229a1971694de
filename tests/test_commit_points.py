"""A kill or a full disk at every write point of `run`, `score`, `rescore` and a shard merge, each followed by every
reader and by the recovery command.

Every file of a run directory is written through the store's primitives (tests/faults.py wraps them): an atomic
whole-file write, an append, or a rename. A SIGKILL at a write point leaves on disk exactly what is there at that
moment (plus a temporary the next writer removes), so each command runs once while the run directory is copied
before and after each write (and, for an append, with half of its line written: a kill inside the write). Then for
each copy: every reader (report, compare, export) sees either the state before the command or the one after it, never
a mixture, and never exits 0 on a run that has no state yet; the recovery command gives exactly the uninterrupted
result. A full disk (ENOSPC) is injected at each write point in turn: one line, exit 2, then the same checks.
Subprocess SIGKILLs at chosen points stay in tests/test_scale.py; here the states are taken in process (fast).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import faults
import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl

RUN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1", "--images-per-prompt", "2",
       "--batch-size", "1", "--no-progress"]
POINTS: dict[str, int] = {}   # command -> write points enumerated (printed in the figures)


@pytest.fixture(scope="module")
def cached_models():
    """The same tiny models for every in-process run (loading is not under test here: writing is)."""
    import eclipse_bench.bench.generation.generator as generator
    from eclipse_bench.metrics.registry import ProviderDef

    gens, providers = {}, {}
    real_gen, real_load = generator.load_generator, ProviderDef.load

    def load_generator(spec, *a, **k):
        key = (spec.name, repr(a), repr(sorted(k.items())))
        if key not in gens:
            gens[key] = real_gen(spec, *a, **k)
        return gens[key]

    def load(self, scorers="real", **k):
        key = (self.name, scorers, k.get("choice"))
        if key not in providers:
            providers[key] = real_load(self, scorers, **k)
        return providers[key]

    generator.load_generator, ProviderDef.load = load_generator, load
    yield
    generator.load_generator, ProviderDef.load = real_gen, real_load


def _state(run: Path, tmp: Path) -> object:
    """What the readers show of a run directory: the exported (prompt, n, score) rows when report, compare and export
    all read it, or "unfinished" when all three refuse it as having no state (compare is let through a pending rerun:
    the gate's own refusal of one is tested in tests/test_sealed_runs.py)."""
    out = tmp / f"read-{len(list(tmp.glob('read-*')))}"
    out.mkdir()
    codes = (main(["report", str(run), "--out", str(out / "r.html")]),
             main(["compare", str(run), str(run), "--html", str(out / "c.html"), "--allow", "unfinished"]),
             main(["export", str(run), "--format", "json", "--out", str(out / "e.json")]))
    if codes == (2, 2, 2):
        return "unfinished"
    assert codes == (0, 0, 0), codes
    return sorted((r["prompt_id"], r["n"], r["score"]) for r in json.loads((out / "e.json").read_text()))


def _result(run: Path) -> tuple:
    results = {k: v for k, v in json.loads((run / "results.json").read_text()).items() if k != "timings"}
    return (run / "samples.jsonl").read_bytes(), results, sorted(p.name for p in (run / "images").iterdir())


def _enumerate(setup, argv, tmp: Path, capsys) -> tuple[list, Path, list]:
    """Run `argv` once on a fresh setup, copying the run directory at every write point; returns the writes, the
    uninterrupted result's directory and the copies."""
    run = setup(tmp / "uninterrupted")
    copies, writes = [], []

    def watch(moment, primitive, path, args):
        if run not in path.parents:
            return   # a cache outside the run directory
        if moment == "before":
            writes.append((primitive, path))
        copy = tmp / f"at-{len(copies):03d}-{moment}-{path.name}"
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns(".lock*"))
        copies.append(copy)
        if moment == "before" and primitive == "append_jsonl":   # killed halfway through the append
            rows = args[0]
            torn = tmp / f"at-{len(copies):03d}-torn-{path.name}"
            shutil.copytree(run, torn, ignore=shutil.ignore_patterns(".lock*"))
            payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            target = torn / path.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(payload[: len(payload) // 2 + 1])
            copies.append(torn)

    with faults.watching(watch):
        assert main(_argv(argv, run)) == 0
    capsys.readouterr()
    return writes, run, copies


def _argv(argv, run: Path) -> list:
    return [argv[0], str(run), *argv[1:]] if argv[0] == "rescore" else [*argv, "--out", str(run)]


def _check(setup, argv, tmp: Path, capsys, label: str) -> None:
    before_dir = setup(tmp / "before")
    before = _state(before_dir, tmp)
    writes, done, copies = _enumerate(setup, argv, tmp, capsys)
    after = _state(done, tmp)
    expected = _result(done)
    POINTS[label] = len(writes)
    assert writes, "no write point was seen"
    # a kill at each moment
    for copy in copies:
        seen = _state(copy, tmp)
        assert seen in (before, after), (copy.name, seen)
        capsys.readouterr()
        assert main(_argv(argv, copy)) == 0, copy.name   # the recovery: the same command
        assert _result(copy) == expected, copy.name
    # a full disk at each write point
    for i in range(len(writes)):
        run = setup(tmp / f"full-{i:03d}")
        with faults.injected(faults.spec_for(writes, i, "full")):
            capsys.readouterr()
            assert main(_argv(argv, run)) == 2, i
        errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("eclipse-bench: error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "free space" in errors[0], errors
        assert _state(run, tmp) in (before, after), i
        assert main(_argv(argv, run)) == 0 and _result(run) == expected, i


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cached_models):
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main([*RUN, "--out", str(run)]) == 0
    return run


def test_run(tmp_path, capsys, cached_models):
    _check(lambda d: d, RUN, tmp_path, capsys, "run")


def test_rerun_with_other_settings(tmp_path, capsys, finished_run):
    """A rerun that replaces a finished state: readers see the old one or the new one."""
    _check(lambda d: (shutil.copytree(finished_run, d), d)[1], [*RUN, "--seed", "7"], tmp_path, capsys, "rerun")


def test_rescore_of_the_own_metric(tmp_path, capsys, finished_run):
    """The manifest is part of the state rescore commits."""
    _check(lambda d: (shutil.copytree(finished_run, d), d)[1], ["rescore"], tmp_path, capsys, "rescore")


def test_score(tmp_path, capsys, cached_models, finished_run):
    folder = tmp_path / "imported"
    folder.mkdir()
    lines = []
    for r in read_jsonl(finished_run / "samples.jsonl"):
        shutil.copy(finished_run / r["image"], folder / f"{r['prompt_id']}-{r['n']}.png")
        lines.append(json.dumps({"prompt_id": r["prompt_id"], "n": r["n"], "seed": r["seed"],
                                 "image": f"{r['prompt_id']}-{r['n']}.png"}))
    (folder / "images.jsonl").write_text("\n".join(lines) + "\n")
    argv = ["score", str(folder / "images.jsonl"), "--suite", "builtin/color", "--limit", "1", "--scorers", "tiny",
            "--no-progress"]
    _check(lambda d: d, argv, tmp_path, capsys, "score")


def test_merge_of_shards(tmp_path, capsys, cached_models):
    def setup(d):
        for i in (1, 2):
            assert main([*RUN, "--shard", f"{i}/2", "--out", str(d)]) == 0
        return d
    _check(setup, RUN, tmp_path, capsys, "merge")


def test_zz_report_the_points():
    from shared_state import report_figure

    if POINTS:
        report_figure("write points, each killed (before, after, inside an append) and filled (ENOSPC): " +
                      ", ".join(f"{k} {v}" for k, v in POINTS.items()))
