"""Generation at scale: batch invariance, kill/resume, sharding, custom checkpoints, OOM back-off, config files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import faults
import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl
from oracles import blip_vqa_score

RUN = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "3", "--images-per-prompt", "2",
       "--no-progress"]


def _samples(out):
    return {s["key"]: s for s in read_jsonl(out / "samples.jsonl")}


ROUNDING_STEP = 1e-4 + 1e-12  # one step of the 4-decimal rounding, plus float representation
# The tiny BLIP twin listens to its image (tests/test_twins.py): an image that batched kernels moved by one grey level
# at a few pixels moves its P(yes) by up to 7e-4 (measured); the score is a product of two such P(yes).
P_YES_TOLERANCE = 2e-3
SCORE_TOLERANCE = 4e-3


def _pixels(out, s):
    return np.asarray(Image.open(out / s["image"]), dtype=int)


def _assert_same_run(a, b, exact=False, keyed_apart=False):
    """b made the same images as a: the very same bytes (exact), or within batched kernels' rounding. keyed_apart:
    b made them in other batches, so under other keys (matched by prompt and image number)."""
    sa, sb = _samples(a), _samples(b)
    if keyed_apart:
        assert not sa.keys() & sb.keys()
        slot = {(s["prompt_id"], s["n"]): s for s in sb.values()}
        sb = {k: slot[(s["prompt_id"], s["n"])] for k, s in sa.items()}
    assert sa.keys() == sb.keys()
    for k in sa:
        assert (sa[k]["prompt_id"], sa[k]["n"], sa[k]["seed"]) == (sb[k]["prompt_id"], sb[k]["n"], sb[k]["seed"])
        if exact:
            assert (a / sa[k]["image"]).read_bytes() == (b / sb[k]["image"]).read_bytes()
            assert sa[k]["score"] == sb[k]["score"]
        else:
            assert np.abs(_pixels(a, sa[k]) - _pixels(b, sb[k])).max() <= 1
            pa = [q["p_yes"] for q in sa[k]["evidence"]["vqa"]["questions"]]
            pb = [q["p_yes"] for q in sb[k]["evidence"]["vqa"]["questions"]]
            if (a / sa[k]["image"]).read_bytes() == (b / sb[k]["image"]).read_bytes():  # same pixels: same answers
                assert np.abs(np.array(pa) - np.array(pb)).max() < 1e-5
                assert abs(sa[k]["score"] - sb[k]["score"]) <= ROUNDING_STEP
            else:
                assert np.abs(np.array(pa) - np.array(pb)).max() < P_YES_TOLERANCE
                assert abs(sa[k]["score"] - sb[k]["score"]) <= SCORE_TOLERANCE


@pytest.fixture(scope="module")
def reference_bs1(session_tmp):
    out = session_tmp / "scale-ref-bs1"
    assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def reference_bs2(session_tmp):
    out = session_tmp / "scale-ref-bs2"
    assert main([*RUN, "--batch-size", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("bs", [3, 8])
def test_batch_sizes_are_keyed_apart_and_within_rounding(reference_bs1, session_tmp, bs):
    """Batched kernels round an image by its batch: a batch size makes images under its own keys (never mixed with
    another's), labelled, and within one grey level of the images made alone."""
    out = session_tmp / f"scale-bs{bs}"
    assert main([*RUN, "--batch-size", str(bs), "--out", str(out)]) == 0
    _assert_same_run(reference_bs1, out, keyed_apart=True)
    results = json.loads((out / "results.json").read_text())
    assert results["generation"]["batch_sizes"] == {str(bs): 6}
    assert results["timings"]["images_computed"] == (6 if bs == 3 else 8)   # a batch of 8: 2 images discarded


def test_same_batch_size_twice_is_bitwise_equal(reference_bs1, session_tmp):
    out = session_tmp / "scale-bs1-again"
    assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 0
    _assert_same_run(reference_bs1, out, exact=True)


# Real SIGKILLs at a few points (every write point is taken in process by tests/test_commit_points.py)
@pytest.mark.parametrize("point", ["after:images.jsonl:2", "after:*.png:2",
                                   # killed in the middle of a line of each append-only file
                                   "torn:images.jsonl:3", "torn:vqa.jsonl:1"])
def test_sigkill_then_resume_gives_the_uninterrupted_samples(reference_bs1, session_tmp, point):
    out = session_tmp / f"killed-{point.replace(':', '-').replace('*', 'x')}"
    proc = subprocess.run(faults.command(point, [*RUN, "--batch-size", "1", "--out", str(out)]),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr  # killed by SIGKILL where the fault was injected
    assert not (out / "results.json").exists()
    if point.startswith("torn:"):
        torn = out / ("images.jsonl" if "images" in point else "evidence/vqa.jsonl")
        assert not torn.read_bytes().endswith(b"\n")  # the kill left half a line behind
    assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 0
    _assert_same_run(reference_bs1, out, exact=True)
    keys = [r["key"] for r in read_jsonl(out / "images.jsonl")]
    assert len(keys) == len(set(keys)) == 6  # no duplicated or missing sample
    assert not list(out.rglob(".*.png.*"))  # no half-written file left behind


def test_random_sigkills_resume_byte_identical(reference_bs1, session_tmp, tmp_path):
    """SIGKILLs at write points drawn at random (seeded) from every write the run makes: each resumed run is byte for
    byte the uninterrupted one. 2 draws here; ECLIPSE_BENCH_RANDOM_KILLS=25 repeats the review's 25 (every point is
    also taken in process by tests/test_commit_points.py)."""
    import random

    with faults.recorded() as writes:
        assert main([*RUN, "--batch-size", "1", "--out", str(tmp_path / "enumerated")]) == 0
    writes = [(p, w) for p, w in writes if (tmp_path / "enumerated") in w.parents]
    rng = random.Random(25)
    for k in range(int(os.environ.get("ECLIPSE_BENCH_RANDOM_KILLS", "2"))):
        i = rng.randrange(len(writes))
        when = rng.choice(["before", "after"] + (["torn"] if writes[i][0] == "append_jsonl" else []))
        out = tmp_path / f"random-{k}"
        point = faults.spec_for(writes, i, when)
        proc = subprocess.run(faults.command(point, [*RUN, "--batch-size", "1", "--out", str(out)]),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == -9, (point, proc.stderr)
        assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 0, point
        _assert_same_run(reference_bs1, out, exact=True)
        assert (out / "samples.jsonl").read_bytes() == (reference_bs1 / "samples.jsonl").read_bytes(), point


def test_job_array_shards_merge_into_one_run(reference_bs1, session_tmp, capsys):
    out = session_tmp / "sharded-jobs"
    for i in (1, 2):
        assert main([*RUN, "--batch-size", "1", "--shard", f"{i}/2", "--out", str(out)]) == 0
        assert "shard done" in capsys.readouterr().out
    assert (out / "images.shard-1-of-2.jsonl").is_file() and (out / "images.shard-2-of-2.jsonl").is_file()
    from eclipse_bench.bench.app.options import RunOptions
    from eclipse_bench.bench.app.runner import Runner

    runner = Runner(RunOptions(pairing="tiny-eclipse-karlo", suite="builtin/color", limit=3, images_per_prompt=2,
                              batch_size=1, out=out, progress=False))
    runner.run()
    assert runner.pipe.model_calls == {"generate": 0, "evidence": 0}  # the merge only scores
    _assert_same_run(reference_bs1, out, exact=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHERS = {
    "torchrun": lambda port: [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_addr", "127.0.0.1", "--master_port", str(port)],
    "accelerate": lambda port: [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                                "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                                "--main_process_port", str(port)],
}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_process_launch_matches_one_process(reference_bs1, session_tmp, launcher):
    out = session_tmp / launcher
    cmd = [*LAUNCHERS[launcher](_free_port()), "-m", "eclipse_bench", *RUN, "--batch-size", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "images.shard-1-of-2.jsonl").is_file() and (out / "images.shard-2-of-2.jsonl").is_file()
    _assert_same_run(reference_bs1, out)


def test_prior_decoder_embedding_mismatch_exits_2(session_tmp, capsys):
    import torch

    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    ckpt = session_tmp / "prior-dim16"
    torch.manual_seed(0)
    EclipsePriorTransformer(num_attention_heads=2, attention_head_dim=8, embedding_dim=16, num_layers=1).save_pretrained(ckpt)
    assert main([*RUN, "--prior-checkpoint", str(ckpt), "--out", str(session_tmp / "mismatch")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "32 vs 16" in err and "share one CLIP embedding space" in err
    assert not list((session_tmp / "mismatch").glob("images/*.png"))  # checked before any image


def test_custom_prior_checkpoint_changes_the_cache_key(session_tmp, reference_bs1):
    import torch

    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    ckpt = session_tmp / "prior-step-5000"
    torch.manual_seed(5000)
    prior = EclipsePriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    with torch.no_grad():
        prior.prd_embedding.normal_(0, 1.0)
    prior.save_pretrained(ckpt)
    out = session_tmp / "custom-prior"
    assert main([*RUN, "--batch-size", "1", "--prior-checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert _samples(out).keys().isdisjoint(_samples(reference_bs1).keys())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pairing"]["prior_id"] == str(ckpt)


def test_oom_backs_off_under_new_keys_and_a_label(session_tmp, reference_bs2, monkeypatch, capsys):
    """Out of memory at --batch-size 8, the images left move to the plan of 4, then 2: the same bytes as a run at
    --batch-size 2, under its keys, with a warning and the label; a rerun at 8 backs off again and reuses them."""
    import torch

    import eclipse_bench.bench.generation.generator as generation

    real, sizes = generation.Generator.generate, []

    def limited(self, prompts, seeds):
        sizes.append(len(prompts))
        if len(prompts) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, prompts, seeds)

    monkeypatch.setattr(generation.Generator, "generate", limited)
    out = session_tmp / "oom"
    capsys.readouterr()
    assert main([*RUN, "--batch-size", "8", "--out", str(out)]) == 0
    assert sizes == [8, 4, 2, 2, 2]
    err = capsys.readouterr().err
    assert "out of memory on cpu at batch size 8" in err and "at batch size 4" in err and "under other keys" in err
    results = json.loads((out / "results.json").read_text())
    assert results["timings"]["batch_size"] == 2 and results["generation"]["batch_sizes"] == {"2": 6}
    _assert_same_run(reference_bs2, out, exact=True)
    sizes.clear()
    (out / "results.json").unlink()   # not finished: the rerun plans again
    (out / "finished.json").unlink()
    assert main([*RUN, "--batch-size", "8", "--out", str(out)]) == 0
    assert sizes == [8, 4]   # backed off again, then found every image made at 2
    _assert_same_run(reference_bs2, out, exact=True)


def test_failure_mid_run_keeps_every_generated_batch(session_tmp, reference_bs2, monkeypatch):
    """PNGs are written on a writer thread: a batch that was generated is written and recorded even when the
    next one fails, and a resumed run equals the uninterrupted one byte for byte."""
    import eclipse_bench.bench.generation.generator as generation

    real, calls = generation.Generator.generate, []

    def failing_third(self, prompts, seeds):
        calls.append(len(prompts))
        if len(calls) == 3:
            raise RuntimeError("device lost (simulated)")
        return real(self, prompts, seeds)

    monkeypatch.setattr(generation.Generator, "generate", failing_third)
    out = session_tmp / "fail-mid"
    assert main([*RUN, "--batch-size", "2", "--out", str(out)]) == 3
    recorded = list(read_jsonl(out / "images.jsonl"))
    assert len(recorded) == 4 and all((out / r["image"]).is_file() for r in recorded)
    monkeypatch.setattr(generation.Generator, "generate", real)
    assert main([*RUN, "--batch-size", "2", "--out", str(out)]) == 0
    _assert_same_run(reference_bs2, out, exact=True)
    assert len(list(read_jsonl(out / "images.jsonl"))) == 6


def test_write_error_surfaces_and_keeps_earlier_batches(session_tmp, monkeypatch, capsys):
    import eclipse_bench.bench.generation.stage as stage

    real, writes = stage.atomic_write_bytes, []

    def disk_full_on_third(path, data):
        writes.append(path)
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(stage, "atomic_write_bytes", disk_full_on_third)
    out = session_tmp / "disk-full"
    assert main([*RUN, "--batch-size", "2", "--out", str(out)]) == 2  # one line naming the error, no traceback
    recorded = [r["image"] for r in read_jsonl(out / "images.jsonl")]
    written = [str(p.relative_to(out)) for p in writes]
    assert recorded[:2] == written[:2]  # the batch before the failure is kept
    assert written[2] not in recorded  # the failed batch is not recorded as done ...
    assert all((out / r).is_file() for r in recorded)  # ... and every recorded image is on disk
    assert "No space left on device" in capsys.readouterr().err


def test_channels_last_images_within_rounding_and_keyed_apart(reference_bs1, session_tmp):
    out = session_tmp / "channels-last"
    assert main([*RUN, "--batch-size", "1", "--channels-last", "--out", str(out)]) == 0
    ref, cl = _samples(reference_bs1), _samples(out)
    assert not set(ref) & set(cl)  # other float rounding may give other pixels: its own cache keys
    by_slot = {(s["prompt_id"], s["n"]): s for s in cl.values()}
    for s in ref.values():
        other = by_slot[(s["prompt_id"], s["n"])]
        assert np.abs(_pixels(reference_bs1, s) - _pixels(out, other)).max() <= 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["memory_format"] == "channels_last"


def test_damaged_image_is_named_then_regenerated(reference_bs1, session_tmp, capsys, monkeypatch):
    """A damaged image is named and made again before any evidence; and one damaged after that check (while the
    decoding thread reads ahead of the model) is a one-line error naming it."""
    import shutil

    import eclipse_bench.bench.app.runner as runner

    out = session_tmp / "damaged-image"
    shutil.copytree(reference_bs1, out)
    shutil.rmtree(out / "evidence")
    (out / "results.json").unlink()
    victim = out / sorted(_samples(out).values(), key=lambda s: s["key"])[3]["image"]
    victim.write_bytes(b"not a png")
    capsys.readouterr()
    assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 0
    assert victim.name in capsys.readouterr().err
    _assert_same_run(reference_bs1, out, exact=True)
    shutil.rmtree(out / "evidence")
    real = runner.mark_verified

    def then_damage(folder, samples):   # the image breaks after the check, before the evidence stage reads it
        found = real(folder, samples)
        victim.write_bytes(b"not a png")
        return found

    monkeypatch.setattr(runner, "mark_verified", then_damage)
    assert main([*RUN, "--batch-size", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(victim) in err[0] and "re-run the same command" in err[0]


def test_config_file_and_flags_override_it(session_tmp, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("prior: tiny-karlo\nsuite: builtin/shape\nlimit: 1\nimages-per-prompt: 1\n"
                   "set: {decoder_steps: 3}\nno_progress: true\n")
    out = session_tmp / "from-config"
    assert main(["run", "--config", str(cfg), "--limit", "2", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pairing"]["name"] == "tiny-karlo" and manifest["suite"]["name"] == "builtin/shape"
    assert manifest["settings"]["limit"] == 2 and manifest["pairing"]["settings"]["decoder_steps"] == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("prior: tiny-karlo\nbogus: 1\n")
    assert main(["run", "--config", str(bad), "--suite", "builtin/color"]) == 2


def test_pairings_file(session_tmp, tmp_path, capsys):
    f = tmp_path / "pairings.yaml"
    f.write_text("pairings:\n  - name: my-eclipse-step-100\n    base: tiny-eclipse-kandinsky\n"
                 "    settings: {decoder_steps: 3}\n")
    out = session_tmp / "user-pairing"
    assert main(["run", "--pairings", str(f), "--prior", "my-eclipse-step-100", "--suite", "builtin/color",
                 "--limit", "1", "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "manifest.json").read_text())["pairing"]["settings"]["decoder_steps"] == 3
    broken = tmp_path / "broken.yaml"
    broken.write_text("pairings:\n  - name: x\n    family: karlo\n")
    assert main(["run", "--pairings", str(broken), "--prior", "x", "--suite", "builtin/color"]) == 2
    assert "prior, decoder_id must be given" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--set", "decoder_steps=1"], "must be an integer >= 2"),
    (["--set", "nope=1"], "not a setting of pairing"),
    (["--batch-size", "many"], "--batch-size"),
    (["--shard", "3/2"], "--shard"),
])
def test_bad_scale_arguments(args, needle, capsys):
    assert main([*RUN, *args]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("pairing", ["tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky"])
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precision_generation(session_tmp, pairing, dtype):
    """fp16/bf16 images against fp32 of the same prompt and seed. The twins' random weights amplify rounding (they
    must listen to their inputs, tests/test_twins.py), so the bound is relative to what the prompt changes: the
    half-precision image stays far closer to its own prompt's fp32 image than another prompt's fp32 image is
    (measured on this project's CPU, torch 2.14.1: fp16 2.0-3.7% of the prompt difference, mean 0.5-1.5 grey levels,
    correlation >= 0.998; bf16 12-26%, mean 3.3-10.9, correlation >= 0.93; the bounds leave about 1.5x for other
    CPUs' kernels). A broken half path (wrong scaling, noise, another prompt: ratio ~1) fails it."""
    out = session_tmp / f"{dtype}-{pairing}"
    ref = session_tmp / f"fp32-{pairing}"
    for o, dt in ((out, dtype), (ref, "fp32")):
        assert main(["run", "--prior", pairing, "--suite", "builtin/color", "--limit", "2", "--images-per-prompt",
                     "1", "--dtype", dt, "--out", str(o), "--no-progress"]) == 0
    half = sorted(_samples(out).values(), key=lambda s: s["prompt_id"])
    full = sorted(_samples(ref).values(), key=lambda s: s["prompt_id"])
    s, r, other = half[0], full[0], full[1]
    assert s["key"] != r["key"] and s["seed"] == r["seed"] and s["prompt"] == r["prompt"] != other["prompt"]
    a, b, c = _pixels(out, s), _pixels(ref, r), _pixels(ref, other)
    ratio = np.abs(a - b).mean() / np.abs(b - c).mean()
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    if dtype == "fp16":
        assert ratio < 0.06 and np.abs(a - b).mean() < 2.5 and corr > 0.99, (ratio, np.abs(a - b).mean(), corr)
    else:
        assert ratio < 0.4 and corr > 0.85, (ratio, corr)
    # scored from its own pixels: its evidence key is not the fp32 image's, its score the rule over that evidence
    assert s["evidence_keys"]["vqa"] != r["evidence_keys"]["vqa"]
    assert s["score"] == blip_vqa_score([q["p_yes"] for q in s["evidence"]["vqa"]["questions"]])
    assert json.loads((out / "manifest.json").read_text())["settings"]["dtype"] == dtype


def test_append_after_a_torn_tail_loses_nothing_complete(tmp_path):
    from eclipse_bench.bench.core.store import append_jsonl

    path = tmp_path / "r.jsonl"
    append_jsonl(path, [{"k": "a"}, {"k": "b"}])
    with open(path, "a") as fh:
        fh.write('{"k": "c", "half')  # a writer killed mid-line
    append_jsonl(path, [{"k": "d"}])
    assert [r["k"] for r in read_jsonl(path)] == ["a", "b", "d"]  # before the fix: a, d (b glued to c, then lost)
    assert path.read_text().count("\n") == 3


def test_settings_a_b_a_keep_evidence_with_its_own_pixels(session_tmp):
    """Runs with settings A, then B, then A again in one directory: every sample's evidence is that of its image."""
    out = session_tmp / "aba"
    base = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "2",
            "--images-per-prompt", "1", "--out", str(out), "--no-progress"]
    runs = {}
    for name, extra in (("A", ["--set", "decoder_steps=2"]), ("B", ["--set", "decoder_steps=3"]),
                        ("A2", ["--set", "decoder_steps=2"]), ("bf16", ["--set", "decoder_steps=2", "--dtype", "bf16"])):
        assert main(base + extra) == 0
        runs[name] = {(r["prompt_id"], r["n"]): r for r in read_jsonl(out / "samples.jsonl")}
    for k in runs["A"]:
        a, b, a2, half = runs["A"][k], runs["B"][k], runs["A2"][k], runs["bf16"][k]
        assert a["image"] == a2["image"] and a["evidence"] == a2["evidence"]      # A again: A's own records
        assert b["image"] != a["image"] and b["evidence"] != a["evidence"]        # B: other pixels, other evidence
        assert half["image"] != a["image"]                                         # the dtype is in the key
        assert (out / b["image"]).read_bytes() != (out / a["image"]).read_bytes()
    # each evidence record in the directory points at the sample whose image it was computed from
    ev = list(read_jsonl(out / "evidence" / "vqa.jsonl"))
    assert len({r["sample"] for r in ev}) == len(ev) == 6


def test_another_pairing_into_the_same_out_is_refused(session_tmp, capsys):
    out = session_tmp / "owned"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1",
                 "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", "--prior", "tiny-karlo", "--suite", "builtin/color", "--limit", "1",
                 "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "holds a run of pairing 'tiny-eclipse-karlo'" in err and "--out" in err
