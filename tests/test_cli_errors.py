"""Every failure a user can cause: one line naming the input and the fix, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eclipse_bench.cli import main


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
