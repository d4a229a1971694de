"""Every suite family end to end with tiny pairings; rescore without models; batched evidence == unbatched."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl

FAMILIES = {  # suite -> metric it defaults to
    "builtin/spatial": "t2i-spatial", "builtin/non_spatial": "clip-score", "builtin/complex": "three-in-one",
    "builtin/numeracy": "t2i-numeracy", "builtin/counting": "hrs-counting", "builtin/size": "hrs-size",
    "builtin/position": "geneval",
}


@pytest.fixture(scope="session")
def family_runs(session_tmp):
    runs = {}
    for suite in FAMILIES:
        out = session_tmp / "families" / suite.replace("/", "-")
        assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", suite, "--limit", "3",
                     "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
        runs[suite] = out
    return runs


@pytest.mark.parametrize("suite", list(FAMILIES))
def test_every_family_runs_end_to_end(family_runs, suite):
    out = family_runs[suite]
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == FAMILIES[suite]
    assert results["n_images"] == 3 and results["n_unscorable"] == 0  # built-in suites: every sample scorable
    samples = list(read_jsonl(out / "samples.jsonl"))
    assert all(s["reason"] for s in samples)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["metric"]["models"]) == set(samples[0]["evidence"])


@pytest.mark.parametrize("suite, metric", [("geneval/colors", "geneval"), ("hrs/counting", "hrs-counting"),
                                           ("spatial", "t2i-spatial")])
def test_official_families_run(session_tmp, official_data, suite, metric):
    """An official file's prompts through the whole run: the stratified two, scored by the family's own metric with
    every provider's evidence, each sample with its reason."""
    from eclipse_bench.prompts.load import load_suite

    out = session_tmp / "official" / suite.replace("/", "-")
    assert main(["run", "--prior", "tiny-karlo", "--suite", suite, "--limit", "2", "--images-per-prompt", "1",
                 "--out", str(out), "--no-progress"]) == 0
    samples = list(read_jsonl(out / "samples.jsonl"))
    results = json.loads((out / "results.json").read_text())
    assert [s["prompt_id"] for s in samples] == [i.id for i in load_suite(suite).limit(2).items]
    assert results["metric"] == metric and results["n_images"] + results["n_unscorable"] == 2
    providers = set(json.loads((out / "manifest.json").read_text())["metric"]["models"])
    for s in samples:
        assert s["reason"] and set(s["evidence"]) == providers and all(s["evidence"].values()), s


def test_rescore_reproduces_stored_scores_without_models(family_runs, tiny_runs, monkeypatch, capsys, run_copy):
    """Rescore loads no model and takes every evidence key from the run directory: with this machine's model cache
    made unreadable (no checkpoint identity can be resolved here), the keys and the scores stay the same."""
    import eclipse_bench.bench.generation.generator as generation
    import eclipse_bench.bench.core.keys as keys
    import eclipse_bench.metrics.registry as registry

    def forbidden(*a, **k):
        raise AssertionError("a model was instantiated, or a checkpoint looked up, during rescore")

    monkeypatch.setattr(generation, "load_generator", forbidden)
    monkeypatch.setattr(registry.ProviderDef, "load", forbidden)
    monkeypatch.setattr(keys, "local_fingerprint", forbidden)
    for out in [run_copy(d) for d in [*family_runs.values(), tiny_runs["tiny-karlo"]]]:
        before = [(s["key"], s["score"], s["reason"]) for s in read_jsonl(out / "samples.jsonl")]
        results_before = json.loads((out / "results.json").read_text())
        assert main(["rescore", str(out)]) == 0
        after = [(s["key"], s["score"], s["reason"]) for s in read_jsonl(out / "samples.jsonl")]
        assert after == before
        results_after = json.loads((out / "results.json").read_text())
        assert results_after["score"] == results_before["score"] and results_after["ci95"] == results_before["ci95"]


def test_rescore_with_reference_compat_is_written_beside_the_run(family_runs):
    out = family_runs["builtin/spatial"]
    own = (out / "results.json").read_bytes()
    assert main(["rescore", str(out), "--reference-compat"]) == 0
    assert json.loads((out / "results.compat.json").read_text())["reference_compat"] is True
    assert (out / "results.json").read_bytes() == own   # a plain read of the run means what it meant
    assert json.loads((out / "manifest.json").read_text())["metric"]["reference_compat"] is False
    assert main(["rescore", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["reference_compat"] is False


def test_rescore_with_a_metric_lacking_evidence_is_a_clear_error(family_runs, capsys):
    assert main(["rescore", str(family_runs["builtin/spatial"]), "--metric", "blip-vqa"]) == 2
    err = capsys.readouterr().err
    assert "no 'vqa' evidence" in err and "--metric blip-vqa" in err


def test_rescore_with_another_metric_on_shared_evidence(family_runs):
    out = family_runs["builtin/numeracy"]  # detection evidence serves hrs-counting too
    own = (out / "results.json").read_bytes()
    assert main(["rescore", str(out), "--metric", "hrs-counting"]) == 0
    # written beside the run's own results; the run stays a t2i-numeracy run
    assert json.loads((out / "results.hrs-counting.json").read_text())["metric"] == "hrs-counting"
    assert (out / "samples.hrs-counting.jsonl").is_file() and (out / "report.hrs-counting.html").is_file()
    assert (out / "results.json").read_bytes() == own
    assert json.loads((out / "manifest.json").read_text())["metric"]["name"] == "t2i-numeracy"
    assert main(["rescore", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["metric"] == "t2i-numeracy"


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


def test_detection_batched_equals_unbatched():
    from eclipse_bench.metrics.detect import Detector

    det = Detector("tiny:yolo-seg", batch_size=8)
    images = _images(8, seed=1)
    batched = det.detect(images)
    det.batch_size = 1
    single = det.detect(images)
    for a, b in zip(batched, single):
        assert [d["label"] for d in a] == [d["label"] for d in b]
        assert np.abs(np.array([d["box"] for d in a]) - np.array([d["box"] for d in b])).max() <= 1e-3 + 1e-9


def test_clip_batched_equals_unbatched():
    from eclipse_bench.metrics.clip import ClipScorer

    clip = ClipScorer("tiny:clip", batch_size=8)
    images = _images(8, seed=2)
    batched = clip.image_features(images)
    clip.batch_size = 1
    single = clip.image_features(images)
    assert np.abs(batched - single).max() < 1e-4
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_nouns_outside_coco_go_to_the_open_vocabulary_detector(session_tmp):
    from eclipse_bench.metrics.detect import Detector
    from eclipse_bench.prompts.extract import spatial_spec
    from eclipse_bench.prompts.spec import Item

    det = Detector("tiny:yolo-seg|tiny:yolo-world")
    items = [Item("a", "a frog on the left of a cat", "spatial", spatial_spec("a frog on the left of a cat")),
             Item("b", "a dog near a car", "spatial", spatial_spec("a dog near a car"))]
    recs = det.evidence(_images(2, seed=3), items)
    assert recs[0]["classes"] == {"frog": "frog", "cat": "cat"}  # frog: open vocabulary; cat: COCO
    assert recs[1]["classes"] == {"dog": "dog", "car": "car"}
    assert all(d["label"] == "frog" for d in recs[0]["detections"] if d.get("source") == "open-vocabulary")
    assert not any(d.get("source") for d in recs[1]["detections"])  # nothing to ask the open model
    closed_only = Detector("tiny:yolo-seg")
    assert closed_only.evidence(_images(1), items[:1])[0]["classes"]["frog"] is None  # -> unscorable in the rules
