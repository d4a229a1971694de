"""Finished or not, complete or not: the one marker a finished run writes last, and the checks every reader of a
run directory makes before it trusts what it reads (every sample there, every image intact)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.schema import (SCHEMA_VERSION, ImageRecord, Sample, load_json, migrated, read_all,
                                             read_manifest, read_records, read_results)
from eclipse_bench.bench.core.store import atomic_write_json


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finished_marker(run_dir: Path, suffix: str = "") -> Path:
    return Path(run_dir) / f"finished{suffix}.json"


def write_finished(run_dir: Path, n_samples: int, suffix: str = "") -> None:
    """The one marker a finished run writes last: the manifest and results it belongs to (their sha256) and the
    number of samples scored. Until it is written (and while they match it) the directory's previous finished state
    is what readers see; a rerun writes its plan to manifest.next.json meanwhile."""
    run_dir = Path(run_dir)
    atomic_write_json(finished_marker(run_dir, suffix), {
        "schema_version": SCHEMA_VERSION, "manifest": file_sha256(run_dir / "manifest.json"),
        "results": file_sha256(run_dir / f"results{suffix}.json"), "samples": n_samples})


def unfinished_reason(run_dir: Path, suffix: str = "") -> Optional[str]:
    """Why a run directory is not a finished run (None when it is)."""
    run_dir = Path(run_dir)
    results = run_dir / f"results{suffix}.json"
    if not (run_dir / "manifest.json").is_file():
        pending = (run_dir / "manifest.next.json").is_file()
        return "its first run never finished" if pending else "no manifest.json: not an eclipse-bench run directory"
    if not results.is_file():
        return "no results: it never finished"
    manifest = read_manifest(run_dir)          # both read through the schema first: damage is named as damage
    read_results(run_dir, results.name)
    marker = finished_marker(run_dir, suffix)
    if not marker.is_file():
        if migrated(manifest):
            return None   # eclipse-bench 0.1 wrote no marker: a directory with results is what it left finished
        return "it was interrupted before it finished"
    doc = load_json(marker, "finished marker")
    if doc.get("manifest") != file_sha256(run_dir / "manifest.json") or doc.get("results") != file_sha256(results):
        return "its manifest or results changed after it finished"
    return None


def require_finished(run_dir: Path, suffix: str = "", what: str = "read") -> None:
    why = unfinished_reason(run_dir, suffix)
    if why is not None:
        raise UserError(f"{run_dir} is unfinished ({why}): rerun the same `eclipse-bench run` command to finish it, "
                        f"then {what} it")


def expected_samples(run_dir: Path, suffix: str = "") -> Optional[int]:
    """How many samples the finished run scored (its marker, or results for 0.1 runs)."""
    marker = finished_marker(run_dir, suffix)
    if marker.is_file():
        return int(load_json(marker, "finished marker").get("samples", 0))
    r = read_results(run_dir, f"results{suffix}.json")
    return r.n_images + r.n_unscorable


def read_samples(run_dir: Path, suffix: str = "") -> list:
    """samples.jsonl of a finished run, all of them: a missing file or record (a torn or cut file) is an error, never
    a shorter list."""
    path = Path(run_dir) / f"samples{suffix}.jsonl"
    if not path.is_file():
        raise UserError(f"{path} is missing: the run's per-image scores are gone; rerun the same `eclipse-bench run` "
                        f"command (images and evidence are reused) to rewrite it")
    rows = list(read_records(path, Sample))
    want = expected_samples(run_dir, suffix)
    if want is not None and len(rows) != want:
        raise UserError(f"{path} holds {len(rows)} of the run's {want} samples (cut, or a torn last line); rerun the "
                        f"same `eclipse-bench run` command (images and evidence are reused) to rewrite it")
    return rows


def image_problems(run_dir: Path, samples: list) -> list[tuple[str, str]]:
    """(image path, what is wrong) for every sample image that is missing, not a file, changed or undecodable."""
    run_dir = Path(run_dir)
    hashes = {r.key: r.sha256 for r in read_all(run_dir, "images", ImageRecord)} if run_dir.is_dir() else {}
    out = []
    for s in samples:
        path = inside(run_dir, s.image)
        if not path.exists():
            out.append((s.image, "deleted"))
        elif not path.is_file():
            out.append((s.image, "not a file"))
        elif hashes.get(s.key) and file_sha256(path) != hashes[s.key]:
            out.append((s.image, "damaged (its bytes changed since it was made)"))
        elif not hashes.get(s.key) and not decodable(path):
            out.append((s.image, "damaged (not a readable image)"))
    return out


def decodable(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means the same: not a readable image
        return False
