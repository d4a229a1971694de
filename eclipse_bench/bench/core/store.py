"""How a run directory is written: atomic whole-file writes, append-only JSONL records whose torn tail is cut, and
the lock against concurrent writers (the files themselves: docs/run-directory.md; their schema: schema.py)."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from eclipse_bench.bench.core.errors import UserError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


TEMP_INFIX = ".tmp-"   # atomic writes go through DIR/.<name>.tmp-<random>, then a rename


def atomic_write_bytes(path: Path, data: bytes, make_parents: bool = True) -> None:
    """Write a whole file or nothing: a temporary beside it, fsync, rename. Errors name `path` (never the
    temporary): a directory in the way, a missing folder, a full or read-only disk."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name (remove the directory if it is in the way)")
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise UserError(f"{path}: its folder {path.parent} does not exist; create it first or choose another path")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_INFIX}")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def replace_file(path: Path, source: Path) -> None:
    """Make the finished file `source` the file at `path`, in one atomic rename (a reader sees one or the other)."""
    os.replace(source, path)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporaries a killed atomic write left in `folder` and its images/ and evidence/ (only while the
    run directory is held exclusively: no writer is alive). Returns how many."""
    n = 0
    for sub in (folder, folder / "images", folder / "evidence", folder / "prior_eval"):
        if sub.is_dir():
            for p in sub.glob(f".*{TEMP_INFIX}*"):
                if p.is_file():
                    p.unlink()
                    n += 1
    return n


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def cut_torn_tail(path: Path) -> int:
    """Truncate a file after its last newline (a writer killed mid-line leaves a torn tail); returns the bytes
    cut. The torn record was never complete, so its work is redone; the next record cannot be glued to it."""
    try:
        fh = open(path, "rb+")
    except FileNotFoundError:
        return 0
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        pos = size
        while pos > 0:  # scan back in blocks for the last newline
            start = max(0, pos - 65536)
            fh.seek(start)
            block = fh.read(pos - start)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        else:
            keep = 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Append whole lines, one write call per batch, flushed. A torn tail left by a killed writer is cut first,
    so a kill can lose at most the record it interrupted, never the next one."""
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not payload:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        cut_torn_tail(path)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSONL file. A torn last line (no newline: a writer killed mid-line) is skipped, and only that;
    any other line that is not a JSON object is damage, an error naming file:line (never silently dropped)."""
    for _, rec in jsonl_lines(path):
        yield rec


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def loads(text: str) -> Any:
    """JSON as run files hold it: NaN, Infinity and -Infinity are refused (json.loads takes them)."""
    return json.loads(text, parse_constant=_no_constant)


def jsonl_lines(path: Path, limit: Optional[int] = None) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a JSONL file (of its first `limit` bytes), read as read_jsonl reads it."""
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        left = limit
        for lineno, raw in enumerate(fh, 1):
            if left is not None:
                raw, left = raw[:left], left - len(raw)
                if not raw:
                    break
            if not raw.endswith(b"\n"):
                break  # torn tail (or the sealed prefix ends here)
            if raw.strip():
                yield lineno, _record(path, lineno, raw)


def _record(path: Path, lineno: int, raw: bytes) -> dict:
    try:
        rec = loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        rec = None
    if not isinstance(rec, dict):
        raise UserError(f"{path}:{lineno}: damaged record (not a JSON object of finite numbers in UTF-8); "
                        f"restore the file, or delete the line to have that work redone by the next run")
    return rec


class RunLock:
    """The one lock protocol of a run directory (fcntl locks on DIR/.lock, released by the kernel on any exit).

    A plain run, a merge and a rescore hold DIR/.lock exclusively. A shard (--shard I/N or a launcher's rank)
    holds DIR/.lock shared, so shards run side by side while a merge, a rescore or a plain run waits for
    none of them and fails instead, plus its own DIR/.lock-shard-I-of-N exclusively, so one shard cannot run
    twice. A second writer gets a one-line error."""

    def __init__(self, run_dir: Path, shard: str = ""):
        self.dir = Path(run_dir)
        self.shard = shard
        self.handles: list = []

    def _take(self, name: str, shared: bool) -> None:
        fh = open(self.dir / name, "a+")
        try:
            fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            self.__exit__()
            what = f"shard {self.shard.lstrip('-').replace('-', ' ')}" if self.shard and name != ".lock" else "it"
            raise UserError(f"{self.dir} is being written by another eclipse-bench process ({what}); wait for it "
                            f"to finish, or use another --out") from None
        self.handles.append(fh)

    def __enter__(self) -> "RunLock":
        self.dir.mkdir(parents=True, exist_ok=True)
        self._take(".lock", shared=bool(self.shard))
        if self.shard:
            self._take(f".lock{self.shard}", shared=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        for fh in reversed(self.handles):
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        self.handles = []


def shard_files(folder: Path, stem: str) -> list[Path]:
    """`stem`.jsonl and every shard's `stem`.shard-I-of-N.jsonl in `folder` (those that exist)."""
    base = Path(folder) / f"{stem}.jsonl"
    return ([base] if base.is_file() else []) + sorted(base.parent.glob(f"{base.stem}.shard-*.jsonl"))
