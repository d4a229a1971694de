"""What a run directory is to a new invocation: its default place, who owns it, the identities it recorded, and the
versions and revision a manifest records."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.schema import Manifest, read_manifest


def default_out(pairing: str, suite: Any) -> Path:
    """runs/<pairing>/<suite>; a user suite file adds a hash of its resolved path, so two files with one name
    (two prompts.jsonl) never share a run directory."""
    name = suite.name.replace("/", "__").replace("@", "_").replace(":", "_")
    if suite.name.startswith("file:"):
        from eclipse_bench.bench.core.keys import digest

        name += f"-{digest(str(suite.source), 8)}"
    return Path("runs") / pairing / name


def existing_manifest(out: Path) -> Optional[Manifest]:
    """The manifest of a run directory, or None where there is none yet."""
    return read_manifest(out) if (Path(out) / "manifest.json").is_file() else None


def check_owner(out: Path, pairing: str, suite: str) -> Optional[Manifest]:
    """A run directory belongs to one pairing and one suite; returns its manifest (None for a new directory)."""
    m = existing_manifest(out)
    if m is not None and (m.pairing_name, m.suite.name) != (pairing, suite):
        raise UserError(f"{out} holds a run of pairing {m.pairing_name!r} on suite {m.suite.name!r}, not {pairing!r} "
                        f"on {suite!r}; use another --out (images and evidence are never mixed across runs)")
    return m


def merge_provider_identities(previous: Optional[dict], scorers: str, current: dict) -> dict:
    """manifest identities.providers: {scorers: {provider: identity}}, this run's added to those recorded before (a
    rescore with another metric keys that metric's evidence from them, without any model cache)."""
    out = {k: dict(v) for k, v in (previous or {}).items() if isinstance(v, dict)}
    out.setdefault(scorers, {}).update(current)
    return out


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
