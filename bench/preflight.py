"""Preflight: before any image is generated, every checkpoint the invocation needs is resolved.

Pairing checkpoints (hub ids, local directories, tiny twins) and scorer models are checked together, so a
user learns about every missing one in one message instead of one per attempt, and never after hours of
generation. Without network the hub is not retried for minutes: the check notices once and switches the
libraries to offline mode.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterable, Optional

from eclipse_bench.errors import UserError


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connection to the Hugging Face endpoint (no retries)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

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
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover
        pass


def _hub_cached(repo_id: str) -> bool:
    from eclipse_bench.keys import hub_revision

    return hub_revision(repo_id) is not None


def _looks_local(model_id: str) -> bool:
    return model_id.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(model_id))


def pairing_checkpoints(spec) -> list[tuple[str, str]]:
    """(role, id) of every checkpoint a pairing loads."""
    roles = (("decoder", spec.decoder_id), ("prior", spec.prior_id), ("prior pipeline", spec.prior_pipeline_id),
             ("text encoder", spec.text_encoder_id))
    return [(r, i) for r, i in roles if i]


def scorer_checkpoints(provider: str, model_id: str) -> list[tuple[str, str, str]]:
    """(role, id, kind) of a scorer's checkpoints; kind: hub | detector | open_clip."""
    out = []
    for part in filter(None, model_id.split("|")):
        if part.startswith("tiny:"):
            continue
        if provider == "detect":
            out.append((f"{provider} weights", part, "detector"))
        elif provider in ("clip", "color"):
            out.append((f"{provider} model", part, "open_clip"))
        else:
            out.append((f"{provider} model", part, "hub"))
    return out


def _missing(model_id: str, kind: str = "hub") -> Optional[str]:
    """Why a checkpoint cannot be had locally, or None when it can."""
    if model_id.startswith("tiny:"):
        return None
    if kind == "detector":
        from eclipse_bench.metrics.detect import _weights_path
        from eclipse_bench.paths import cache_dir

        return None if _weights_path(model_id) else f"not in {cache_dir() / 'weights'}"
    if kind == "open_clip":
        import open_clip

        name, _, tag = model_id.partition("/")
        repo = ((open_clip.get_pretrained_cfg(name, tag) or {}).get("hf_hub") or "").strip("/")
        return None if not repo or _hub_cached(repo) else f"not in the Hugging Face cache (as {repo})"
    if _looks_local(model_id):
        return None if Path(model_id).expanduser().exists() else "no such directory"
    return None if _hub_cached(model_id) else "not in the Hugging Face cache"


def preflight(pairing_spec=None, scorers: Iterable[tuple[str, str]] = ()) -> None:
    """Raise one UserError naming every checkpoint that is missing where it cannot be downloaded."""
    wanted: list[tuple[str, str, str]] = []
    if pairing_spec is not None:
        wanted += [(role, mid, "hub") for role, mid in pairing_checkpoints(pairing_spec)]
    for provider, model_id in scorers:
        wanted += scorer_checkpoints(provider, model_id)
    missing = [(role, mid, why) for role, mid, kind in wanted if (why := _missing(mid, kind))]
    local = [m for m in missing if _looks_local(m[1])]
    if local:
        role, mid, why = local[0]
        raise UserError(f"{role} checkpoint {mid}: {why}; pass an existing directory or a hub id")
    if not missing:
        return
    if offline_env():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable():
        go_offline()
        reason = ("the Hugging Face hub is unreachable from here (checked once; set HF_HUB_OFFLINE=1 to skip the "
                  "check)")
    else:
        return  # online: the libraries download what is missing
    names = "; ".join(f"{role} {mid}" for role, mid, _ in missing)
    missing_ids = {mid for _, mid, _ in missing}
    kinds = {kind for _, mid, kind in wanted if mid in missing_ids}
    fixes = []
    if kinds & {"hub", "open_clip"}:
        first = next(mid for _, mid, kind in wanted if mid in missing_ids and kind == "hub") if "hub" in kinds else None
        fixes.append("pre-download on a connected machine" + (f" (`hf download {first}` ...)" if first else "") +
                     " and copy ~/.cache/huggingface here")
    if "detector" in kinds:
        from eclipse_bench.paths import cache_dir

        fixes.append(f"put detector weights in {cache_dir() / 'weights'}")
    raise UserError(f"{len(missing)} checkpoint(s) missing and {reason}: {names}; {'; '.join(fixes)} "
                    f"(nothing was generated)")
