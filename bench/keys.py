"""Content keys of a run's artifacts (a cache you can trust: a changed input never reuses a stale result).

- A sample (one image) is keyed by everything that changes its pixels: the pairing's config with the identity
  of each checkpoint (hub id + the snapshot revision in the local cache, or a local directory's content
  hash), the prompt, the seed, the generation settings and the dtype. The image is stored as
  images/<sample key>.png.
- An evidence record is keyed by its sample key, the provider's identity (model, its checkpoint revision and
  every setting that changes its output) and the keys of the evidence it builds on.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

BASE_SEED = 42


def image_seed(base: int, n: int) -> int:
    """T2I-CompBench's protocol: image n of a prompt uses seed base + n (42..51 for its 10 images)."""
    return base + n


def digest(obj: Any, n: int = 20) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:n]


def hub_revision(model_id: str) -> Optional[str]:
    """The commit the local Hugging Face cache resolves `model_id` to (refs/main), or None if not cached."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        return None
    ref = Path(constants.HF_HUB_CACHE) / f"models--{model_id.replace('/', '--')}" / "refs" / "main"
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def _file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) in the user cache: big weights are hashed once."""
    from eclipse_bench.paths import cache_dir

    st = path.stat()
    memo_path = cache_dir() / "file-hashes.json"
    tag = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if tag in memo:
        return memo[tag]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    memo[tag] = h.hexdigest()
    try:
        from eclipse_bench.store import atomic_write_json

        atomic_write_json(memo_path, memo)
    except OSError:  # a read-only cache only costs re-hashing
        pass
    return memo[tag]


def content_hash(path: Path) -> str:
    """A directory's (or file's) content hash: relative names and file contents."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(path) if path.is_dir() else f.name}:{_file_sha256(f)}\n".encode())
    return h.hexdigest()[:16]


def checkpoint_fingerprint(model_id: Optional[str]) -> Optional[str]:
    """Identity of a checkpoint for cache keys: `tiny:` twin + recipe, a local path's content hash, or the hub id
    with the revision the local cache resolves it to."""
    if not model_id:
        return None
    if model_id.startswith("tiny:"):
        from eclipse_bench.models.tiny import RECIPE

        return f"{model_id}@{RECIPE}"
    path = Path(model_id).expanduser()
    if path.exists():
        return f"local:{content_hash(path)}"
    rev = hub_revision(model_id)
    return f"{model_id}@{rev}" if rev else model_id


def pairing_identity(spec: Any, dtype: str, channels_last: bool = False) -> dict:
    ident = spec.to_json()
    ident.pop("name", None)          # a renamed pairing with the same config makes the same pixels
    ident.pop("description", None)
    ident["checkpoints"] = {k: checkpoint_fingerprint(getattr(spec, k)) for k in
                            ("decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id")}
    ident["dtype"] = dtype
    if channels_last:  # only when set: the keys of default runs stay as they were
        ident["memory_format"] = "channels_last"
    return ident


def sample_key(pairing_ident: dict, prompt: str, seed: int) -> str:
    return digest({"pairing": pairing_ident, "prompt": prompt, "seed": seed})


def evidence_key(sample: str, provider_identity: dict, upstream: Sequence[str] = ()) -> str:
    return digest({"sample": sample, "provider": provider_identity, "upstream": list(upstream)})


def plan_samples(suite: Any, spec: Any, images_per_prompt: int, base_seed: int, dtype: str = "fp32",
                 channels_last: bool = False) -> list[dict]:
    ident = pairing_identity(spec, dtype, channels_last)
    samples = []
    for item in suite.items:
        for n in range(images_per_prompt):
            seed = image_seed(base_seed, n)
            key = sample_key(ident, item.prompt, seed)
            samples.append({"key": key, "prompt_id": item.id, "prompt": item.prompt, "n": n, "seed": seed,
                            "image": f"images/{key}.png", "item": item})
    return samples


def inside(run_dir: Path, relpath: str) -> Path:
    """A path read from a run file, resolved inside the run directory; anything else is refused."""
    from eclipse_bench.errors import UserError

    root = Path(run_dir).resolve()
    p = (root / relpath).resolve()
    if os.path.commonpath([root, p]) != str(root):
        raise UserError(f"{run_dir}: a run file names {relpath!r}, outside the run directory; the run directory "
                        f"is damaged or not from eclipse-bench")
    return p
