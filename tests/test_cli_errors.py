"""Every failure a user can cause: one line naming the input and the fix, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("eclipse-bench: error: ")
    return err


def test_unknown_prior_lists_valid_ones(capsys):
    assert main(["run", "--prior", "nonsense", "--suite", "color"]) == 2
    err = _error_line(capsys)
    assert "'nonsense'" in err and "eclipse-karlo" in err and "tiny-kandinsky" in err


def test_unknown_prior_suggests_close_match(capsys):
    assert main(["run", "--prior", "eclipse-krlo", "--suite", "color"]) == 2
    assert "Did you mean 'eclipse-karlo'" in _error_line(capsys)


def test_unknown_suite_lists_valid_ones(capsys):
    assert main(["run", "--prior", "tiny-karlo", "--suite", "nonsense"]) == 2
    err = _error_line(capsys)
    assert "'nonsense'" in err and "builtin/color" in err and "color" in err


@pytest.mark.parametrize("args, needle", [
    (["run", "--prior", "tiny-karlo", "--suite", "builtin/color", "--limit", "0"], "--limit"),
    (["run", "--prior", "tiny-karlo", "--suite", "builtin/color", "--batch-size", "-1"], "--batch-size"),
    (["run", "--prior", "tiny-karlo", "--suite", "builtin/color", "--set", "nokey"], "--set"),
    (["run", "--suite", "color"], "--prior"),
    (["report", "/nonexistent/run", "--out", "/tmp/x.html"], "/nonexistent/run"),
])
def test_bad_arguments(capsys, args, needle):
    assert main(args) == 2
    assert needle in _error_line(capsys)


def test_real_pairing_without_weights_names_the_hub_id(capsys, tmp_path):
    assert main(["run", "--prior", "eclipse-karlo", "--suite", "builtin/color", "--limit", "1",
                 "--images-per-prompt", "1", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert "kakaobrain/karlo-v1-alpha" in err and "hf download" in err


def test_missing_benchmark_file_says_where_to_put_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ECLIPSE_BENCH_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("ECLIPSE_BENCH_CACHE", str(tmp_path / "cache"))
    import urllib.request

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["run", "--prior", "tiny-karlo", "--suite", "color", "--limit", "1"]) == 2
    err = _error_line(capsys)
    assert "t2i_compbench/color_val.txt" in err and "ECLIPSE_BENCH_DATA" in err


def test_errors_from_the_console_script_have_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "eclipse_bench", "run", "--prior", "nonsense", "--suite", "color"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "unknown pairing 'nonsense'" in proc.stderr


# -- every failure listed in issue 10: one line, exit 2, no traceback -----------------------------------------

RUN1 = ["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1", "--images-per-prompt", "1",
        "--no-progress"]


def _write(path, text):
    path.write_text(text)
    return str(path)


CASES = {
    "huge seed": (lambda t: RUN1 + ["--seed", str(2 ** 70), "--out", str(t / "o")], "--seed"),
    "unknown device": (lambda t: RUN1 + ["--device", "foo", "--out", str(t / "o")], "--device 'foo'"),
    "mps absent": (lambda t: RUN1 + ["--device", "mps", "--out", str(t / "o")], "--device mps"),
    "config seed abc": (lambda t: ["run", "--config", _write(t / "c.yaml", "prior: tiny-karlo\nsuite: builtin/color\n"
                                                            "seed: abc\n")], "option 'seed' must be an integer"),
    "config limit string": (lambda t: ["run", "--config", _write(t / "c.yaml", "prior: tiny-karlo\n"
                                                                "suite: builtin/color\nlimit: '3'\n")], "'limit'"),
    "config is a directory": (lambda t: ["run", "--config", str(t)], "is a directory"),
    "pairings decoder_id not a string": (
        lambda t: RUN1[:2] + ["x"] + RUN1[3:] + ["--pairings", _write(t / "p.yaml", "pairings:\n  - name: x\n"
                                                                      "    base: tiny-karlo\n    decoder_id: 7\n")],
        "'decoder_id' must be a string"),
    "pairings unknown setting": (
        lambda t: RUN1[:2] + ["y"] + RUN1[3:] + ["--pairings", _write(t / "p.yaml", "pairings:\n  - name: y\n"
                                                                      "    base: tiny-karlo\n    settings: {stepz: 3}\n")],
        "unknown setting 'stepz'"),
    "demo into /proc": (lambda t: ["demo", "--out", "/proc/eclipse-bench-x"], "/proc/eclipse-bench-x"),
    "nan guidance": (lambda t: RUN1 + ["--set", "prior_guidance=nan", "--out", str(t / "o")], "prior_guidance"),
    "NaN guidance": (lambda t: RUN1 + ["--set", "prior_guidance=NaN", "--out", str(t / "o")], "finite number"),
    "metric that does not fit": (lambda t: RUN1 + ["--metric", "hrs-counting", "--out", str(t / "o")],
                                 "does not fit suite builtin/color"),
    "max-drop nan": (lambda t: ["compare", str(t), str(t), "--max-drop", "nan"], "--max-drop"),
}


def _tree(root):
    """Every file and folder under `root`, with the bytes of each file."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", list(CASES))
def test_user_errors_are_one_line(capsys, tmp_path, case):
    build, needle = CASES[case]
    args = build(tmp_path)
    before = _tree(tmp_path)
    capsys.readouterr()
    assert main(args) == 2
    err = _error_line(capsys)
    assert needle in err, err
    assert _tree(tmp_path) == before   # refused before anything was written: no run directory, no image


def test_truncated_image_is_named_and_made_again(capsys, tmp_path):
    """A generated image whose bytes are no longer those recorded is never reused: the rerun names it, makes it
    again and scores the new bytes; what was computed before is kept."""
    out = tmp_path / "run"
    assert main(RUN1 + ["--out", str(out)]) == 0
    (png,) = list((out / "images").glob("*.png"))
    png.write_bytes(png.read_bytes()[:60])
    capsys.readouterr()
    assert main(RUN1 + ["--out", str(out), "--metric", "clip-score"]) == 0
    assert png.name in capsys.readouterr().err and Image.open(png).size == (64, 64)
    assert (out / "evidence" / "vqa.jsonl").is_file()  # nothing computed before is lost


def test_text_encoder_weights_that_do_not_fit_the_config(capsys, tmp_path):
    pairings = _write(tmp_path / "p.yaml", "pairings:\n  - name: bad-text\n    base: tiny-eclipse-kandinsky\n"
                                           "    text_projection_dim: 64\n")
    assert main(["run", "--prior", "bad-text", "--suite", "builtin/color", "--limit", "1", "--images-per-prompt", "1",
                 "--pairings", pairings, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert "CLIPTextModelWithProjection" in err and "tiny:clip-text" in err


def test_an_internal_error_is_one_line_with_a_log(capsys, monkeypatch, tmp_path):
    import eclipse_bench.bench.app.cli as cli

    monkeypatch.setenv("ECLIPSE_BENCH_CACHE", str(tmp_path))

    def boom(a):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(cli.COMMANDS, "list", boom)
    assert main(["list"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "internal error: ZeroDivisionError" in err and "Traceback" not in err
    log = err.split("traceback in ")[1].split(";")[0]
    assert "Traceback" in open(log).read()


def test_preflight_names_every_missing_checkpoint_before_any_image(capsys, tmp_path):
    out = tmp_path / "o"
    assert main(["run", "--prior", "eclipse-kandinsky", "--suite", "builtin/color", "--limit", "1",
                 "--images-per-prompt", "1", "--scorers", "real", "--out", str(out), "--no-progress"]) == 2
    err = _error_line(capsys)
    for hub_id in ("kandinsky-community/kandinsky-2-2-decoder", "ECLIPSE-Community/ECLIPSE_KandinskyV22_Prior",
                   "kandinsky-community/kandinsky-2-2-prior", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
                   "Salesforce/blip-vqa-capfilt-large"):
        assert hub_id in err
    assert "5 checkpoint(s) missing" in err and "HF_HUB_OFFLINE is set" in err
    assert not list(out.glob("images/*.png"))


def test_without_network_the_hub_is_checked_once_and_not_retried(capsys, monkeypatch, tmp_path):
    import socket

    from eclipse_bench.bench.app import preflight

    calls = []

    def refuse(*a, **k):
        calls.append(a)
        raise OSError("network unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    preflight.hub_reachable.cache_clear()
    try:
        assert main(["run", "--prior", "karlo", "--suite", "builtin/color", "--limit", "1", "--images-per-prompt", "1",
                     "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    finally:
        preflight.hub_reachable.cache_clear()
    err = _error_line(capsys)
    assert "unreachable" in err and "HF_HUB_OFFLINE" in err and "kakaobrain/karlo-v1-alpha" in err
    assert len(calls) == 1
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"   # the libraries now fail fast too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
