"""Batched, yet bitwise (#27): at a given --batch-size an image's bytes never depend on --limit, shards, the order the
work is done in, a resume after a kill or a deleted PNG, because every image is made in its fixed batch of the suite's
batch plan (eclipse_bench.bench.core.keys.batch_plan) and keyed by it.

The oracle is the uninterrupted run at the same batch size; each test also shows it can fail: batching the work left
in order (what eclipse-bench 0.2 did, and what a run directory made by it still does) gives other bytes in the very
same scenario, on every tiny pairing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import faults
import pytest
from oracles import run_files

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.app.distributed import Distributed
from eclipse_bench.bench.core.keys import Identities, batch_plan, plan_samples
from eclipse_bench.bench.core.store import read_jsonl
from eclipse_bench.bench.generation.pairings import PAIRINGS
from eclipse_bench.bench.generation.stage import generate_images, mark_verified
from eclipse_bench.prompts.load import load_suite

BS, IPP, LIMIT = 3, 2, 4   # 8 images in batches of 3: the last batch is partly used
TINY = [n for n in PAIRINGS.names() if PAIRINGS.get(n).is_tiny]


def test_every_tiny_pairing_is_covered():
    assert len(TINY) == 8 and "tiny-eclipse-karlo" in TINY and "tiny-stable-diffusion-xl" in TINY


def test_the_plan_is_cut_from_the_whole_suite_in_stratified_order(tmp_path):
    """Batches follow the order --limit takes its prefix from, so a smaller --limit needs a prefix of the batches; a
    batch holds `size` images (the last one fewer) and every image is in exactly one."""
    rows = [{"id": f"{c}{k}", "prompt": f"a {c} {noun}", "category": cat}
            for c, cat in (("red", "color"), ("round", "shape")) for k, noun in enumerate(["car", "cup", "bus", "hat",
                                                                                          "box", "pen", "cat"])]
    (tmp_path / "two.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_suite(str(tmp_path / "two.jsonl"))   # two categories: the stratified order is not the file's
    plan = batch_plan(suite, 2, 42, 5)
    order = suite.stratified_order()
    assert [i.id for i in order] != [i.id for i in suite.items]
    assert len(plan) == 2 * len(suite.items)
    first = [(i.id, n) for i in order for n in range(2)]
    for k, (pid, n) in enumerate(first):
        b = plan[(pid, n)]
        assert (b.index, b.position) == divmod(k, 5)
        item = next(i for i in suite.items if i.id == pid)
        assert b.members[b.position] == (item.prompt, 42 + n)
    for lim in (1, 4, 9):
        needed = {plan[(i.id, n)].index for i in suite.limit(lim).items for n in range(2)}
        assert needed == set(range(max(needed) + 1))   # a prefix of the batches: at most one partly used


def test_keys_name_the_batch_only_when_it_is_shared():
    """An image made alone (--batch-size 1, or the last, lone image of a plan) keeps the plain key; one made with
    others is keyed by its batch's members and its position, so two batch sizes never share an image."""
    suite = load_suite("builtin/color").limit(3)
    whole = load_suite("builtin/color")
    spec = PAIRINGS.get("tiny-eclipse-karlo")

    def keys(bs):
        return {(s.prompt_id, s.n): s.key for s in plan_samples(suite, spec, 2, 42, Identities(), "fp32", False, bs,
                                                                 whole)}

    plain, one, three, five = keys(None), keys(1), keys(3), keys(5)
    assert one == plain
    assert not set(three.values()) & set(plain.values()) and not set(three.values()) & set(five.values())
    lone = plan_samples(whole, spec, 1, 42, Identities(), "fp32", False, len(whole.items) - 1)
    assert lone[-1].batch.members == ((whole.items[-1].prompt, 42),)   # the last batch holds one image
    assert lone[-1].key == plan_samples(whole, spec, 1, 42, Identities())[-1].key


# -- the stage, on every tiny pairing ----------------------------------------------------------------------------

def _plan(name: str, limit: int, planned: bool = True) -> list:
    whole = load_suite("builtin/color")
    return plan_samples(whole.limit(limit), PAIRINGS.get(name), IPP, 42, Identities(), "fp32", False,
                        BS if planned else None, whole)


def _make(out: Path, samples: list, gen, suffix: str = "") -> dict:
    mark_verified(out, samples)
    return generate_images(out, samples, gen, BS, "cpu", progress=False, suffix=suffix)


def _bytes(out: Path, samples: list) -> dict:
    return {s.key: (out / s.image).read_bytes() for s in samples}


@pytest.fixture(scope="module")
def generators():
    from eclipse_bench.bench.generation.generator import load_generator

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache.clear()   # one twin in memory at a time
            cache[name] = load_generator(PAIRINGS.get(name), "cpu", "fp32")
        return cache[name]

    return get


@pytest.mark.parametrize("name", TINY)
def test_an_image_s_bytes_do_not_depend_on_how_the_run_was_made(name, generators, tmp_path):
    gen = generators(name)
    ref = tmp_path / "uninterrupted"
    samples = _plan(name, LIMIT)
    done = _make(ref, samples, gen)
    assert done["computed"] == 9 and done["discarded"] == 1   # the last batch's third image is prompt 5's
    want = _bytes(ref, samples)

    ext = tmp_path / "extended"          # --limit 2, then 4
    done = _make(ext, _plan(name, 2), gen)
    assert done["computed"] == 6 and done["discarded"] == 2   # the second batch holds prompt 3's images
    done = _make(ext, samples := _plan(name, LIMIT), gen)
    assert done["recomputed"] == done["recomputed_identical"] == 1   # the second batch again: the same bytes
    assert _bytes(ext, samples) == want

    sharded = tmp_path / "sharded"       # two shards, the second first: each makes whole batches
    samples = _plan(name, LIMIT)
    computed = []
    for rank in (1, 0):
        dist = Distributed(rank, 2)
        computed.append(_make(sharded, dist.mine(samples), gen, dist.suffix)["computed"])
    assert computed == [3, 6]   # batch 1; batches 0 and 2: no batch computed twice
    assert _bytes(sharded, samples) == want

    killed = tmp_path / "killed"         # what a kill leaves: a PNG gone, a record torn off
    shutil.copytree(ref, killed)
    victims = sorted(killed.glob("images/*.png"))[:1]
    victims[0].unlink()
    lines = (killed / "images.jsonl").read_bytes().splitlines(keepends=True)
    (killed / "images.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:17])
    done = _make(killed, samples := _plan(name, LIMIT), gen)
    assert done["recomputed"] >= 1 and done["recomputed"] == done["recomputed_identical"]
    assert _bytes(killed, samples) == want


@pytest.mark.parametrize("name", TINY)
def test_without_the_plan_the_same_scenario_gives_other_bytes(name, generators, tmp_path):
    """The test above can fail: batching the work left in order (eclipse-bench 0.2, kept for the directories it
    made) changes bytes when a run is extended from --limit 2 to 4. The first module whose output moves is named by
    scripts/device_check_bitwise.py (tests below)."""
    gen = generators(name)
    ref, ext = tmp_path / "uninterrupted", tmp_path / "extended"
    samples = _plan(name, LIMIT, planned=False)
    _make(ref, samples, gen)
    _make(ext, _plan(name, 2, planned=False), gen)
    _make(ext, _plan(name, LIMIT, planned=False), gen)
    same = [a == b for a, b in zip(_bytes(ref, samples).values(), _bytes(ext, samples).values())]
    assert not all(same), f"{name}: batches of other images gave the same bytes; this twin hides the property"


# -- the command line, end to end -----------------------------------------------------------------------------

RUN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--images-per-prompt", str(IPP),
       "--batch-size", str(BS), "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(session_tmp):
    out = session_tmp / "bitwise-uninterrupted"
    assert main([*RUN, "--limit", str(LIMIT), "--out", str(out)]) == 0
    return run_files(out)


def test_a_sharded_run_is_the_uninterrupted_one(uninterrupted, tmp_path):
    for i in (2, 1):
        assert main([*RUN, "--limit", str(LIMIT), "--shard", f"{i}/2", "--out", str(tmp_path)]) == 0
    assert main([*RUN, "--limit", str(LIMIT), "--out", str(tmp_path)]) == 0
    assert run_files(tmp_path) == uninterrupted


def test_an_extended_run_is_the_uninterrupted_one(uninterrupted, tmp_path):
    assert main([*RUN, "--limit", "2", "--out", str(tmp_path)]) == 0
    assert main([*RUN, "--limit", str(LIMIT), "--out", str(tmp_path)]) == 0
    assert run_files(tmp_path) == uninterrupted
    assert json.loads((tmp_path / "results.json").read_text())["timings"]["recomputed_identical"] == 1


def test_a_deleted_image_is_made_again_byte_for_byte(uninterrupted, session_tmp, tmp_path, capsys):
    shutil.copytree(session_tmp / "bitwise-uninterrupted", tmp_path / "run")
    out = tmp_path / "run"
    victim = next(iter(read_jsonl(out / "samples.jsonl")))["image"]
    (out / victim).unlink()
    assert main([*RUN, "--limit", str(LIMIT), "--out", str(out)]) == 0
    assert victim in capsys.readouterr().err
    assert run_files(out) == uninterrupted


@pytest.mark.parametrize("point", ["after:*.png:4", "torn:images.jsonl:1"])
def test_sigkill_then_resume_is_the_uninterrupted_run(uninterrupted, tmp_path, point):
    """Killed in the middle of the second batch's PNGs, or tearing the first batch's record: the resumed run
    makes the lost images in their batches again (the second batch's first PNG, on disk without its record, is made
    again, not trusted)."""
    proc = subprocess.run(faults.command(point, [*RUN, "--limit", str(LIMIT), "--out", str(tmp_path)]),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert main([*RUN, "--limit", str(LIMIT), "--out", str(tmp_path)]) == 0
    assert run_files(tmp_path) == uninterrupted


def test_the_run_states_its_batch_size_environment_and_guarantee(session_tmp, uninterrupted):
    out = session_tmp / "bitwise-uninterrupted"
    label = uninterrupted["results"]["generation"]
    assert label["batch_sizes"] == {str(BS): 8}
    (env,) = label["environments"]
    assert env.startswith("cpu ") and env.endswith(" threads")
    assert label["reproducibility"].startswith("bitwise") and "fp32 on CPU" in label["reproducibility"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["batch_plan"]["size"] == BS
    assert manifest["settings"]["reproducibility"] == label["reproducibility"]
    html = (out / "report.html").read_text()
    assert 'id="reproducibility"' in html and f"batch size {BS} (8 images)" in html


def test_another_batch_size_is_keyed_apart_and_labelled(session_tmp, uninterrupted, capsys):
    """Reusing a directory at another --batch-size makes its images again under their own keys (said on stderr);
    nothing made at the first size is taken for the second."""
    out = session_tmp / "bitwise-other-size"
    shutil.copytree(session_tmp / "bitwise-uninterrupted", out)
    capsys.readouterr()
    assert main([*RUN[:-3], "--batch-size", "2", "--no-progress", "--limit", str(LIMIT), "--out", str(out)]) == 0
    assert "not reused at --batch-size 2" in capsys.readouterr().err
    now = run_files(out)
    assert not now["images"].keys() & uninterrupted["images"].keys()
    assert now["results"]["generation"]["batch_sizes"] == {"2": 8}


# -- the device check (one prepared script for a lent GPU), run here on the CPU ---------------------------------

def test_the_device_check_runs_and_names_the_first_differing_module(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "device_check_bitwise.py"
    proc = subprocess.run([sys.executable, str(script), "--tiny-only", "--pairings", "tiny-eclipse-karlo",
                           "--json", str(tmp_path / "check.json")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (r,) = [json.loads(line) for line in (tmp_path / "check.json").read_text().splitlines()]
    assert r["pairing"] == "tiny-eclipse-karlo" and r["device"].startswith("cpu")
    assert r["same_batch_twice_identical"] is True          # the plan's premise, on this device
    assert r["plan_scenarios_identical"] is True             # extension, shards, resume: the same bytes
    assert r["batch_1_vs_5_identical"] < 5                  # batching moves bytes on this CPU ...
    assert r["first_differing_module"]                      # ... starting at a named module
    assert r["first_differing_module"] in proc.stdout
