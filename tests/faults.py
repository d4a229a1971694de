"""Fault injection for the kill, signal and disk-full tests, kept out of production code.

Every file of a run directory is written through the run store's primitives (eclipse_bench.bench.core.store:
atomic_write_bytes, append_jsonl, replace_file). This module wraps them wherever they are bound, so a test can stop a
process at any chosen write:

    WHEN:FILE:N        WHEN = before | after | torn (half the appended line is written, then the process dies)
                              | full (the write fails with ENOSPC, as on a full disk)
                       FILE = a glob matched against the file's name (images.jsonl, *.png, vqa.jsonl, samples.jsonl)
                       N    = the N-th write of such a file by this process
    SIGNAL@WHEN:FILE:N sends SIGNAL (SIGTERM, SIGHUP) instead of SIGKILL

As a program:  python tests/faults.py FAULT eclipse-bench-arguments...   (the command, killed at the fault)
In a test:     with injected("SIGTERM@after:images.jsonl:2"): main([...])
               with recorded() as writes: main([...])       (writes: every (primitive, path) in order)
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

if __name__ == "__main__":   # run as a program: the checkout's package, as the tests import it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclipse_bench.bench.app import cli
from eclipse_bench.bench.core import store

PRIMITIVES = ("atomic_write_bytes", "append_jsonl", "replace_file")
MOMENTS = ("before", "after", "torn", "full")


class Fault:
    def __init__(self, spec: str):
        sig, _, rest = spec.rpartition("@")
        self.signal = getattr(signal, sig) if sig else signal.SIGKILL
        self.when, self.pattern, n = rest.split(":")
        if self.when not in MOMENTS:
            raise ValueError(f"fault {spec!r}: WHEN must be one of {MOMENTS}")
        self.n, self.seen = int(n), 0

    def hit(self, path: Path) -> bool:
        """Whether this write (of `path`) is the chosen one."""
        if not fnmatch.fnmatch(Path(path).name, self.pattern):
            return False
        self.seen += 1
        return self.seen == self.n

    def fire(self) -> None:
        os.kill(os.getpid(), self.signal)


def _wrap(name: str, original: Callable, fault: Optional[Fault], log: Optional[list],
          watch: Optional[Callable] = None) -> Callable:
    def wrapper(path, *args, **kwargs):
        if log is not None:
            log.append((name, Path(path)))
        if watch is not None:
            watch("before", name, Path(path), args)
        chosen = fault is not None and fault.hit(path)
        if chosen and fault.when == "full":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        if chosen and fault.when == "before":
            fault.fire()
        if chosen and fault.when == "torn" and name == "append_jsonl":
            rows = args[0] if args else kwargs["rows"]
            payload = "".join(store.json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            store.cut_torn_tail(Path(path))
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(payload[: len(payload) // 2 + 1])
            fault.fire()
        result = original(path, *args, **kwargs)
        if watch is not None:
            watch("after", name, Path(path), args)
        if chosen and fault.when in ("after", "torn"):
            fault.fire()
        return result
    wrapper.__wrapped__ = original
    return wrapper


@contextlib.contextmanager
def _patched(fault: Optional[Fault], log: Optional[list], watch: Optional[Callable] = None) -> Iterator[None]:
    """Every binding of a store primitive in every loaded module of ours replaced by the wrapper, and put back."""
    undo = []
    for name in PRIMITIVES:
        original = getattr(store, name)
        wrapper = _wrap(name, original, fault, log, watch)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("eclipse_bench") and getattr(module, name, None) is original:
                undo.append((module, name, original))
                setattr(module, name, wrapper)
    try:
        yield
    finally:
        for module, name, original in undo:
            setattr(module, name, original)


def injected(spec: str):
    """The fault `spec` injected into this process while the block runs."""
    return _patched(Fault(spec), None)


@contextlib.contextmanager
def recorded() -> Iterator[list]:
    """Every write of a run's files while the block runs, as (primitive, path)."""
    log: list = []
    with _patched(None, log):
        yield log


def watching(watch: Callable) -> Any:
    """watch(moment, primitive, path, args) called before and after every write while the block runs: what a kill
    at that moment would leave is what is on disk then (every write is atomic or an append)."""
    return _patched(None, None, watch)


def spec_for(writes: list, i: int, when: str) -> str:
    """The fault that hits the i-th of the recorded `writes` ((primitive, path) in order)."""
    name = writes[i][1].name
    return f"{when}:{glob_escape(name)}:{sum(1 for _, p in writes[:i + 1] if p.name == name)}"


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def command(fault: str, args: list) -> list:
    """The argv of a process that runs `eclipse-bench ARGS` with `fault` injected."""
    return [sys.executable, str(Path(__file__).resolve()), fault, *args]


if __name__ == "__main__":
    with injected(sys.argv[1]):
        sys.exit(cli.main(sys.argv[2:]))
