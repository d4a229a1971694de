"""The run store's lock between real processes, pinned benchmark files, and the aggregates against references."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.metrics.aggregate import GENEVAL_OVERALL, MEAN, MICRO_F1, summarise
from eclipse_bench.bench.core.store import RunLock

HOLDER = textwrap.dedent("""
    import sys, time
    from eclipse_bench.bench.core.store import RunLock
    with RunLock(sys.argv[1], shard=sys.argv[2]):
        print("locked", flush=True)
        sys.stdin.readline()   # hold the lock until the test says so
""")


def _holder(run_dir, shard=""):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir), shard], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _release(proc):
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 0


def test_runlock_between_two_processes(tmp_path):
    run = tmp_path / "run"
    writer = _holder(run)
    try:
        with pytest.raises(UserError, match="being written by another eclipse-bench process"):
            with RunLock(run):
                pass
        with pytest.raises(UserError):
            with RunLock(run, shard=".shard-1-of-2"):  # a shard cannot start under a plain run either
                pass
    finally:
        _release(writer)
    with RunLock(run):  # free again once the other process let go
        pass


def test_shards_run_side_by_side_and_exclude_a_merge(tmp_path):
    run = tmp_path / "run"
    shard1 = _holder(run, ".shard-1-of-2")
    try:
        with RunLock(run, shard=".shard-2-of-2"):  # another shard: fine
            pass
        with pytest.raises(UserError, match="shard 1 of 2"):
            with RunLock(run, shard=".shard-1-of-2"):  # the same shard twice: refused
                pass
        with pytest.raises(UserError):
            with RunLock(run):  # a merge (or rescore) while a shard still writes: refused
                pass
    finally:
        _release(shard1)
    with RunLock(run):
        pass


def test_a_benchmark_file_that_does_not_match_its_pin_is_refused(tmp_path, monkeypatch):
    from eclipse_bench.prompts.fetch import locate

    data = tmp_path / "data" / "t2i_compbench"
    data.mkdir(parents=True)
    (data / "color_val.txt").write_text("a red car and a blue bench\n")
    monkeypatch.setenv("ECLIPSE_BENCH_DATA", str(tmp_path / "data"))
    with pytest.raises(UserError, match="sha256 differs"):
        locate("t2i_compbench/color_val.txt")
    monkeypatch.setenv("ECLIPSE_BENCH_VERIFY", "0")
    assert locate("t2i_compbench/color_val.txt") == data / "color_val.txt"


def _rows(per_prompt):
    return [{"prompt_id": p, "score": s, "category": None, "level": None, "n": n, "details": {}}
            for p, scores in per_prompt.items() for n, s in enumerate(scores)]


def test_mean_and_its_bootstrap_ci_against_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    per_prompt = {f"p{i}": list(rng.uniform(0, 1, 2)) for i in range(60)}
    out = summarise(_rows(per_prompt), MEAN, n_resamples=4000, seed=1)
    means = np.array([np.mean(v) for v in per_prompt.values()])
    assert out["score"] == pytest.approx(means.mean(), abs=1e-12)  # equal images per prompt: mean of means
    ref = stats.bootstrap((means,), np.mean, n_resamples=4000, method="percentile", confidence_level=0.95,
                          random_state=1).confidence_interval
    # two independent percentile bootstraps of the same statistic agree to Monte-Carlo error
    assert out["ci95"][0] == pytest.approx(ref.low, abs=0.01) and out["ci95"][1] == pytest.approx(ref.high, abs=0.01)
    assert out["ci95"][0] < out["score"] < out["ci95"][1]


def test_micro_f1_on_hand_counts():
    rows = [{"prompt_id": "a", "score": 1.0, "details": {"tp": 3, "fp": 1, "fn": 0}},
            {"prompt_id": "b", "score": 1.0, "details": {"tp": 1, "fp": 0, "fn": 4}}]
    # pooled: TP 4, FP 1, FN 4 -> F1 = 8 / (8 + 5) = 61.54 (x100), not the mean of per-image F1s
    assert summarise(rows, MICRO_F1, n_resamples=10)["score"] == pytest.approx(100 * 8 / 13)


def test_geneval_overall_is_the_mean_of_tag_means():
    rows = [{"prompt_id": f"s{i}", "category": "single_object", "score": 1.0} for i in range(9)] + \
           [{"prompt_id": "c0", "category": "counting", "score": 0.0}]
    # tag means: single_object 1.0 (9 prompts), counting 0.0 (1 prompt) -> 0.5, whereas a pooled mean is 0.9
    assert summarise(rows, GENEVAL_OVERALL, n_resamples=10)["score"] == pytest.approx(0.5)


def test_detector_weights_are_never_taken_from_the_working_directory(tmp_path, monkeypatch):
    """A .pt file planted in the current directory is not unpickled: only the cache or an explicit path."""
    from eclipse_bench.metrics.detect import resolve_weights, weights_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECLIPSE_BENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "yolo11x-seg.pt").write_bytes(b"not a checkpoint")
    assert weights_file("yolo11x-seg.pt") is None
    with pytest.raises(UserError, match="not found"):
        resolve_weights("yolo11x-seg.pt")          # offline (tests set YOLO_OFFLINE): a clear error
    assert weights_file(str(tmp_path / "yolo11x-seg.pt")) == tmp_path / "yolo11x-seg.pt"   # explicit: allowed
    cached = tmp_path / "cache" / "weights"
    cached.mkdir(parents=True)
    (cached / "yolo11x-seg.pt").write_bytes(b"x")
    assert weights_file("yolo11x-seg.pt") == cached / "yolo11x-seg.pt"
