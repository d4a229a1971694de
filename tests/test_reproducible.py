"""A number depends only on the image, the prompt's spec and the scorer: not on the other prompts of a chunk, the
order, --limit, sharding, what the model cache held, or a stale spec. And every fallback is labelled, every
impossible run refused before its first image.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.store import read_jsonl


def _write_suite(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _spatial(pid, a, b):
    return {"id": pid, "prompt": f"a {a} on the left of a {b}", "category": "spatial",
            "spec": {"phrases": [f"a {a}", f"a {b}"], "objects": [{"noun": a}, {"noun": b}],
                     "relation": {"name": "on the left of", "subject": 0, "object": 1}}}


FROG, UNICORN, DOG = _spatial("frog", "frog", "cat"), _spatial("unicorn", "unicorn", "llama"), _spatial("dog", "dog", "car")


def _run(out: Path, suite: Path, *extra) -> None:
    # batch size 1: generation alone makes the same bytes in every run (batched kernels round images by up to one
    # grey level, README), so that what is compared below is the evidence of one and the same image
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", str(suite), "--images-per-prompt", "1",
                 "--batch-size", "1", "--out", str(out), "--no-progress", *extra]) == 0


def _evidence_of(out: Path, prompt_id: str) -> tuple[str, dict]:
    """The frog image's bytes digest and its detection record, found through samples.jsonl."""
    import hashlib

    (s,) = [s for s in read_jsonl(out / "samples.jsonl") if s["prompt_id"] == prompt_id]
    return hashlib.sha256((out / s["image"]).read_bytes()).hexdigest(), s["evidence"]["detect"]


def test_an_image_s_detections_do_not_depend_on_the_other_prompts(tmp_path):
    """The measured case: 'a frog on the left of a cat' scored alone, beside 'a unicorn on the left of a llama',
    in another order, with --limit and in two shards gets the very same evidence (open vocabulary included)."""
    alone = _write_suite(tmp_path / "alone.jsonl", [FROG])
    mixed = _write_suite(tmp_path / "mixed.jsonl", [FROG, UNICORN, DOG])
    reordered = _write_suite(tmp_path / "reordered.jsonl", [UNICORN, DOG, FROG])
    _run(tmp_path / "a", alone)
    _run(tmp_path / "b", mixed)
    _run(tmp_path / "c", reordered)
    _run(tmp_path / "d", mixed, "--limit", "1", "--limit-mode", "first")
    for i in (1, 2):
        _run(tmp_path / "e", reordered, "--shard", f"{i}/2")
    _run(tmp_path / "e", reordered)
    reference = _evidence_of(tmp_path / "a", "frog")
    # the open vocabulary is exactly this image's own nouns outside COCO (never the chunk's: 'llama', 'unicorn')
    assert reference[1]["open_vocabulary"] == ["frog"] and reference[1]["classes"] == {"frog": "frog", "cat": "cat"}
    assert any(d["label"] == "frog" for d in reference[1]["detections"])   # the twin sees frogs here
    for other in "bcde":
        assert _evidence_of(tmp_path / other, "frog") == reference, other


def _provider_variants() -> list[tuple[str, str | None]]:
    """Every registered evidence provider with each of its named variants (--detector mask2former, ...)."""
    from eclipse_bench.metrics.registry import PROVIDERS

    return [(name, v) for name in PROVIDERS.names() for v in [None, *sorted(PROVIDERS.get(name).variants)]
            if v is None or v != PROVIDERS.get(name).default_variant]


def test_the_property_below_covers_every_provider_and_variant():
    from eclipse_bench.metrics.registry import PROVIDERS

    covered = _provider_variants()
    assert {n for n, _ in covered} == set(PROVIDERS.names()) and ("detect", "mask2former") in covered


@pytest.mark.parametrize("provider, variant", _provider_variants())
def test_every_provider_s_evidence_is_the_same_alone_in_any_chunk_and_order(provider, variant):
    """Property over every evidence provider (read from the registry, with its variants): an image's record scored
    alone equals its record in a chunk of other images and prompts, in any order."""
    from eclipse_bench.metrics.registry import PROVIDERS
    from eclipse_bench.prompts.spec import Item, ObjectSpec, Relation, Spec

    rng = np.random.default_rng(11)
    images = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(5)]
    nouns = [("frog", "cat"), ("unicorn", "llama"), ("dog", "car"), ("bench", "cup"), ("horse", "zebra")]
    items = [Item(f"p{i}", f"a red {a} on the left of a blue {b}", "spatial",
                  Spec(phrases=(f"a red {a}", f"a blue {b}"), objects=(ObjectSpec(a, ("red",), 1), ObjectSpec(b, ("blue",), 1)),
                       relation=Relation("on the left of", 0, 1))) for i, (a, b) in enumerate(nouns)]
    pdef = PROVIDERS.get(provider)
    model = pdef.load("tiny", choice=variant)
    previous = [{} for _ in images]
    for need in pdef.needs:   # the evidence it builds on, computed per image
        upstream = PROVIDERS.get(need).load("tiny")
        for pv, im, it in zip(previous, images, items):
            pv[need] = upstream.evidence([im], [it], [dict(pv)])[0]
    alone = [model.evidence([im], [it], [pv])[0] for im, it, pv in zip(images, items, previous)]
    chunk = model.evidence(images, items, previous)
    order = [3, 0, 4, 2, 1]
    shuffled = model.evidence([images[i] for i in order], [items[i] for i in order], [previous[i] for i in order])
    assert chunk == alone
    assert [shuffled[order.index(i)] for i in range(5)] == alone


def test_an_edited_spec_recomputes_the_evidence_that_read_it_and_nothing_else(tmp_path):
    """Edit one phrase of a user suite between two runs into one directory: that prompt's VQA evidence is
    recomputed (the new question is asked and scored), no image is regenerated, the other prompt's evidence is
    reused."""
    from eclipse_bench.bench.app.options import RunOptions
    from eclipse_bench.bench.app.runner import Runner

    def row(pid, phrase):
        return {"id": pid, "prompt": f"{phrase} and a blue bench", "category": "color",
                "spec": {"phrases": [phrase, "a blue bench"], "objects": [{"noun": "car"}, {"noun": "bench"}]}}

    suite = tmp_path / "mine.jsonl"
    out = tmp_path / "run"
    cfg = dict(pairing="tiny-eclipse-karlo", suite=str(suite), out=out, images_per_prompt=2, progress=False)
    _write_suite(suite, [row("p1", "a red car"), row("p2", "a red cup")])
    Runner(RunOptions(**cfg)).run()
    first = list(read_jsonl(out / "evidence" / "vqa.jsonl"))
    rows = [row("p1", "a red car"), row("p2", "a red cup")]
    rows[0]["spec"]["phrases"][0] = "a green car"   # the prompt text stays: same images
    _write_suite(suite, rows)
    runner = Runner(RunOptions(**cfg))
    runner.run()
    assert runner.pipe.model_calls["generate"] == 0
    added = list(read_jsonl(out / "evidence" / "vqa.jsonl"))[len(first):]
    assert len(added) == 2   # the two images of p1, nothing else
    samples = {(s["prompt_id"], s["n"]): s for s in read_jsonl(out / "samples.jsonl")}
    assert [q["question"] for q in samples[("p1", 0)]["evidence"]["vqa"]["questions"]] == ["a green car?",
                                                                                           "a blue bench?"]
    assert {r["key"] for r in added} == {samples[("p1", n)]["evidence_keys"]["vqa"] for n in (0, 1)}


def _hub_snapshot(cache: Path, repo: str, source: Path, sha: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """Lay a directory out as the Hugging Face cache holds a downloaded repository."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / sha
    shutil.copytree(source, snap)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(sha)
    return snap


def test_a_second_online_run_after_the_first_download_reuses_every_image(tmp_path, monkeypatch):
    """A hub checkpoint that is not cached yet: the first (online) run downloads it before any key is made, so its
    keys name the downloaded commit and a second run regenerates nothing (before, the first run keyed it without
    a revision and the second regenerated every image)."""
    import huggingface_hub.constants as hf_constants

    import eclipse_bench.bench.core.tiny as tiny
    import eclipse_bench.bench.app.preflight as preflight
    from eclipse_bench.bench.generation.pairings import load_pairings_file
    from eclipse_bench.bench.app.options import RunOptions
    from eclipse_bench.bench.app.runner import Runner

    repo = "eclipse-bench-test/online-prior"
    hub = tmp_path / "hub"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(preflight, "offline_env", lambda: False)
    monkeypatch.setattr(preflight, "hub_reachable", lambda: True)
    downloads = []
    real_resolve = tiny.resolve

    def resolve(model_id):   # the library's download, simulated: the snapshot appears in the cache when loaded
        if model_id == repo:
            snaps = list((hub / f"models--{repo.replace('/', '--')}" / "snapshots").glob("*"))
            if not snaps:
                downloads.append(model_id)
                snaps = [_hub_snapshot(hub, repo, tiny.materialise("eclipse-karlo-prior"))]
            return str(snaps[0])
        return real_resolve(model_id)

    monkeypatch.setattr(tiny, "resolve", resolve)
    (tmp_path / "p.yaml").write_text(f"pairings:\n  - name: online-prior-test\n    base: tiny-eclipse-karlo\n"
                                     f"    prior_id: {repo}\n")
    load_pairings_file(str(tmp_path / "p.yaml"))
    cfg = dict(pairing="online-prior-test", suite="builtin/color", out=tmp_path / "run", limit=2,
               images_per_prompt=2, progress=False)
    first = Runner(RunOptions(**cfg))
    first.run()
    assert downloads == [repo] and first.pipe.model_calls["generate"] > 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["identities"]["checkpoints"][repo] == f"{repo}@0123456789abcdef0123456789abcdef01234567"
    second = Runner(RunOptions(**cfg))
    second.run()
    assert second.pipe.model_calls == {"generate": 0, "evidence": 0} and second.generator is None


def test_a_corrupt_middle_line_is_an_error_naming_file_and_line(tiny_runs, run_copy, capsys):
    run = run_copy(tiny_runs["tiny-eclipse-karlo"])
    path = run / "evidence" / "vqa.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '{"key": "garbled\n'
    path.write_text("".join(lines))
    before = path.read_bytes()
    assert main(["rescore", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}:3: damaged record" in err and "\n" not in err
    assert path.read_bytes() == before   # a reader never rewrites it


def test_default_run_directories_differ_for_two_suite_files_of_one_name(tmp_path):
    from eclipse_bench.prompts.user import load
    from eclipse_bench.bench.app.rundir import default_out

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = load(str(_write_suite(tmp_path / "a" / "prompts.jsonl", [{"prompt": "a red car"}])))
    two = load(str(_write_suite(tmp_path / "b" / "prompts.jsonl", [{"prompt": "a red car"}])))
    assert one.name == two.name and default_out("tiny-karlo", one) != default_out("tiny-karlo", two)
    assert default_out("tiny-karlo", one) == default_out("tiny-karlo", load(str(tmp_path / "a" / "prompts.jsonl")))


def test_prior_eval_preflights_only_what_it_loads(tmp_path, capsys):
    """A decoder that is nowhere to be had does not stop prior-eval (which never loads it); a run needs it."""
    from eclipse_bench.bench.generation.pairings import load_pairings_file

    (tmp_path / "p.yaml").write_text("pairings:\n  - name: no-decoder-test\n    base: tiny-eclipse-kandinsky\n"
                                     "    decoder_id: eclipse-bench-test/absent-decoder\n")
    load_pairings_file(str(tmp_path / "p.yaml"))
    assert main(["prior-eval", "--prior", "no-decoder-test", "--suite", "builtin/color", "--limit", "2",
                 "--images-per-prompt", "1", "--baselines", "text", "--out", str(tmp_path / "pe")]) == 0
    capsys.readouterr()
    assert main(["run", "--prior", "no-decoder-test", "--suite", "builtin/color", "--limit", "1",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "eclipse-bench-test/absent-decoder" in capsys.readouterr().err
    assert not (tmp_path / "run" / "images").exists()


def test_complex_train_and_all_have_the_reference_sub_categories(official_data):
    from eclipse_bench.prompts.load import load_suite

    train = load_suite("complex", "train")
    assert len(train.items) == 700 and all(i.spec.subcategory for i in train.items)
    everything = load_suite("complex", "all")
    lacking = [i.prompt for i in everything.items if not i.spec.subcategory]
    assert len(everything.items) == 1000 and len(lacking) == 2   # two prompts differ from their train/val twins


def test_a_metric_that_can_judge_no_prompt_is_refused_before_the_first_image(tmp_path, capsys):
    suite = _write_suite(tmp_path / "cx.jsonl", [{"prompt": "the red cat is chasing the blue dog", "category": "complex",
                                                  "spec": {"phrases": ["the red cat"], "subcategory": None}}])
    out = tmp_path / "run"
    assert main(["run", "--prior", "tiny-karlo", "--suite", str(suite), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "three-in-one" in err and "nothing was generated" in err and not (out / "images").exists()


def test_a_numeracy_vocabulary_that_is_not_the_pinned_file_is_an_error(official_data, tmp_path, monkeypatch):
    from eclipse_bench.prompts.load import load_suite

    data = tmp_path / "data" / "t2i_compbench"
    data.mkdir(parents=True)
    shutil.copy(official_data / "t2i_compbench" / "numeracy_val.txt", data)
    (data / "new_objects.txt").write_text("cat - cats\n")
    monkeypatch.setenv("ECLIPSE_BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECLIPSE_BENCH_EXTRACTOR", "spacy")
    with pytest.raises(UserError, match="new_objects.txt.*ECLIPSE_BENCH_EXTRACTOR=rules"):
        load_suite("numeracy")


def test_online_detector_weights_are_downloaded_into_the_cache_never_the_working_directory(tmp_path, monkeypatch):
    from eclipse_bench.metrics.detect import resolve_weights, ultralytics

    downloads = ultralytics().utils.downloads

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECLIPSE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("YOLO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (tmp_path / "yolo11x-seg.pt").write_bytes(b"planted")
    asked = []

    def fake_download(file, *a, **k):
        asked.append(Path(file))
        Path(file).write_bytes(b"downloaded")
        return str(file)

    monkeypatch.setattr(downloads, "attempt_download_asset", fake_download)
    got = Path(resolve_weights("yolo11x-seg.pt"))
    assert got == tmp_path / "cache" / "weights" / "yolo11x-seg.pt" == asked[0] and got.read_bytes() == b"downloaded"


def test_the_detector_leaves_torch_s_thread_count_alone():
    """ultralytics sets torch's intra-op threads to cpu_count - 1 when a predictor is set up: the models after it
    then ran slower and rounded differently (the first image of a process differed from later ones)."""
    import torch

    from eclipse_bench.metrics.detect import Detector

    before = torch.get_num_threads()
    torch.set_num_threads(3)   # a count ultralytics would not choose here (it picks cpu_count - 1)
    try:
        det = Detector("tiny:yolo-seg|tiny:yolo-world")   # a new detector: its predictors are set up below
        det.evidence([Image.new("RGB", (64, 64))], [_item_with_nouns("frog", "cat")])
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    from PIL import Image as PILImage
    from shared_state import OMP_NUM_THREADS_AT_START

    assert os.environ.get("OMP_NUM_THREADS") == OMP_NUM_THREADS_AT_START   # inherited by every later subprocess
    assert PILImage.open.__module__.startswith("PIL")   # not ultralytics' wrapper (it pip-installs on a bad file)


def _item_with_nouns(*nouns):
    from eclipse_bench.prompts.spec import Item, ObjectSpec, Spec

    return Item("x", " and ".join(nouns), "spatial", Spec(objects=tuple(ObjectSpec(n) for n in nouns)))


def test_a_twin_is_rebuilt_and_rekeyed_when_the_code_that_builds_it_changes(tmp_path, monkeypatch):
    """A tiny twin is cached and keyed under the hash of the modules that build it: an edited builder is never served
    from the cache it filled before, nor its evidence reused under the old key (with a hand-bumped recipe number a
    changed Mask2Former twin was once loaded from a stale cache)."""
    import importlib
    import sys

    from eclipse_bench.bench.core import tiny
    from eclipse_bench.bench.core.keys import local_fingerprint

    monkeypatch.setenv("ECLIPSE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "twin_under_test.py"

    def build(value: int):
        module.write_text("from eclipse_bench.bench.core.tiny import register_tiny\n"
                          "def build(out):\n"
                          f"    (out / 'weights.txt').write_text('{value}')\n"
                          "register_tiny('under-test', build)\n")
        sys.modules.pop("twin_under_test", None)
        importlib.invalidate_caches()
        importlib.import_module("twin_under_test")
        tiny.recipe_hash.cache_clear()
        return tiny.materialise("under-test"), local_fingerprint("tiny:under-test")

    try:
        first, key1 = build(1)
        again, key1b = build(1)
        second, key2 = build(2)
    finally:
        tiny.BUILDERS.pop("under-test", None)
        tiny.USES.pop("under-test", None)
        sys.modules.pop("twin_under_test", None)
        tiny.recipe_hash.cache_clear()
    assert (again, key1b) == (first, key1)                        # unchanged code: the cached twin, the same key
    assert second != first and key2 != key1                       # edited code: built again, keyed anew
    assert (first / "weights.txt").read_text() == "1" and (second / "weights.txt").read_text() == "2"
    assert key1.startswith(f"tiny:under-test@{tiny.RECIPE}-")
    with pytest.raises(UserError, match="under-test"):            # an unregistered twin has no identity to guess
        local_fingerprint("tiny:under-test")


def test_an_evidence_key_moves_with_each_thing_that_changes_the_evidence_and_nothing_else():
    """Each input of an evidence key changes it; an image kept as stored (orientation None) keys exactly as before
    orientations were recorded, so no existing run's evidence is recomputed."""
    from eclipse_bench.bench.core.keys import evidence_key

    base = dict(sample="s", image_sha256="a" * 64, provider_identity={"model": "m"}, upstream=["u"],
                inputs={"phrases": ["a red car"]})
    key = evidence_key(**base)
    assert evidence_key(**base, orientation=None) == key
    assert evidence_key(**{**base, "inputs": dict(base["inputs"])}) == key      # equal values, other objects
    changed = [dict(base, sample="t"), dict(base, image_sha256="b" * 64), dict(base, provider_identity={"model": "n"}),
               dict(base, upstream=["v"]), dict(base, inputs={"phrases": ["a green car"]}), dict(base, orientation=6)]
    keys = {evidence_key(**c) for c in changed}
    assert key not in keys and len(keys) == len(changed)
