"""The run directory: atomic writes, append-only JSONL records, a lock against concurrent writers.

DIR/manifest.json      settings, versions, hashes
DIR/images/*.png       one per sample
DIR/images.jsonl       generation records {key, prompt_id, n, seed, image}
DIR/evidence/M.jsonl   evidence records {key, evidence} of metric M
DIR/samples.jsonl      one line per image: prompt, image, seed, score, evidence (rewritten by each scoring)
DIR/results.json       the aggregate
DIR/report.html
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from eclipse_bench.errors import UserError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Append whole lines; one write call per batch, flushed, so a kill leaves at most a torn last line."""
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not payload:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSONL file; a torn last line (a killed writer) is skipped."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn tail
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: is {path.parent} a run directory written by `eclipse-bench run`?") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: {what} is not valid JSON (line {exc.lineno}); re-run to rewrite it") from None


class RunLock:
    """An exclusive lock on a run directory (fcntl); a second writer gets a clear error."""

    def __init__(self, run_dir: Path, name: str = ".lock"):
        self.path = Path(run_dir) / name
        self.fh = None

    def __enter__(self) -> "RunLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise UserError(f"{self.path.parent} is being written by another eclipse-bench process; "
                            f"wait for it to finish or use another --out") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        if self.fh:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
