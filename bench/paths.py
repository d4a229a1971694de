"""Where eclipse-bench keeps things outside a run directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """User cache: $ECLIPSE_BENCH_CACHE, else $XDG_CACHE_HOME/eclipse-bench, else ~/.cache/eclipse-bench."""
    env = os.environ.get("ECLIPSE_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "eclipse-bench"
