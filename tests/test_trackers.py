"""Experiment trackers (--log-to) and the training-loop hook (prior_eval_every, PriorEvalCallback).

The oracle for what a tracker received is the run's own results.json, read back from the tracker's files by the
trackers' own readers (TensorBoard's EventAccumulator, Trackio's SQLite storage) or, for W&B's offline run file, a
reader of its documented record format written here. Logging must change no key and no result, and a tracker that
fails must leave the run finished and complete."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import read_jsonl

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


def _run(out: Path, *extra: str) -> int:
    return main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "geneval", "--limit", "6", "--images-per-prompt",
                 "1", "--scorers", "tiny", "--out", str(out), "--no-progress", *extra])


@pytest.fixture(scope="module")
def logged(official_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("trackers")
    assert _run(root / "run", "--log-to", "tensorboard,wandb,trackio", "--log-dir", str(root / "logs"),
                "--log-run-name", "tiny/geneval") == 0
    return root


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_tensorboard_holds_the_headline_the_tables_and_the_images(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    r = _results(logged / "run")
    (run_dir,) = (logged / "logs" / "tensorboard" / "eclipse-bench").iterdir()
    ea = EventAccumulator(str(run_dir), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    ea.Reload()
    scalar = {t: ea.Scalars(t)[-1].value for t in ea.Tags()["scalars"]}
    assert scalar["geneval/geneval/score"] == pytest.approx(r["score"], rel=1e-6)   # float32 in the event file
    assert scalar["geneval/geneval/ci95_low"] == pytest.approx(r["ci95"][0], rel=1e-6, abs=1e-7)
    for tag in TAGS:
        assert scalar[f"geneval/geneval/category/{tag}"] == pytest.approx(r["by_category"][tag], abs=1e-7)
    text = {t: ea.Tensors(t)[-1].tensor_proto.string_val[0].decode() for t in ea.Tags()["tensors"]}
    labels = text["geneval/geneval/labels/text_summary"]
    assert "proxy" in labels and "tiny random-weight scorers" in labels and "| limit | 6 |" in labels
    groups = text["geneval/geneval/groups/text_summary"]
    assert all(f"category={tag}" in groups for tag in TAGS)
    assert groups.count("\n") == 2 + len(TAGS)   # header, rule, overall and one row per tag
    samples = text["geneval/geneval/samples/text_summary"]
    assert samples.count("\n") == 1 + 6 and "GenEval" not in samples   # six prompts, one image each
    assert len(ea.Images("geneval/geneval/samples")) == 1


def _wandb_records(path: Path) -> list:
    """The protobuf records of a W&B offline run file: a 7-byte header (":W&B", id, version), then 32 KiB blocks of
    records each behind a 7-byte header (crc32c, length u16, type: 1 full, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, out, part = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        part += chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(part)
            out.append(rec)
            part = b""
    return out


def test_wandb_offline_holds_the_headline_the_tables_and_the_images(logged):
    r = _results(logged / "run")
    (offline,) = (logged / "logs" / "wandb").glob("offline-run-*")
    records = _wandb_records(next(offline.glob("run-*.wandb")))
    history = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "history":
            history.update({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
    config = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "config":
            config.update({u.key: json.loads(u.value_json) for u in rec.config.update})
    assert history["geneval/geneval/score"] == r["score"]
    for tag in TAGS:
        assert history[f"geneval/geneval/category/{tag}"] == r["by_category"][tag]
    flat = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in config.items()}
    assert flat["labels/equivalence"] == "proxy" and flat["labels/scorers"] == "tiny" and flat["labels/limit"] == 6
    assert flat["settings/suite"] == "geneval"
    groups = json.loads(next(offline.glob("files/media/table/geneval/geneval/groups_*.table.json")).read_text())
    rows = {row[0]: row[1] for row in groups["data"]}
    assert rows["overall"] == r["score"] and all(rows[f"category={t}"] == r["by_category"][t] for t in TAGS)
    samples = json.loads(next(offline.glob("files/media/table/geneval/geneval/samples_*.table.json")).read_text())
    assert len(samples["data"]) == 6 and samples["columns"][:4] == ["image", "prompt_id", "n", "prompt"]
    assert len(list(offline.glob("files/media/images/**/*.png"))) == 6


def test_trackio_holds_the_headline_the_tables_and_the_images(logged):
    from trackio import SQLiteStorage

    r = _results(logged / "run")
    logs = SQLiteStorage.get_logs("eclipse-bench", "tiny/geneval")
    merged = {k: v for row in logs for k, v in row.items()}
    assert merged["geneval/geneval/score"] == pytest.approx(r["score"])
    assert all(merged[f"geneval/geneval/category/{t}"] == pytest.approx(r["by_category"][t]) for t in TAGS)
    samples = merged["geneval/geneval/samples"]
    assert samples["_type"] == "trackio.table" and len(samples["_value"]) == 6
    assert all(row["image"]["_type"] == "trackio.image" for row in samples["_value"])
    assert merged["geneval/geneval/groups"]["_type"] == "trackio.table"


def test_logging_changes_no_key_and_no_result(logged, tmp_path):
    plain = tmp_path / "plain"
    assert _run(plain) == 0
    a, b = _results(logged / "run"), _results(plain)
    a.pop("timings"), b.pop("timings")
    assert a == b
    keys = lambda d: [(s["key"], s["evidence_keys"] if "evidence_keys" in s else None)  # noqa: E731
                      for s in read_jsonl(d / "samples.jsonl")]
    assert keys(logged / "run") == keys(plain)
    assert not list((logged / "run").rglob("*tfevents*")) and not list((logged / "run").rglob("*.wandb"))


def test_a_tracker_that_fails_leaves_the_run_finished(tmp_path, monkeypatch, capsys):
    from accelerate.tracking import TensorBoardTracker

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TensorBoardTracker, "log", full)
    out = tmp_path / "run"
    rc = main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "2",
               "--images-per-prompt", "1", "--out", str(out), "--no-progress", "--log-to", "tensorboard"])
    assert rc == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "--log-to" in line]
    assert len(err) == 1 and "tensorboard failed" in err[0] and "finished and complete" in err[0]
    state = RunState.open(out, "", "read")   # committed, every file vouched for by the marker
    assert state.results().score is not None and (out / "report.html").is_file()
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    assert (out.parent / "eclipse-bench-logs" / "tensorboard").is_dir()   # beside the run, not inside it


def test_bad_tracker_flags_are_one_line_before_any_work(tmp_path, capsys):
    for args, needle in ((["--log-to", "tensorbored"], "not a tracker"),
                         (["--log-to", "aim"], "pip install aim"),
                         (["--log-to", "tensorboard", "--log-dir", str(tmp_path / "r" / "logs")], "inside the run")):
        if "aim" in args and __import__("importlib").util.find_spec("aim") is not None:
            continue
        (tmp_path / "r").mkdir(exist_ok=True)
        if "inside the run" == needle:   # a finished run to point --log-dir into
            assert _small(tmp_path / "r") == 0
        capsys.readouterr()
        rc = _small(tmp_path / ("r" if needle == "inside the run" else "x"), *args)
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and needle in err, (args, err)
    assert not (tmp_path / "x" / "images").exists()


def _small(out: Path, *extra: str) -> int:
    return main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "2",
                 "--images-per-prompt", "1", "--out", str(out), "--no-progress", *extra])


# -- the training-loop hook ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tower():
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    import eclipse_bench.bench.generation.families.kandinsky  # noqa: F401 - registers the tiny CLIP bigG twin
    from eclipse_bench.bench.core.tiny import resolve
    from eclipse_bench.bench.generation.eclipse_prior import EclipsePriorTransformer

    root = resolve("tiny:clip-text")
    enc = CLIPTextModelWithProjection.from_pretrained(root, projection_dim=32).eval()
    return enc, CLIPTokenizer.from_pretrained(root), lambda: EclipsePriorTransformer.from_pretrained(
        resolve("tiny:eclipse-kandinsky-prior"))


def _train_step(prior, opt, enc, tok, torch):
    """One step of ECLIPSE-style training on synthetic pairs: the prior maps a prompt's text to a fixed random
    'image embedding' per prompt (a projection loss), so a few steps move what prior-eval measures."""
    prompts = ["a red car and a blue bench", "a green apple and a yellow cup", "a black cat and a white dog"]
    batch = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = enc(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    target = torch.randn(len(prompts), prior.config["embedding_dim"], generator=torch.Generator().manual_seed(7))
    noise = torch.randn(len(prompts), prior.config["embedding_dim"])   # from the global generator, as training does
    pred = prior(noise, out.text_embeds, out.last_hidden_state, batch.attention_mask.bool())
    loss = torch.nn.functional.mse_loss(pred, target)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_prior_eval_every_logs_a_curve_and_restores_the_loop(tower, tmp_path, capsys):
    import torch

    from eclipse_bench.callbacks import prior_eval_every, read_curve

    enc, tok, make = tower
    prior = make().train()
    opt = torch.optim.Adam(prior.parameters(), lr=3e-2)
    every = prior_eval_every(2, prior, enc, tok, suite="builtin/color", limit=8, seeds=(42, 43),
                             out=tmp_path / "train", log_to="tensorboard", log_dir=tmp_path / "logs")
    torch.manual_seed(0)
    costs = []
    for step in range(1, 7):
        _train_step(prior, opt, enc, tok, torch)
        before = torch.get_rng_state()
        t0 = time.perf_counter()
        got = every(step)
        if got is not None:
            costs.append(time.perf_counter() - t0)
        assert torch.equal(torch.get_rng_state(), before)   # the loop's random stream is untouched
        assert prior.training                                # handed back in training mode
    every.close()
    curve = read_curve(tmp_path / "train")
    assert [c["step"] for c in curve] == [2, 4, 6]
    key = "prior_eval/builtin/color/prior/alignment"
    values = [c[key] for c in curve]
    assert len(set(values)) == 3, values                     # training moved the prior, and the curve shows it
    base = "prior_eval/builtin/color/text-embedding baseline/alignment"
    assert len({c[base] for c in curve}) == 1                # the text baseline does not train
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tb,) = (tmp_path / "logs" / "tensorboard" / "eclipse-bench").iterdir()
    ea = EventAccumulator(str(tb))
    ea.Reload()
    assert [e.step for e in ea.Scalars(key)] == [2, 4, 6]
    with capsys.disabled():
        print(f"\nprior_eval_every: {sum(costs) / len(costs):.3f} s per call (tiny ECLIPSE prior, 8 prompts x 2 "
              f"seeds, CPU)")


def test_trainer_callback_evaluates_in_the_trainers_loop(tower, tmp_path):
    import torch
    from transformers import Trainer, TrainingArguments

    from eclipse_bench.callbacks import PriorEvalCallback

    enc, tok, make = tower

    class Wrapped(torch.nn.Module):   # a Trainer model holding the prior, returning its loss
        def __init__(self):
            super().__init__()
            self.prior = make()

        def forward(self, text_embeds, hidden, mask, target, noise):
            pred = self.prior(noise, text_embeds, hidden, mask.bool())
            return {"loss": torch.nn.functional.mse_loss(pred, target)}

    prompts = ["a red car", "a blue bench", "a green apple", "a yellow cup"]
    batch = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = enc(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    g = torch.Generator().manual_seed(3)
    rows = [{"text_embeds": out.text_embeds[i], "hidden": out.last_hidden_state[i], "mask": batch.attention_mask[i],
             "target": torch.randn(32, generator=g), "noise": torch.randn(32, generator=g)} for i in range(4)]
    model = Wrapped()
    cb = PriorEvalCallback(2, enc, tok, get_prior=lambda m: m.prior, suite="builtin/color", limit=4, seeds=(42,),
                           out=tmp_path / "train")
    args = TrainingArguments(str(tmp_path / "trainer"), max_steps=4, per_device_train_batch_size=2,
                             learning_rate=3e-2, report_to=[], use_cpu=True, save_strategy="no",
                             logging_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[cb])
    trainer.train()
    curve = [h for h in trainer.state.log_history if "prior_eval/builtin/color/prior/alignment" in h]
    assert [h["step"] for h in curve] == [2, 4] and model.prior.training
    assert curve[0]["prior_eval/builtin/color/prior/alignment"] != curve[1]["prior_eval/builtin/color/prior/alignment"]


def test_prior_eval_cli_logs_its_numbers(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "pe"
    assert main(["prior-eval", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "4",
                 "--images-per-prompt", "2", "--baselines", "text", "--out", str(out), "--log-to", "tensorboard",
                 "--log-step", "1000"]) == 0
    models = json.loads((out / "prior_eval" / "results.json").read_text())["models"]
    (tb,) = (tmp_path / "eclipse-bench-logs" / "tensorboard" / "eclipse-bench").iterdir()
    ea = EventAccumulator(str(tb))
    ea.Reload()
    for name, summary in models.items():
        e = ea.Scalars(f"prior_eval/builtin/color/{name}/alignment")[-1]
        assert e.step == 1000 and e.value == pytest.approx(summary["alignment"], rel=1e-6)
