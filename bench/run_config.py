"""A run's configuration and identity: options with their validation, the default run directory, versions for
the manifest, and who owns a run directory."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.errors import UserError
from eclipse_bench.keys import BASE_SEED


@dataclass
class RunConfig:
    pairing: str
    suite: str
    split: str = "val"
    out: Optional[Path] = None
    limit: Optional[int] = None
    limit_mode: str = "stratified"         # or "first"
    images_per_prompt: Optional[int] = None
    seed: int = BASE_SEED
    batch_size: Any = 4                    # int or "auto"
    device: Optional[str] = None
    dtype: str = "fp32"
    metric: Optional[str] = None
    scorers: Optional[str] = None          # "real" | "tiny"; default: tiny with tiny pairings
    reference_compat: bool = False
    channels_last: bool = False           # UNets and MoVQ in channels_last memory format (faster convs)
    progress: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    prior_checkpoint: Optional[str] = None
    decoder_checkpoint: Optional[str] = None
    shard: Optional[tuple[int, int]] = None   # (index, count), index 0-based; for job arrays

    def validate(self) -> None:
        for name, value in (("--limit", self.limit), ("--images-per-prompt", self.images_per_prompt)):
            if value is not None and int(value) < 1:
                raise UserError(f"{name} must be at least 1 (got {value})")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise UserError(f"--batch-size must be a positive integer or 'auto' (got {self.batch_size!r})")
        if self.scorers not in (None, "real", "tiny"):
            raise UserError(f"--scorers must be 'real' or 'tiny' (got {self.scorers!r})")
        if self.shard is not None:
            i, n = self.shard
            if not (n >= 1 and 0 <= i < n):
                raise UserError(f"--shard {i + 1}/{n}: expected I/N with 1 <= I <= N")
        if not (0 <= self.seed <= MAX_SEED):
            raise UserError(f"--seed {self.seed}: must be between 0 and {MAX_SEED} (image n uses seed + n)")
        if self.limit_mode not in ("stratified", "first"):
            raise UserError(f"--limit-mode {self.limit_mode!r}: use stratified or first")
        if self.dtype not in ("fp32", "fp16", "bf16"):
            raise UserError(f"--dtype {self.dtype!r}: use fp32, fp16 or bf16")
        if self.device is not None:
            check_device(self.device)


MAX_SEED = 2 ** 63 - 1 - 10_000   # torch generators take 64-bit seeds; image n adds n


def check_device(device: str) -> None:
    """A device string torch understands and this machine has; else a one-line error."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device!r}: not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"--device {device}: Apple MPS is not available here; use --device cpu")
    elif dev.type != "cpu":
        raise UserError(f"--device {device}: eclipse-bench runs on cpu, cuda or mps")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' (1-based, as job arrays count) -> (1, 4)."""
    i, sep, n = text.partition("/")
    try:
        i_, n_ = int(i), int(n)
    except ValueError:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. --shard 1/4") from None
    if not sep or not (1 <= i_ <= n_):
        raise UserError(f"--shard {text!r}: expected I/N with 1 <= I <= N")
    return i_ - 1, n_


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "diffusers", "transformers", "open_clip_torch", "ultralytics", "numpy", "scipy",
                 "pandas", "huggingface_hub", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> Optional[str]:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() or None if rev.returncode == 0 else None


def default_out(pairing: str, suite: Any) -> Path:
    """runs/<pairing>/<suite>; a user suite file adds a hash of its resolved path, so two files with one name
    (two prompts.jsonl) never share a run directory."""
    name = suite.name.replace("/", "__").replace("@", "_").replace(":", "_")
    if suite.name.startswith("file:"):
        from eclipse_bench.keys import digest

        name += f"-{digest(str(suite.source), 8)}"
    return Path("runs") / pairing / name


def recorded_identities(out: Path) -> dict:
    """The identities a run directory recorded (manifest identities: checkpoints, providers), or {}."""
    path = Path(out) / "manifest.json"
    if not path.is_file():
        return {}
    try:
        ident = json.loads(path.read_text(encoding="utf-8")).get("identities") or {}
    except (ValueError, AttributeError, OSError):
        return {}
    return ident if isinstance(ident, dict) else {}


def merge_provider_identities(previous: Optional[dict], scorers: str, current: dict) -> dict:
    """manifest identities.providers: {scorers: {provider: identity}}, this run's added to those recorded before (a
    rescore with another metric keys that metric's evidence from them, without any model cache)."""
    out = {k: dict(v) for k, v in (previous or {}).items() if isinstance(v, dict)}
    out.setdefault(scorers, {}).update(current)
    return out


def check_owner(out: Path, pairing: str, suite: str) -> None:
    """A run directory belongs to one pairing and one suite."""
    path = out / "manifest.json"
    if not path.is_file():
        return
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        theirs = (m["pairing"]["name"], m["suite"]["name"])
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is damaged (not an eclipse-bench manifest); use another --out") from None
    if theirs != (pairing, suite):
        raise UserError(f"{out} holds a run of pairing {theirs[0]!r} on suite {theirs[1]!r}, not {pairing!r} on "
                        f"{suite!r}; use another --out (images and evidence are never mixed across runs)")


RUN_OPTIONS = ("pairing", "suite", "split", "out", "limit", "limit_mode", "images_per_prompt", "seed", "batch_size", "device",
               "dtype", "channels_last", "metric", "scorers", "reference_compat", "set", "prior_checkpoint",
               "decoder_checkpoint", "pairings", "shard", "no_progress")
RUN_DEFAULTS = {"split": "val", "seed": 42, "batch_size": 4, "dtype": "fp32", "channels_last": False,
                "reference_compat": False, "limit_mode": "stratified",
                "no_progress": False}


def load_config_file(path: Optional[Path]) -> dict:
    """`--config run.yaml`: run options keyed like the long flags, each checked for its type."""
    if path is None:
        return {}
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"--config {path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"--config {path}: is a directory; pass a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--config {path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise UserError(f"--config {path}: expected a mapping of option: value")
    known = set(RUN_OPTIONS)
    out = {}
    for k, v in doc.items():
        key = str(k).replace("-", "_")
        key = "pairing" if key == "prior" else key
        if key not in known or key == "config":
            raise UserError(f"--config {path}: unknown option {k!r}")
        want = CONFIG_TYPES.get(key, str)
        ok = isinstance(v, want) and not (isinstance(v, bool) and want is int) or v is None
        if key == "batch_size":
            ok = v == "auto" or (isinstance(v, int) and not isinstance(v, bool))
        if key == "set":
            ok = isinstance(v, (dict, list, str))
        if not ok:
            kind = {int: "an integer", bool: "true or false", str: "a string"}.get(want, "a string")
            raise UserError(f"--config {path}: option {k!r} must be {kind}" +
                            (" or 'auto'" if key == "batch_size" else "") + f" (got {v!r})")
        out[key] = v
    return out


CONFIG_TYPES = {"limit": int, "images_per_prompt": int, "seed": int, "reference_compat": bool, "channels_last": bool,
                "no_progress": bool}
