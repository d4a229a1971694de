"""Session-wide offline hygiene and shared fixtures (one pytest process, models built once)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import shared_state  # noqa: F401,E402 - first: it records the environment before any library changes it

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="eclipse-bench-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_CONFIG_DIR"] = str(_SESSION_TMP / "yolo")
os.environ.setdefault("ECLIPSE_BENCH_CACHE", str(_SESSION_TMP / "cache"))
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# experiment trackers: offline, writing under the session's folder only (trackio reads TRACKIO_DIR when imported)
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
for _var in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
    os.environ[_var] = str(_SESSION_TMP / "wandb")
os.environ["TRACKIO_DIR"] = str(_SESSION_TMP / "trackio")

SHARED_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
if "ECLIPSE_BENCH_DATA" not in os.environ and SHARED_BENCHMARKS.is_dir():
    os.environ["ECLIPSE_BENCH_DATA"] = str(SHARED_BENCHMARKS)


@pytest.fixture(scope="session")
def official_data() -> Path:
    """The official benchmark files; tests that need them skip where they are absent."""
    data = os.environ.get("ECLIPSE_BENCH_DATA")
    if not (data and Path(data).is_dir()):
        pytest.skip("official benchmark files absent: set ECLIPSE_BENCH_DATA (../shared/benchmarks in the dev setup)")
    return Path(data)


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's models, runs and screenshots unless ECLIPSE_BENCH_KEEP_TEST_TMP is set."""
    import shutil

    if os.environ.get("ECLIPSE_BENCH_KEEP_TEST_TMP"):
        print(f"\ntest files kept in {_SESSION_TMP}")
    else:
        shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@pytest.fixture(scope="session")
def tiny_runs(session_tmp):
    """Each tiny pairing run once end to end on builtin/color (4 prompts x 2 images); shared by tests."""
    from eclipse_bench.bench.app.cli import main

    runs = {}
    for pairing in ("tiny-eclipse-karlo", "tiny-karlo", "tiny-eclipse-kandinsky", "tiny-kandinsky"):
        out = session_tmp / "runs" / pairing
        rc = main(["run", "--prior", pairing, "--suite", "builtin/color", "--limit", "4", "--images-per-prompt", "2",
                   "--out", str(out), "--no-progress"])
        assert rc == 0
        runs[pairing] = out
    return runs


def make_run(out: Path, scores: dict, *, suite: str = "builtin/color", metric: str = "blip-vqa",
             pairing: str = "tiny-eclipse-karlo", images_per_prompt: int = 2, prompts: dict | None = None,
             evidence: dict | None = None, suite_hash: str = "a" * 64, categories: dict | None = None) -> Path:
    """A finished run directory with the given per-image scores {prompt_id: [score, ...]}; no model involved."""
    import json

    import numpy as np
    from PIL import Image

    from eclipse_bench.bench.core.schema import ImageRecord, Manifest, MetricInfo, Results, Sample, SuiteInfo
    from eclipse_bench.bench.core.state import file_sha256, seal
    from eclipse_bench.metrics.aggregate import summarise
    from eclipse_bench.metrics.registry import METRICS

    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    rows = []
    rng = np.random.default_rng(len(scores))
    for i, (pid, vals) in enumerate(scores.items()):
        for n, v in enumerate(vals):
            img = f"images/{pid}-{n}.png"
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(out / img)
            rows.append(Sample(
                key=f"{pid}-{n}", prompt_id=pid, prompt=(prompts or {}).get(pid, f"prompt {pid}"), n=n, image=img,
                seed=42 + n, category=(categories or {}).get(pid, "color"),
                spec={"phrases": ["a red car"], "objects": [{"noun": "car", "attributes": ["red"], "count": 1}],
                      "relation": None, "subcategory": None, "exclude": []},
                score=v, reason=f"hand-made score {v}",
                evidence=(evidence or {}).get(pid, {"vqa": {"questions": [
                    {"phrase": "a red car", "question": "a red car?", "p_yes": v if v is not None else 0.5}]}})))
    with open(out / "samples.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json()) + "\n")
    with open(out / "images.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps(ImageRecord(r.key, r.prompt_id, r.n, r.image, r.seed, file_sha256(out / r.image))
                                .to_json()) + "\n")
    m = METRICS.get(metric)
    summary = summarise([r.to_json() for r in rows], m.aggregator())
    manifest = Manifest(
        version="test", pairing={"name": pairing, "family": "karlo", "prior": "eclipse", "decoder_id": "tiny:karlo",
                                 "prior_id": "tiny:eclipse-karlo-prior", "prior_pipeline_id": None,
                                 "text_encoder_id": None, "settings": {}},
        suite=SuiteInfo(suite, "test", suite_hash, len(scores)),
        metric=MetricInfo(metric, m.version, "tiny", {"vqa": "tiny:blip-vqa"}),
        settings={"images_per_prompt": images_per_prompt, "seed": 42,
                  "seeds": [42 + n for n in range(images_per_prompt)]})
    (out / "manifest.json").write_text(json.dumps(manifest.to_json()))
    results = Results(pairing=pairing, suite=suite, metric=metric, score=summary["score"], ci95=summary["ci95"],
                      n_prompts=summary["n_prompts"], n_images=sum(r.score is not None for r in rows),
                      n_unscorable=sum(r.score is None for r in rows), aggregate=m.aggregator().name,
                      scale=m.aggregator().scale, metric_version=m.version, suite_hash=suite_hash, scorers="tiny",
                      images_per_prompt=images_per_prompt, seed=42, by_category=summary.get("by_category"),
                      by_level=summary.get("by_level"))
    (out / "results.json").write_text(json.dumps(results.to_json()))
    seal(out, "", len(rows))   # committed as a run commits its state (the report left empty)
    return out


@pytest.fixture
def fake_run():
    return make_run


@pytest.fixture
def run_copy(tmp_path):
    """A private copy of a (session-shared) run directory, for tests that write into a run: shared fixtures stay
    as made, whatever order the tests run in."""
    import shutil

    def copy(src: Path) -> Path:
        dst = tmp_path / f"copy-{Path(src).name}"
        shutil.copytree(src, dst)
        return dst

    return copy


def pytest_terminal_summary(terminalreporter):
    """Print the figures tests measured (shared_state.report_figure): twin sensitivity and the like."""
    from shared_state import FIGURES

    if FIGURES:
        terminalreporter.section("measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
