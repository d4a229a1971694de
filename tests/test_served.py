"""Models where they are served (#28): the judge and an image model behind an OpenAI-compatible server the tests start
on 127.0.0.1 (tests/served_server.py: the tiny twins through stock transformers and diffusers, with fault modes).

The oracle for the served judge is the in-process judge on the same images: with the whole distribution returned the
two agree to float precision; with the top 20 they differ by at most the probability mass the server left out, which
each question records. For the served generator the oracle is an undisturbed run: faults and kills change neither the
images nor the results, and the server's request counts show that nothing finished was requested twice.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import faults
import pytest
from oracles import run_files

from eclipse_bench.bench.app.cli import main
from eclipse_bench.bench.core.store import read_jsonl
from served_server import IMAGE_MODEL, JUDGE_NAME, Server, TwinModels

SECRET = "sk-eclipse-bench-test-secret-0123456789"


@pytest.fixture(scope="module")
def server():
    with Server(TwinModels()) as s:
        yield s


@pytest.fixture
def srv(server, monkeypatch):
    """The module's server with fresh counters and no faults; short timeouts for the slow-answer fault."""
    server.faults.clear()
    server.counts.clear()
    server.image_requests.clear()
    server.seen_keys.clear()
    server.expected_key = None
    server.max_logprobs = 20
    monkeypatch.delenv("ECLIPSE_BENCH_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return server


def _judge_run(out: Path, *extra: str) -> int:
    return main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "2",
                 "--images-per-prompt", "1", "--batch-size", "1", "--metric", "soft-tifa-gm", "--out", str(out),
                 "--no-progress", *extra])


def _served(srv, *extra: str) -> list[str]:
    """The served judge's flags: the test server's twin, told by the twin's own tokenizer."""
    return ["--judge-endpoint", srv.url, "--judge-model", JUDGE_NAME, "--judge-tokenizer", "tiny:qwen3-vl", *extra]


def _questions(out: Path) -> list[dict]:
    return [q for s in read_jsonl(out / "samples.jsonl") for q in s["evidence"]["judge"]["questions"]]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("served") / "in-process"
    assert _judge_run(out) == 0
    return out


def test_served_judge_top_k_is_within_the_mass_it_left_out(srv, in_process, tmp_path):
    out = tmp_path / "served"
    assert _judge_run(out, *_served(srv)) == 0
    served, local = _questions(out), _questions(in_process)
    assert [q["text"] for q in served] == [q["text"] for q in local]
    gaps = [abs(a["p"] - b["p"]) for a, b in zip(served, local)]
    for a, b, gap in zip(served, local, gaps):
        assert gap <= a["outside_mass"] + 1e-5, (a["question"], a["p"], b["p"], a["outside_mass"])
        assert a["argmax"]["token"] == b["argmax"]["token"]
    assert max(gaps) > 1e-5   # 20 of this twin's 614 tokens leave answer variants out: the gap is real, and labelled
    results = json.loads((out / "results.json").read_text())
    assert "served judge, top-20 logprobs" in results["reference_models"]
    ident = json.loads((out / "manifest.json").read_text())["metric"]["identities"]["judge"]
    assert ident["model"] == f"served:{JUDGE_NAME}" and ident["top_logprobs"] == 20
    assert ident["server_model"]["root"] == "tiny:qwen3-vl" and srv.url not in json.dumps(ident)
    # one request per question, and one listing of the models
    assert srv.counts["/v1/chat/completions"] == len(served) and srv.counts["/v1/models"] == 1
    # the requests and the tokens the server reported, counted in the results and shown in the report
    counted = results["timings"]["served_judge"]
    assert counted["requests"] == len(served) and counted.get("retries", 0) == 0
    assert counted["completion_tokens"] == len(served) and counted["prompt_tokens"] > 10 * len(served)
    assert f"{len(served)} requests (0 retries)" in (out / "report.html").read_text()


def test_served_judge_with_the_whole_distribution_equals_the_in_process_judge(srv, in_process, tmp_path):
    srv.max_logprobs = -1   # as vLLM started with --max-logprobs -1
    out = tmp_path / "served-all"
    assert _judge_run(out, *_served(srv, "--judge-top-logprobs", "all")) == 0
    served, local = _questions(out), _questions(in_process)
    assert max(abs(a["p"] - b["p"]) for a, b in zip(served, local)) <= 1e-4
    assert max(q["outside_mass"] for q in served) <= 1e-5
    assert "served judge, full distribution" in json.loads((out / "results.json").read_text())["reference_models"]


def test_a_top_k_the_server_refuses_is_one_line(srv, tmp_path, capsys):
    assert _judge_run(tmp_path / "r", *_served(srv, "--judge-top-logprobs", "50")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "400" in err[0] and "max_logprobs" in err[0], err


def test_a_model_the_server_does_not_list_is_refused_before_any_work(srv, tmp_path, capsys):
    assert _judge_run(tmp_path / "r", "--judge-endpoint", srv.url, "--judge-model", "Qwen/Qwen3-VL-8B-Instruct",
                      "--judge-tokenizer", "tiny:qwen3-vl") == 2
    err = capsys.readouterr().err.strip()
    assert "does not list model 'Qwen/Qwen3-VL-8B-Instruct'" in err and JUDGE_NAME in err
    assert not list((tmp_path / "r").glob("images/*.png"))   # refused before the first image


# -- the served image model ------------------------------------------------------------------------------------

def _gen_args(url: str, out: Path, *extra: str, send_seed: bool = True) -> list[str]:
    return ["run", "--prior", f"openai-images:{IMAGE_MODEL}@{url}", "--set", "size=64x64",
            "--set", f"send_seed={str(send_seed).lower()}",
            "--suite", "builtin/color", "--limit", "3", "--images-per-prompt", "2", "--scorers", "tiny",
            "--out", str(out), "--no-progress", *extra]


@pytest.fixture(scope="module")
def undisturbed(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("served") / "undisturbed"
    server.faults.clear()
    assert main(_gen_args(server.url, out, "--concurrency", "4")) == 0
    return out


def test_a_served_generator_run_is_keyed_labelled_and_requested_once(srv, undisturbed):
    files = run_files(undisturbed)
    assert len(files["images"]) == 6 and len(set(files["images"].values())) == 6   # seeds sent: six images
    manifest = json.loads((undisturbed / "manifest.json").read_text())
    assert manifest["settings"]["seeds_controllable"] is True and manifest["settings"]["endpoint"] == srv.url
    label = files["results"]["generation"]
    assert label["batch_sizes"] == {"served": 6} and label["reproducibility"].startswith("none: a served model")
    assert list(label["environments"]) == [f"served: {IMAGE_MODEL} (tiny:stable-diffusion)"]
    html = (undisturbed / "report.html").read_text()
    assert "served requests (6 images)" in html
    # the keys name model, settings, prompt and image, never the endpoint
    from eclipse_bench.bench.core.keys import Identities, pairing_identity
    from eclipse_bench.bench.generation.pairings import get_pairing

    ident = pairing_identity(get_pairing(f"openai-images:{IMAGE_MODEL}@{srv.url}"), "fp32", Identities())
    assert srv.url not in json.dumps(ident) and ident["decoder_id"] == IMAGE_MODEL and ident["settings"]["size"]


@pytest.mark.parametrize("fault", ["429", "500", "slow", "drop", "malformed", "not-an-image"])
def test_a_fault_changes_nothing_and_loses_nothing(srv, undisturbed, tmp_path, monkeypatch, fault):
    monkeypatch.setenv("ECLIPSE_BENCH_REQUEST_TIMEOUT", "3")   # well above an answer's time on a loaded CPU
    srv.slow_seconds = 6
    srv.faults[:] = [("/images/generations", fault), ("/images/generations", fault)]   # two in a row
    out = tmp_path / "faulty"
    assert main(_gen_args(srv.url, out, "--concurrency", "2")) == 0
    assert run_files(out) == run_files(undisturbed)
    records = list(read_jsonl(out / "images.jsonl"))
    assert len(records) == len({r["key"] for r in records}) == 6   # none lost, none twice
    assert srv.counts["/v1/images/generations"] == 6 + 2           # each fault cost one retry
    retries = json.loads((out / "results.json").read_text())["timings"]["served_generation"]["retries"]
    assert retries == 2


def test_a_kill_resumes_without_requesting_a_finished_image_again(srv, undisturbed, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.run(faults.command("after:*.png:3", _gen_args(srv.url, out, "--concurrency", "1")),
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == -9, proc.stderr
    assert len(list(read_jsonl(out / "images.jsonl"))) == 2   # the third PNG was written, not recorded
    assert main(_gen_args(srv.url, out, "--concurrency", "1")) == 0
    assert run_files(out) == run_files(undisturbed)
    # one request in flight at a time: the three images written before the kill (the third unrecorded, so made
    # again) and the three after: each image of each prompt asked for once, the unrecorded one twice
    assert sorted(srv.image_requests.values()) == [1, 1, 1, 1, 1, 2]


def test_the_api_key_is_sent_and_never_written(srv, tmp_path, monkeypatch, capsys):
    srv.expected_key = SECRET
    out = tmp_path / "keyed"
    assert main(_gen_args(srv.url, out)) == 2   # no key: 401, one line naming the variable
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "401" in err[0] and "ECLIPSE_BENCH_API_KEY" in err[0], err
    monkeypatch.setenv("ECLIPSE_BENCH_API_KEY", SECRET)
    assert main(_gen_args(srv.url, out, "--metric", "soft-tifa-gm", *_served(srv))) == 0
    assert f"Bearer {SECRET}" in srv.seen_keys
    for f in out.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_a_budget_too_small_is_refused_before_any_request(srv, tmp_path, capsys):
    assert main(_gen_args(srv.url, tmp_path / "r", "--max-requests", "5")) == 2
    err = capsys.readouterr().err
    assert "needs 6 requests" in err and "--max-requests 5" in err
    assert srv.counts["/v1/images/generations"] == 0


def test_compare_pairs_prompts_not_seeds_of_a_served_model(srv, undisturbed, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(_gen_args(srv.url, other, send_seed=False)) == 0
    assert json.loads((other / "manifest.json").read_text())["settings"]["seeds"] is None
    shown = (other / "report.html").read_text()
    assert f"{IMAGE_MODEL}, served (OpenAI images API; size 64x64, n 1, seeds: not controllable" in shown
    capsys.readouterr()
    assert main(["compare", str(undisturbed), str(other), "--html", str(tmp_path / "c.html")]) in (0, 1)
    assert "seeds not compared" in capsys.readouterr().out


def test_geneval2_with_a_served_judge_is_labelled_an_approximation(srv, official_data, tmp_path):
    """The issue's command: GenEval 2's own questions asked of a served judge, labelled as such."""
    if not (official_data / "geneval2" / "geneval2_data.jsonl").is_file():
        pytest.skip("GenEval 2's data file absent")
    out = tmp_path / "g2"
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "geneval2", "--limit", "2", "--batch-size", "1",
                 "--out", str(out), "--no-progress", *_served(srv)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "soft-tifa-gm" and results["equivalence"] == "proxy"
    assert "served judge, top-20 logprobs" in results["reference_models"]
    questions = _questions(out)
    assert all("outside_mass" in q for q in questions) and len(questions) >= 4
