"""Tiny random-weight twins, the mechanism: a `tiny:NAME` id is built once from configs under a fixed seed,
saved with save_pretrained into the user cache and loaded back through the same loader as a hub id.

Builders live with what they stand in for (a pairing family module, an evidence provider module) and register
here with `register_tiny`; the generic building blocks below (a tiny CLIP text tower, a tiny prior) are shared.
Same classes as the real checkpoints, tiny dimensions; shapes follow diffusers' own fast tests.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from eclipse_bench.bench.core.errors import unknown_name
from eclipse_bench.bench.core.paths import cache_dir

RECIPE = "v6"  # part of every twin's identity (kept so that keys stay stable); `recipe_hash` tells builds apart
HIDDEN = 32
BUILDERS: dict[str, Callable[[Path], None]] = {}
USES: dict[str, tuple[str, ...]] = {}
# Libraries whose versions change what a builder makes (their random init and save formats).
LIBRARIES = ("torch", "transformers", "diffusers", "open_clip_torch", "ultralytics", "tokenizers")


def register_tiny(name: str, builder: Callable[[Path], None], uses: Sequence[str] = ()) -> Callable[[Path], None]:
    """Make `tiny:NAME` buildable (called by the module that defines the twin, at import). `uses`: the other
    modules of ours whose code the builder runs (this one, the tokenizer builders and the builder's own module are
    always counted), so that editing any of them builds the twin again and changes its identity."""
    BUILDERS[name] = builder
    USES[name] = (builder.__module__, *uses)
    return builder


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


@functools.lru_cache(maxsize=None)
def recipe_hash(name: str) -> str:
    """What makes twin `name`'s weights: the bytes of the modules that build it and the versions of the libraries
    that initialise them. A twin is cached and keyed under it, so a changed builder can never be served from a stale
    cache, nor its evidence reused under the old key (a hand-bumped recipe number alone once let that happen)."""
    h = hashlib.sha256()
    for mod in (__name__, "eclipse_bench.bench.core.tokenizers", *USES[name]):
        __import__(mod)
        h.update(f"{mod}\n".encode() + Path(sys.modules[mod].__file__).read_bytes())
    for dist in LIBRARIES:
        h.update(f"{dist}={_version(dist)}\n".encode())
    return h.hexdigest()[:12]


def _known(name: str) -> None:
    if name not in BUILDERS:
        raise unknown_name("tiny model", name, BUILDERS)  # its defining module registers it when imported


def identity(name: str) -> str:
    """`tiny:NAME`'s identity in cache keys: the recipe and the hash of what builds it."""
    _known(name)
    return f"tiny:{name}@{RECIPE}-{recipe_hash(name)}"


def tiny_clip_text(seed: int = 0, hidden: int = HIDDEN):
    import torch  # lazy: torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection  # lazy: transformers

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(hidden_size=hidden, projection_dim=hidden, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=5, vocab_size=49408, max_position_embeddings=77,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, layer_norm_eps=1e-5)
    return CLIPTextModelWithProjection(cfg).eval()


# The decoder twins' schedulers predict the clean sample (x0) where the real Karlo and Kandinsky 2.2 decoders predict
# the noise. A random network cannot predict noise: with "epsilon" every step divides its error by sqrt(alpha_bar)
# (~0.005 at t=999), the clipped x0 is the sign of the noise and the image ignores its conditioning (measured with
# the deaf twins of an earlier build: 70% of Karlo pixels at 0 or 255, two prompts moving 0.1-0.4% of pixels). With x0 prediction the UNet's
# own output is the image, so its conditioning shows (tests/test_twins.py holds every twin to that). The loops and
# classes are the real ones; the scheduler computes the step from whichever prediction the config names.
TWIN_PREDICTION = "sample"


def tiny_diffusion_prior():
    import torch  # lazy: torch
    from diffusers import PriorTransformer  # lazy: diffusers

    torch.manual_seed(0)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=HIDDEN, num_layers=1)
    with torch.no_grad():
        prior.clip_std.fill_(1.0)  # random init leaves clip_std = 0 and every embedding zero
    return prior.eval()


def materialise(name: str) -> Path:
    """Path of the saved tiny twin `name`, building it on first use (atomic: built aside, then renamed)."""
    _known(name)
    root = cache_dir() / "tiny"
    target = root / f"{name}-{RECIPE}-{recipe_hash(name)}"
    if (target / ".complete").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        BUILDERS[name](tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / ".complete").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(model_id: str) -> str:
    """`tiny:NAME` -> the local directory of that twin; any other id is returned as is."""
    if model_id.startswith("tiny:"):
        return str(materialise(model_id[len("tiny:"):]))
    return model_id
