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


def is_local(model_id: str) -> bool:
    """The one rule for "is this checkpoint id a local path" (never a hub id): it starts with '.', '/' or '~', or it
    names something that exists on this machine."""
    return model_id.startswith((".", "/", "~")) or os.path.exists(os.path.expanduser(model_id))


def weights_path(name: str) -> "Path | None":
    """Detector weights (a file such as yolo11x-seg.pt): an explicit path (absolute, or with a directory part), or a
    bare file name in the user cache's weights/ folder. A bare name is never looked up in the working directory, so
    a file planted there is never unpickled; the library's own download-by-name (which writes and reads the
    working directory) is not used either."""
    explicit = Path(name).expanduser()
    if explicit.is_absolute() or len(explicit.parts) > 1:
        return explicit if explicit.is_file() else None
    cached = cache_dir() / "weights" / name
    return cached if cached.is_file() else None
