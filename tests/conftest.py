"""Session-wide offline hygiene and shared fixtures (one pytest process, models built once)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="eclipse-bench-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_CONFIG_DIR"] = str(_SESSION_TMP / "yolo")
os.environ.setdefault("ECLIPSE_BENCH_CACHE", str(_SESSION_TMP / "cache"))
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

SHARED_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
if "ECLIPSE_BENCH_DATA" not in os.environ and SHARED_BENCHMARKS.is_dir():
    os.environ["ECLIPSE_BENCH_DATA"] = str(SHARED_BENCHMARKS)


@pytest.fixture
def official_data() -> Path:
    """The official benchmark files; tests that need them skip where they are absent."""
    data = os.environ.get("ECLIPSE_BENCH_DATA")
    if not (data and Path(data).is_dir()):
        pytest.skip("official benchmark files absent: set ECLIPSE_BENCH_DATA (../shared/benchmarks in the dev setup)")
    return Path(data)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@pytest.fixture(scope="session")
def tiny_runs(session_tmp):
    """Each tiny pairing run once end to end on builtin/color (4 prompts x 2 images); shared by tests."""
    from eclipse_bench.cli import main

    runs = {}
    for pairing in ("tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky"):
        out = session_tmp / "runs" / pairing
        rc = main(["run", "--prior", pairing, "--suite", "builtin/color", "--limit", "4", "--images-per-prompt", "2",
                   "--out", str(out), "--no-progress"])
        assert rc == 0
        runs[pairing] = out
    return runs
