"""Keys and numbers survive refactoring: a run directory made by eclipse-bench 0.2.0 (tests/data/v0.2-run, made by
tests/data/make_v02_run.py before the #25 layout change) is reused by today's code with zero recomputation, and the
sample and evidence keys of real pairings and scorers equal those 0.2.0 computed (tests/data/keys_v0.2.json, made by
tests/data/make_v02_keys.py). Both hash recorded hub identities only, never a twin's code or a library version, so
they hold on any machine."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.metrics.stage import assign_evidence_keys
from eclipse_bench.bench.app.preflight import pairing_checkpoints
from eclipse_bench.bench.core.keys import Identities, plan_samples
from eclipse_bench.bench.generation.pairings import get_pairing
from eclipse_bench.metrics.registry import METRICS, PROVIDERS
from eclipse_bench.prompts.load import load_suite

DATA = Path(__file__).parent / "data"


@pytest.fixture
def empty_model_cache(tmp_path, monkeypatch):
    """No checkpoint on this machine: any model load fails offline, so a run that needs one exits 2."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.parent.name in ("images", "evidence") or p.name == "images.jsonl"}


def test_a_run_made_by_0_2_is_reused_with_zero_recomputation(tmp_path, empty_model_cache, capsys):
    run = tmp_path / "v0.2-run"
    shutil.copytree(DATA / "v0.2-run", run)
    before = _files(run)
    rc = main(["run", "--prior", "eclipse-karlo", "--suite", "builtin/color", "--limit", "2", "--images-per-prompt",
               "1", "--scorers", "real", "--device", "cpu", "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err   # a single changed key would need a model, and none is here
    assert _files(run) == before   # no image, record or evidence was written
    assert (run / "samples.jsonl").read_bytes() == (DATA / "v0.2-run" / "samples.jsonl").read_bytes()
    old, new = (json.loads((d / "results.json").read_text()) for d in (DATA / "v0.2-run", run))
    for doc in (old, new):   # the run schema moved on (3: the commit journal); every number is the same
        doc.pop("timings"), doc.pop("schema_version")
    # #27 added a label: 0.2 batched images by the work left, so they are labelled as not reproducible bit for bit
    label = new.pop("generation")
    assert label["batch_sizes"] == {"none": 2} and label["reproducibility"].startswith("none: made before batch plans")
    assert new == old


def test_the_planted_change_of_one_identity_is_caught(tmp_path, empty_model_cache):
    """The test above can fail: a run whose recorded decoder commit differs needs the decoder again (exit 2)."""
    run = tmp_path / "v0.2-run"
    shutil.copytree(DATA / "v0.2-run", run)
    manifest = json.loads((run / "manifest.json").read_text())
    cks = manifest["identities"]["checkpoints"]
    cks["kakaobrain/karlo-v1-alpha"] = cks["kakaobrain/karlo-v1-alpha"][:-1] + "f"
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "finished.json").unlink()   # the edited manifest is no longer the finished one
    rc = main(["run", "--prior", "eclipse-karlo", "--suite", "builtin/color", "--limit", "2", "--images-per-prompt",
               "1", "--scorers", "real", "--device", "cpu", "--out", str(run), "--no-progress"])
    assert rc == 2


GOLDEN = json.loads((DATA / "keys_v0.2.json").read_text())


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_sample_and_evidence_keys_equal_those_of_0_2(case):
    pairing, suite_name, metric_name, dtype, memory, choices = case.split("|")
    choices = json.loads(choices)
    want = GOLDEN[case]
    ids = Identities(want["recorded"])
    suite = load_suite(suite_name, "val").limit(3, "first")
    metric = METRICS.get(metric_name)
    needed = {c.id for c in pairing_checkpoints(get_pairing(pairing))}
    needed |= {c.id for p in metric.providers for c in PROVIDERS.get(p).checkpoints("real", choices.get(p))}
    assert needed == set(want["recorded"])   # the same checkpoints are loaded
    samples = plan_samples(suite, get_pairing(pairing), 2, 42, ids, dtype, memory == "cl")
    assert [s.key for s in samples] == want["sample_keys"]
    for s in samples:
        s.sha256 = hashlib.sha256(s.key.encode()).hexdigest()
    idents = {p: PROVIDERS.get(p).identity("real", ids, choices.get(p)) for p in metric.providers}
    assign_evidence_keys(samples, metric, idents)
    assert [s.evidence_keys for s in samples] == want["evidence_keys"]
