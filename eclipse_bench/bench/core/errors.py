"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Iterable

from eclipse_bench.bench.core.paths import cache_dir


class UserError(Exception):
    """A failure caused by the user's input; its message names the input and the fix."""

    exit_code = 2


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C (writers finish what they hold), then one line and 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> UserError:
    """Build the error for an unknown registry name, with close matches first."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UserError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(valid)}")


def write_crash_log(exc: BaseException):
    """Write the traceback of an unexpected error to a log file; its path goes into the one-line message."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for folder in (cache_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"eclipse-bench-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            # the command line may hold bytes that are not UTF-8 (a path's name): written escaped, never raised
            path.write_text(f"eclipse-bench {' '.join(sys.argv)}\n{text}", encoding="utf-8", errors="backslashreplace")
            return path
        except Exception:  # noqa: BLE001 - the crash log must never be what crashes
            continue
    return None
