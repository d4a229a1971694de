"""Content keys of a run's artifacts (a cache you can trust: a changed input never reuses a stale result).

- A sample (one image) is keyed by everything that changes its pixels: the pairing's config with the identity
  of each checkpoint (hub id + the snapshot revision in the local cache, or a local directory's content
  hash), the prompt, the seed, the generation settings and the dtype. The image is stored as
  images/<sample key>.png.
- Images made together in one batch are not independent: batched kernels round each image by its neighbours and
  its position (measured: up to one grey level, docs/performance.md). So a sample made at --batch-size > 1 belongs
  to a fixed batch of the suite's batch plan (batch_plan), and its key names that batch (its members and its
  position in it); an image made alone keeps the plain key. The same key always means the same bytes (on the same
  machine, library versions and thread count: generation.generator.environment).
- An evidence record is keyed by its sample key, the provider's identity (model, its checkpoint revision and
  every setting that changes its output) and the keys of the evidence it builds on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from eclipse_bench.bench.core import tiny
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.paths import cache_dir, is_local, weights_path
from eclipse_bench.bench.core.store import atomic_write_json

BASE_SEED = 42


def image_seed(base: int, n: int) -> int:
    """T2I-CompBench's protocol: image n of a prompt uses seed base + n (42..51 for its 10 images)."""
    return base + n


def digest(obj: Any, n: int = 20) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:n]


def hub_revision(model_id: str) -> Optional[str]:
    """The commit the local Hugging Face cache resolves `model_id` to (refs/main), or None if not cached."""
    from huggingface_hub import constants  # lazy: huggingface_hub

    ref = Path(constants.HF_HUB_CACHE) / f"models--{model_id.replace('/', '--')}" / "refs" / "main"
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def _file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) in the user cache: big weights are hashed once."""
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


MODELSCOPE_FILES = ("config.yaml", "config_bert.json", "vocab.txt", "pytorch_model.bin")


def modelscope_cache(model_id: str) -> Optional[Path]:
    """The ModelScope hub cache's complete copy of a model id ($MODELSCOPE_CACHE, else ~/.cache/modelscope/hub), or
    None."""
    root = Path(os.environ.get("MODELSCOPE_CACHE") or Path.home() / ".cache" / "modelscope" / "hub")
    for cand in (root / model_id, root / "models" / model_id):
        if all((cand / f).is_file() for f in MODELSCOPE_FILES):
            return cand
    return None


def local_fingerprint(model_id: Optional[str], kind: str = "hub") -> Optional[str]:
    """A checkpoint's identity as this machine can tell it without the network: a `tiny:` twin's recipe and the hash
    of what builds it, a local path's content hash, an open_clip release name, or the hub id with the commit the
    local cache resolves it to; None when it is not here (a hub id not downloaded yet, detector weights not fetched
    yet)."""
    if not model_id:
        return None
    if model_id.startswith("tiny:"):
        return tiny.identity(model_id[len("tiny:"):])
    if kind == "open_clip":  # a named release ("ViT-B-32/openai"): fixed weights
        return model_id
    if kind == "detector":
        found = weights_path(model_id)
        return f"file:{content_hash(found)}" if found is not None else None
    if is_local(model_id):
        path = Path(model_id).expanduser()
        return f"local:{content_hash(path)}" if path.exists() else None
    if kind == "modelscope":   # a ModelScope hub id: the content of its cached copy
        found = modelscope_cache(model_id)
        return f"modelscope:{model_id}@{content_hash(found)}" if found is not None else None
    rev = hub_revision(model_id)
    return f"{model_id}@{rev}" if rev else None


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint an invocation loads: a hub id, a local path, a `tiny:` twin, detector weights by file name, or
    an open_clip release ("ViT-B-32/openai")."""
    role: str
    id: str
    kind: str = "hub"      # hub | detector | open_clip | modelscope
    expect: tuple = ()     # files a local directory of this checkpoint must hold (preflight names the first missing)


class Identities:
    """The identity of every checkpoint an invocation uses, for cache keys, resolved once: what this machine holds
    (local_fingerprint), else what the run directory recorded when it was made (a run copied to another machine,
    an emptied model cache), else unresolved (None): the checkpoint must be downloaded before keys can be made,
    so a key never depends on whether the cache happened to hold a checkpoint. `recorded` is the manifest's
    identities.checkpoints."""

    def __init__(self, recorded: Optional[dict] = None):
        self.recorded = {k: v for k, v in (recorded or {}).items() if isinstance(k, str) and isinstance(v, str)}
        self.resolved: dict[str, str] = {}

    def __call__(self, model_id: Optional[str], kind: str = "hub") -> Optional[str]:
        if not model_id:
            return None
        if model_id not in self.resolved:
            fp = local_fingerprint(model_id, kind) or self.recorded.get(model_id)
            if fp is None:
                return None
            self.resolved[model_id] = fp
        return self.resolved[model_id]

    def refresh(self, model_id: str, kind: str = "hub") -> Optional[str]:
        """Resolve again after a download."""
        self.resolved.pop(model_id, None)
        return self(model_id, kind)

    def revision(self, model_id: Optional[str]) -> Optional[str]:
        """The hub commit a hub id is keyed with (loads pin it, so what is loaded is what the key says)."""
        fp = self.resolved.get(model_id or "")
        if fp and model_id and fp.startswith(f"{model_id}@") and not model_id.startswith("tiny:"):
            return fp[len(model_id) + 1:]
        return None

    def record(self) -> dict:
        """For the manifest: every identity used, and those recorded earlier (other metrics' scorers)."""
        return {**self.recorded, **self.resolved}


CHECKPOINT_FIELDS = ("decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id")


WHERE_SETTINGS = ("endpoint",)   # where a served model is reached, not what it makes: never in a key


def pairing_identity(spec: Any, dtype: str, identities: Identities, channels_last: bool = False,
                     fields: Optional[Sequence[str]] = None) -> dict:
    """What changes a pairing's pixels: its config with each checkpoint's identity (`fields`: the checkpoints
    that are loaded, by default the spec's own checkpoint_fields; prior-eval loads fewer), the dtype and the memory
    format. A served model's endpoint is left out (the same model served elsewhere makes the same kind of images)."""
    if fields is None:
        fields = getattr(spec, "checkpoint_fields", CHECKPOINT_FIELDS)
    ident = spec.to_json()
    ident.pop("name", None)          # a renamed pairing with the same config makes the same pixels
    ident.pop("description", None)
    if any(k in ident.get("settings", {}) for k in WHERE_SETTINGS):
        ident["settings"] = {k: v for k, v in ident["settings"].items() if k not in WHERE_SETTINGS}
    ident["checkpoints"] = {k: identities(getattr(spec, k)) for k in CHECKPOINT_FIELDS if k in fields}
    unresolved = [getattr(spec, k) for k in ident["checkpoints"] if getattr(spec, k) and ident["checkpoints"][k] is None]
    if unresolved:
        raise RuntimeError(f"checkpoint identities unresolved: {unresolved} (resolve them before planning keys)")
    ident["dtype"] = dtype
    if channels_last:  # only when set: the keys of default runs stay as they were
        ident["memory_format"] = "channels_last"
    return ident


@dataclass(frozen=True)
class Batch:
    """The batch of a suite's batch plan an image is made in: `members` ((prompt, seed) of every image of the batch,
    in order), the image's `position` among them, the batch's `index` in the plan and the plan's batch `size`."""
    size: int
    index: int
    members: tuple
    position: int


def batch_plan(suite: Any, images_per_prompt: int, base_seed: int, size: int) -> dict[tuple[str, int], Batch]:
    """{(prompt id, n): its Batch}: the whole suite's images in stratified order (prompt by prompt, image n within a
    prompt; the order --limit takes its prefix from) cut into batches of `size`. A function of the suite, the seeds
    and the batch size only, so --limit, shards, a resume, a deleted image and a rerun compute every image in the
    same batch (the images of its batch that a run does not need are computed and discarded)."""
    order = [(item, n) for item in suite.stratified_order() for n in range(images_per_prompt)]
    plan = {}
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        members = tuple((item.prompt, image_seed(base_seed, n)) for item, n in chunk)
        for pos, (item, n) in enumerate(chunk):
            plan[(item.id, n)] = Batch(size, start // size, members, pos)
    return plan


def sample_key(pairing_ident: dict, prompt: str, seed: int, batch: Optional[Batch] = None) -> str:
    fields: dict[str, Any] = {"pairing": pairing_ident, "prompt": prompt, "seed": seed}
    if batch is not None and len(batch.members) > 1:   # made alone: the plain key (--batch-size 1, a lone last image)
        fields["batch"] = {"members": [list(m) for m in batch.members], "position": batch.position}
    return digest(fields)


def evidence_key(sample: str, image_sha256: str, provider_identity: dict, upstream: Sequence[str] = (),
                 inputs: Optional[dict] = None, orientation: Optional[int] = None) -> str:
    """An evidence record's key: the image (its sample key and the sha256 of its bytes: a regenerated image that
    rounds differently gets new evidence), the provider's identity, the keys of the evidence it builds on, and
    exactly the fields of the prompt's spec the provider reads (`inputs`). `orientation`: the EXIF orientation an
    imported image is turned upright by before it is scored (only when it is not 1, so other keys stay as they were)."""
    fields = {"sample": sample, "image": image_sha256, "provider": provider_identity, "upstream": list(upstream),
              "inputs": inputs or {}}
    if orientation:
        fields["orientation"] = orientation
    return digest(fields)


@dataclass
class PlannedSample:
    """One image of a run, planned before any work is done: its content key, its prompt (a prompts.spec.Item), its
    number and seed, its file in the run directory and the batch it is made in (None: a run made before batch plans,
    or an imported image); once its bytes exist, their sha256 (its evidence keys hash it), where it was made
    (`environment`) and, for an imported image, its EXIF orientation and where it came from; its evidence key per
    provider."""
    key: str
    item: Any
    n: int
    seed: Optional[int]
    image: str
    sha256: Optional[str] = None
    orientation: Optional[int] = None
    source: Optional[str] = None
    evidence_keys: dict = field(default_factory=dict)
    batch: Optional[Batch] = None
    batch_size: Optional[int] = None      # the batch plan's size it is made under (kept by rescore, without the plan)
    environment: Optional[str] = None

    @property
    def prompt_id(self) -> str:
        return self.item.id

    @property
    def prompt(self) -> str:
        return self.item.prompt


def plan_samples(suite: Any, spec: Any, images_per_prompt: int, base_seed: int, identities: Identities,
                 dtype: str = "fp32", channels_last: bool = False, batch_size: Optional[int] = None,
                 whole_suite: Any = None) -> list[PlannedSample]:
    """The images a pairing makes for `suite`, each keyed by what changes its pixels: with `batch_size`, the batch of
    the batch plan of `whole_suite` (the suite before --limit) it is made in; None: no plan (runs made by eclipse-bench
    0.2 and earlier keep the keys they were made with)."""
    ident = pairing_identity(spec, dtype, identities, channels_last)
    plan = batch_plan(whole_suite or suite, images_per_prompt, base_seed, batch_size) if batch_size else {}
    samples = []
    for item in suite.items:
        for n in range(images_per_prompt):
            samples.append(PlannedSample("", item, n, image_seed(base_seed, n), "", batch=plan.get((item.id, n))))
    rekey(samples, ident)
    return samples


def rekey(samples: list[PlannedSample], pairing_ident: dict, plan: Optional[dict] = None) -> None:
    """Give each sample its key and image path (after moving it to the batch `plan` gives it, where given)."""
    for s in samples:
        if plan is not None:
            s.batch = plan[(s.prompt_id, s.n)]
            s.sha256 = None
        s.batch_size = s.batch.size if s.batch is not None else None
        s.key = sample_key(pairing_ident, s.prompt, s.seed, s.batch)
        s.image = f"images/{s.key}.png"


def inside(run_dir: Path, relpath: str) -> Path:
    """A path read from a run file, resolved inside the run directory; anything else is refused."""
    root = Path(run_dir).resolve()
    p = (root / relpath).resolve()
    if os.path.commonpath([root, p]) != str(root):
        raise UserError(f"{run_dir}: a run file names {relpath!r}, outside the run directory; the run directory "
                        f"is damaged or not from eclipse-bench")
    return p
