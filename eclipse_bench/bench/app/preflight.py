"""Preflight: before any image is generated, every checkpoint the invocation needs is resolved.

Pairing checkpoints (hub ids, local directories, tiny twins) and scorer models are checked together, so a
user learns about every missing one in one message instead of one per attempt, and never after hours of
generation. Without network the hub is not retried for minutes: the check notices once and switches the
libraries to offline mode.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlparse

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import hub_revision, modelscope_cache
from eclipse_bench.bench.core.paths import cache_dir, is_local, weights_path
from eclipse_bench.bench.generation.pairings import FAMILIES


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connection to the Hugging Face endpoint (no retries)."""
    from huggingface_hub import constants  # lazy: huggingface_hub

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no")


def go_offline() -> None:
    """Make huggingface_hub and the libraries on top of it fail fast instead of retrying."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants  # lazy: huggingface_hub

        constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover
        pass


def pairing_checkpoints(spec, prior_only: bool = False) -> list:
    """Every checkpoint a pairing loads (with prior_only: what prior-eval loads), from its family."""
    return FAMILIES.get(spec.family).checkpoints(spec, prior_only)


def missing(ck) -> Optional[str]:
    """Why a checkpoint (eclipse_bench.bench.core.keys.Checkpoint) cannot be had locally, or None when it can."""
    if ck.id.startswith("tiny:"):
        return None
    if ck.kind == "detector":
        return None if weights_path(ck.id) else f"not in {cache_dir() / 'weights'}"
    if ck.kind == "open_clip":
        import open_clip  # lazy: open_clip

        name, _, tag = ck.id.partition("/")
        repo = ((open_clip.get_pretrained_cfg(name, tag) or {}).get("hf_hub") or "").strip("/")
        return None if not repo or hub_revision(repo) else f"not in the Hugging Face cache (as {repo})"
    if ck.kind == "modelscope" and not is_local(ck.id):
        return None if modelscope_cache(ck.id) else "not in the ModelScope cache"
    if is_local(ck.id):
        path = Path(ck.id).expanduser()
        if not path.exists():
            return "no such directory"
        if not path.is_dir():
            return "is a file, not a checkpoint directory (a folder saved with save_pretrained)"
        lacking = [e for e in ck.expect if not (path / e).is_file()]
        if lacking:
            return f"not a checkpoint of this kind: it lacks {lacking[0]} (a folder saved with save_pretrained)"
        return None
    return None if hub_revision(ck.id) else "not in the Hugging Face cache"


def preflight(checkpoints: Iterable = (), nothing: str = "nothing was generated", scorers: str = "") -> None:
    """Raise one UserError naming every checkpoint that is missing where it cannot be downloaded. Online, missing
    checkpoints are left to the loaders, which download exactly the files they load."""
    wanted: dict = {}
    for ck in checkpoints:   # one checkpoint named once, whatever roles it plays
        wanted.setdefault(ck.id, ck)
    absent = [(ck, why) for ck in wanted.values() if (why := missing(ck))]
    local = [m for m in absent if is_local(m[0].id)]
    if local:
        ck, why = local[0]
        raise UserError(f"{ck.role} checkpoint {ck.id}: {why}; pass an existing directory or a hub id")
    if not absent:
        return
    if offline_env():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable():
        go_offline()
        reason = ("the Hugging Face hub is unreachable from here (checked once; set HF_HUB_OFFLINE=1 to skip the "
                  "check)")
    else:
        return  # online: the libraries download what is missing
    names = "; ".join(f"{ck.role} {ck.id}" for ck, _ in absent)
    kinds = {ck.kind for ck, _ in absent}
    fixes = []
    if kinds & {"hub", "open_clip"}:
        first = next((ck.id for ck, _ in absent if ck.kind == "hub"), None)
        fixes.append("pre-download on a connected machine" + (f" (`hf download {first}` ...)" if first else "") +
                     " and copy ~/.cache/huggingface here")
    if "modelscope" in kinds:
        first = next(ck.id for ck, _ in absent if ck.kind == "modelscope")
        fixes.append(f"`modelscope download --model {first}` on a connected machine and copy ~/.cache/modelscope here")
    if "detector" in kinds:
        fixes.append(f"put detector weights in {cache_dir() / 'weights'}")
    if scorers == "real":
        fixes.append("or score with the offline twins, --scorers tiny (plumbing only, not a measurement)")
    raise UserError(f"{len(absent)} checkpoint(s) missing and {reason}: {names}; {'; '.join(fixes)} ({nothing})")
