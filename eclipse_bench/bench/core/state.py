"""A run directory's committed states: the one commit point of each, and the only way readers see a run.

A state is the run's own result (manifest.json, results.json, samples.jsonl, report.html) or a variant written beside
it (results.M.json, samples.M.jsonl, report.M.html for metric M; `.compat` for the reference's rules), together with
the prefix of every append-only record file it was scored from (images.jsonl, evidence/*.jsonl, their shard files).

Committing (writers, holding the run lock): every file of the new state is prepared beside the current one
(NAME.next.EXT); the journal commit{suffix}.json names each file with its sha256 and each record file's prefix (its
size and sha256); the prepared files are renamed into place; finished{suffix}.json (the journal's content) is written;
the journal is removed. A kill or a full disk at any moment leaves either the old state (no journal yet: nothing of it
was touched) or the new one (the journal decides it: readers find each file under its prepared or its final name and
check it; the next writer finishes the renames first). Records appended later (a rerun in progress) lie past the
sealed prefixes and are not part of the state. Readers never write.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.schema import (SCHEMA_VERSION, ImageRecord, Manifest, Results, Sample, check_version, load_json, migrated, parse_jsonl, read_all,
                                             read_manifest, read_results)
from eclipse_bench.bench.core.store import atomic_write_json, replace_file

PENDING_MANIFEST = "manifest.next.json"   # the plan of a run in progress (and the prepared manifest of its commit)


def file_sha256(path: Path, size: Optional[int] = None) -> str:
    """sha256 of a file, or of its first `size` bytes."""
    h = hashlib.sha256()
    left = size
    with open(path, "rb") as fh:
        while left is None or left > 0:
            block = fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h.hexdigest()


def prepared(name: str) -> str:
    """Where a file of a new state is prepared: results.json -> results.next.json, samples.M.jsonl ->
    samples.M.next.jsonl."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.next.{ext}" if dot else f"{name}.next"


def state_files(suffix: str = "") -> tuple[str, ...]:
    """The files a state consists of: the run's own state holds the manifest too."""
    own = ("manifest.json",) if not suffix else ()
    return (*own, f"results{suffix}.json", f"samples{suffix}.jsonl", f"report{suffix}.html")


def journal_name(suffix: str = "") -> str:
    return f"commit{suffix}.json"


def marker_name(suffix: str = "") -> str:
    return f"finished{suffix}.json"


def record_files(run_dir: Path) -> list[str]:
    """Every append-only record file of the run (relative paths): images*.jsonl and evidence/*.jsonl."""
    run_dir = Path(run_dir)
    found = sorted(run_dir.glob("images*.jsonl")) + sorted((run_dir / "evidence").glob("*.jsonl"))
    return [str(p.relative_to(run_dir)) for p in found if ".next." not in p.name]


def commit(run_dir: Path, suffix: str, n_samples: int) -> dict:
    """Make the prepared files of state `suffix` (state_files: each NAME.next.EXT) the state, sealing every record
    file's current content with them; returns the marker."""
    run_dir = Path(run_dir)
    files = {}
    for name in state_files(suffix):
        path = run_dir / prepared(name)
        files[name] = {"sha256": file_sha256(path), "size": path.stat().st_size}
    records = {}
    for rel in record_files(run_dir):
        size = (run_dir / rel).stat().st_size
        records[rel] = {"size": size, "sha256": file_sha256(run_dir / rel, size)}
    marker = {"schema_version": SCHEMA_VERSION, "files": files, "records": records, "samples": n_samples}
    atomic_write_json(run_dir / journal_name(suffix), marker)   # the commit point
    finish_commit(run_dir, suffix, marker)
    return marker


def finish_commit(run_dir: Path, suffix: str, marker: dict) -> None:
    """Rename what is still prepared into place, write the marker, remove the journal (idempotent)."""
    for name in marker["files"]:
        if (run_dir / prepared(name)).exists():
            replace_file(run_dir / name, run_dir / prepared(name))
    atomic_write_json(run_dir / marker_name(suffix), marker)
    (run_dir / journal_name(suffix)).unlink(missing_ok=True)


def roll_forward(run_dir: Path) -> list[str]:
    """A writer's first step (under the run lock): finish every commit a killed writer decided but did not complete.
    Returns the suffixes finished."""
    run_dir = Path(run_dir)
    done = []
    for journal in sorted(run_dir.glob("commit*.json")):
        suffix = journal.name[len("commit"):-len(".json")]
        finish_commit(run_dir, suffix, load_json(journal, "commit journal"))
        done.append(suffix)
    return done


def seal(run_dir: Path, suffix: str, n_samples: int) -> dict:
    """Commit a state whose files are already in place (a run directory written by hand, for tests and tools)."""
    run_dir = Path(run_dir)
    for name in state_files(suffix):
        if not (run_dir / name).exists():
            (run_dir / name).write_bytes(b"")
        os.replace(run_dir / name, run_dir / prepared(name))
    return commit(run_dir, suffix, n_samples)


# -- reading ---------------------------------------------------------------------------------------------------

def decodable(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means the same: not a readable image
        return False


def unfinished_reason(run_dir: Path, suffix: str = "") -> Optional[str]:
    """Why a run directory holds no committed state `suffix` (None when it does)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "no such run directory" if not run_dir.exists() else "not a directory"
    if (run_dir / journal_name(suffix)).is_file() or (run_dir / marker_name(suffix)).is_file():
        return None
    if not (run_dir / "manifest.json").is_file():
        if (run_dir / PENDING_MANIFEST).is_file():
            return "its first run never finished"
        return "no manifest.json: not an eclipse-bench run directory"
    if not (run_dir / f"results{suffix}.json").is_file():
        return "no results: it never finished" if not suffix else f"no results{suffix}.json: that rescore never finished"
    if not suffix and migrated(read_manifest(run_dir)):
        return None   # eclipse-bench 0.1 wrote no marker: a directory with results is what it left finished
    return "it was interrupted before it finished"


@dataclass
class RunState:
    """One committed state of a run directory, as readers see it: each file found where the commit put it and
    checked against it, the records limited to their sealed prefixes."""
    run_dir: Path
    suffix: str
    marker: Optional[dict]      # None: an eclipse-bench 0.1 directory (no marker)
    journal: bool               # decided by a journal whose renames a writer has yet to finish

    @classmethod
    def open(cls, run_dir: Path, suffix: str = "", what: str = "read", verify: bool = True) -> "RunState":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: no such run directory" + ("" if not run_dir.exists() else
                                                                   " (it is a file)") + "; check the path")
        why = unfinished_reason(run_dir, suffix)
        if why is not None and suffix and (run_dir / marker_name("")).is_file():
            flags = "".join(" --reference-compat" if part == "compat" else "" if part == "intended" else
                            f" --metric {part}" for part in suffix.split(".")[1:])
            raise UserError(f"{run_dir} holds no {suffix.lstrip('.')} results; make them with `eclipse-bench rescore "
                            f"{run_dir}{flags}` (no model is loaded), then {what} them")
        if why is not None:
            raise UserError(f"{run_dir}: {why}; {recovery_advice(run_dir, what)}")
        journal = (run_dir / journal_name(suffix)).is_file()
        path = run_dir / (journal_name(suffix) if journal else marker_name(suffix))
        marker = load_json(path, "finished marker") if path.is_file() else None
        if marker is not None:
            check_version(marker, path)
        state = cls(run_dir, suffix, marker, journal)
        if verify:
            state.verify()
        return state

    @classmethod
    def variant(cls, run_dir: Path, metric: Optional[str] = None, compat: Optional[bool] = None,
                what: str = "read") -> "RunState":
        """The state of metric `metric` under the reference's rules (`compat`) or the intended ones, as rescore wrote
        it beside the run's own (None: the run's own metric and rules)."""
        own = cls.open(run_dir, "", what)
        if metric is None and compat is None:
            return own
        return cls.open(run_dir, variant_suffix(own.manifest(), metric, compat), what)

    @property
    def legacy(self) -> bool:
        """Made by eclipse-bench 0.2 (its marker vouches for the manifest and results only) or 0.1 (no marker)."""
        return self.marker is None or "files" not in self.marker

    def path(self, name: str) -> Path:
        """Where the state's file `name` is: its prepared copy while a decided commit is being finished."""
        if self.journal and (self.run_dir / prepared(name)).is_file():
            return self.run_dir / prepared(name)
        return self.run_dir / name

    def verify(self, names: Optional[tuple] = None) -> None:
        """Each file of the state (or those `names`) is the one committed; else an error naming it and the repair."""
        if self.marker is None:
            return
        if self.legacy:
            checks = {"manifest.json": self.marker.get("manifest"), f"results{self.suffix}.json": self.marker.get("results")}
        else:
            checks = {name: f.get("sha256") for name, f in self.marker["files"].items()}
        for name, sha in checks.items():
            if names is not None and name not in names:
                continue
            p = self.path(name)
            if not p.is_file() or file_sha256(p) != sha:
                what = "is missing" if not p.exists() else ("is not a file" if not p.is_file() else
                                                             "changed after the run finished")
                raise UserError(f"{p} {what}; {repair_advice(self.run_dir, name, self.suffix)}")

    def intact(self, name: str) -> bool:
        try:
            self.verify((name,))
            return True
        except UserError:
            return False

    @property
    def pending_rerun(self) -> bool:
        """A rerun of the directory has planned (manifest.next.json) but not committed: this state is the last one."""
        return not self.journal and (self.run_dir / PENDING_MANIFEST).is_file()

    def manifest(self) -> Manifest:
        return read_manifest(self.run_dir, self.path("manifest.json").name) if not self.suffix else \
            RunState.open(self.run_dir, "").manifest()

    def results(self) -> Results:
        return read_results(self.run_dir, self.path(f"results{self.suffix}.json").name)

    def n_samples(self) -> int:
        if self.marker is not None:
            return int(self.marker.get("samples", 0))
        r = self.results()
        return r.n_images + r.n_unscorable

    def samples(self) -> list[Sample]:
        """Every sample of the state: a missing file or record is an error, never a shorter list."""
        name = f"samples{self.suffix}.jsonl"
        path = self.path(name)
        if not path.is_file():
            raise UserError(f"{path} is missing: the run's per-image scores are gone; "
                            f"{repair_advice(self.run_dir, name, self.suffix)}")
        rows = list(parse_jsonl(path, Sample))
        if len(rows) != self.n_samples():
            raise UserError(f"{path} holds {len(rows)} of the state's {self.n_samples()} samples (cut, or a torn last "
                            f"line); {repair_advice(self.run_dir, name, self.suffix)}")
        return rows

    def records(self, stem: str, cls: Any, folder: str = "") -> Iterator[Any]:
        """The typed records of `stem`.jsonl and its shard files under `folder`, each up to its sealed prefix."""
        if self.legacy:
            yield from read_all(self.run_dir / folder, stem, cls)
            return
        for rel, seal_ in sorted(self.marker["records"].items()):
            p = Path(rel)
            if str(p.parent) != (folder or ".") or not (p.name == f"{stem}.jsonl" or
                                                         p.name.startswith(f"{stem}.shard-")):
                continue
            path = self.run_dir / rel
            if not path.is_file() or path.stat().st_size < seal_["size"] or \
                    file_sha256(path, seal_["size"]) != seal_["sha256"]:
                raise UserError(f"{path}: its records changed after the run finished (it holds less, or other bytes, "
                                f"than the {seal_['size']} it was sealed with); {repair_advice(self.run_dir, rel, '')}")
            yield from parse_jsonl(path, cls, limit=seal_["size"])

    def image_records(self) -> dict[str, ImageRecord]:
        return {r.key: r for r in self.records("images", ImageRecord)}

    def image_problems(self, samples: list[Sample]) -> list[tuple[str, str]]:
        """(image path, what is wrong) for every sample image that is missing, not a file, changed or undecodable."""
        hashes = {k: r.sha256 for k, r in self.image_records().items()}
        out = []
        for s in samples:
            path = inside(self.run_dir, s.image)
            if not path.exists():
                out.append((s.image, "deleted"))
            elif not path.is_file():
                out.append((s.image, "not a file"))
            elif hashes.get(s.key) and file_sha256(path) != hashes[s.key]:
                out.append((s.image, "damaged (its bytes changed since it was made)"))
            elif not hashes.get(s.key) and not decodable(path):
                out.append((s.image, "damaged (not a readable image)"))
        return out


def variant_suffix(manifest: Manifest, metric: Optional[str], compat: Optional[bool]) -> str:
    """Where the state of `metric` under the reference's rules (`compat`) or the intended ones is: "" (the run's own),
    ".M" for another metric, ".compat" for the reference's rules on a run made with the intended ones (".intended"
    the other way round), combined as ".M.compat". None: as the run was made."""
    metric = metric or manifest.metric.name
    compat = manifest.metric.reference_compat if compat is None else compat
    suffix = "" if metric == manifest.metric.name else f".{metric}"
    if compat != manifest.metric.reference_compat:
        suffix += ".compat" if compat else ".intended"
    return suffix


def recovery_advice(run_dir: Path, what: str) -> str:
    """The command that finishes an unfinished run directory."""
    return (f"finish it with `eclipse-bench rescore {run_dir}` (from the images and evidence it holds, no model) or "
            f"rerun the `eclipse-bench run` / `score` command that made it, then {what} it")


def repair_advice(run_dir: Path, name: str, suffix: str) -> str:
    """What rebuilds a damaged file of a committed state."""
    if name == "manifest.json":
        return (f"restore it from a copy, or move it aside (`mv {run_dir / name} {run_dir / 'manifest.damaged.json'}`) "
                f"and rerun the command that made the run: its images and evidence are reused")
    if name.startswith(("images", "evidence")):
        return ("restore it from a copy, or rerun the command that made the run (`eclipse-bench run` / `score` with "
                "the same options): what is missing is made again")
    return f"rebuild it from the images and evidence with `eclipse-bench rescore {run_dir}` (no model is loaded)"
