"""What a run directory is to a new invocation: its default place, who owns it, the identities it recorded, and the
versions and revision a manifest records, and where a reader may write its output (never into a run)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Optional, Sequence

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import digest
from eclipse_bench.bench.core.schema import Manifest, read_manifest
from eclipse_bench.bench.core.state import PENDING_MANIFEST


def path_part(text: str) -> str:
    """A pairing, suite or checkpoint name as one folder name ("a/b@c:d" -> "a__b_c_d")."""
    return text.replace("/", "__").replace("@", "_").replace(":", "_")


def default_out(pairing: str, suite: Any) -> Path:
    """runs/<pairing>/<suite>; a user suite file adds a hash of its resolved path, so two files with one name
    (two prompts.jsonl) never share a run directory."""
    name = path_part(suite.name)
    if suite.name.startswith("file:"):
        name += f"-{digest(str(suite.source), 8)}"
    return Path("runs") / path_part(pairing) / name


def manifests(out: Path) -> list[Manifest]:
    """The directory's finished manifest and the plan of an unfinished rerun, those that exist. A damaged plan is
    passed over (this invocation writes its own); a damaged manifest is an error with the way out."""
    out = Path(out)
    found = []
    for name in ("manifest.json", PENDING_MANIFEST):
        if not (out / name).is_file():
            continue
        try:
            found.append(read_manifest(out, name))
        except UserError as exc:
            if name == PENDING_MANIFEST:
                continue
            raise UserError(f"{exc}; restore it from a copy, or move it aside (`mv {out / name} "
                            f"{out / 'manifest.damaged.json'}`) and rerun: images and evidence are reused") from None
    return found


def check_owner(out: Path, pairing: str, suite: str) -> Optional[Manifest]:
    """A run directory belongs to one pairing and one suite; returns its finished manifest (None where none)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; choose a directory")
    for name in ("manifest.json", PENDING_MANIFEST, "results.json", "samples.jsonl", "report.html", "finished.json",
                 "images.jsonl"):
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"{out / name} is not a file (a directory?), where the run keeps its {name}; remove it, "
                            f"then rerun (nothing was done)")
    found = manifests(out)
    for m in found:
        if (m.pairing_name, m.suite.name) != (pairing, suite):
            raise UserError(f"{out} holds a run of pairing {m.pairing_name!r} on suite {m.suite.name!r}, not "
                            f"{pairing!r} on {suite!r}; use another --out (images and evidence are never mixed)")
    return found[0] if found and (out / "manifest.json").is_file() else None


def recorded_identities(out: Path) -> dict:
    """Every identity the directory recorded (finished and pending manifests), for keys (eclipse_bench.bench.core.keys
    .Identities) and rescore."""
    merged: dict = {"checkpoints": {}, "providers": {}}
    for m in manifests(out):
        merged["checkpoints"].update(m.identities.get("checkpoints") or {})
        for scorers, idents in (m.identities.get("providers") or {}).items():
            merged["providers"].setdefault(scorers, {}).update(idents or {})
    return merged


def merge_provider_identities(previous: Optional[dict], scorers: str, current: dict) -> dict:
    """manifest identities.providers: {scorers: {provider: identity}}, this run's added to those recorded before (a
    rescore with another metric keys that metric's evidence from them, without any model cache)."""
    out = {k: dict(v) for k, v in (previous or {}).items() if isinstance(v, dict)}
    out.setdefault(scorers, {}).update(current)
    return out


def package_versions() -> dict[str, str]:
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


def output_file(path: Optional[Path], flag: str, reads: Sequence[Path] = (), folder: bool = False) -> Optional[Path]:
    """A file (folder=True: a folder, made if missing) to write: a file not a directory, in a folder that exists
    (nothing is created silently), and never inside a run directory the command reads (links followed): a reader never
    writes into a run. None stays None (the flag was not given)."""
    if path is None:
        return None
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder for the plots")
    if not folder and path.is_dir():
        raise UserError(f"{flag} {path} is a directory; give a file name (e.g. {path / 'report.html'})")
    if not folder and not path.parent.is_dir():
        raise UserError(f"{flag} {path}: its folder {path.parent} does not exist; create it first")
    target = path.resolve()
    for run in reads:
        root = Path(run).resolve()
        if target == root or root in target.parents:
            raise UserError(f"{flag} {path} is inside the run directory {run}, which this command reads; a finished run "
                            f"is never written into: choose a path outside it (nothing was written)")
    return path
