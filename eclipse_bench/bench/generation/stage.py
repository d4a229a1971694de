"""The generation stage: the pairing's generator over the samples that lack an image, batched with out-of-memory
back-off, each image written atomically under its content key (on a writer thread, off the generating path) and
recorded in images.jsonl."""

from __future__ import annotations

import hashlib
import io
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.state import decodable, file_sha256
from eclipse_bench.bench.core.keys import PlannedSample, inside
from eclipse_bench.bench.core.schema import ImageRecord, read_all
from eclipse_bench.bench.core.store import append_jsonl, atomic_write_bytes


def verified_images(out: Path) -> tuple[dict[str, str], list[str]]:
    """({sample key: sha256} of the images on disk whose bytes match their record, [damaged or vanished images]).
    An image is reused only when its bytes are the ones recorded (a truncated or replaced PNG is made again, never
    reused); a record of run schema 1 (no sha256) is taken when the file decodes."""
    good: dict[str, str] = {}
    bad: list[str] = []
    for r in read_all(out, "images", ImageRecord) if Path(out).is_dir() else ():
        path = inside(out, r.image)
        if path.exists() and not path.is_file():
            raise UserError(f"{path} is a directory (or another non-file) where image {r.key} belongs; remove it "
                            f"and re-run to make the image again")
        if not path.is_file():
            bad.append(r.image)
            continue
        sha = file_sha256(path)
        if (r.sha256 is None and decodable(path)) or sha == r.sha256:
            good[r.key] = sha
        else:
            bad.append(r.image)
    return good, [b for b in dict.fromkeys(bad) if b not in {f"images/{k}.png" for k in good}]


def mark_verified(out: Path, samples: list[PlannedSample]) -> list[str]:
    """Give every sample whose image is here and intact the sha256 of its bytes (`sha256`; the others are to be
    made); returns the images found missing or damaged."""
    good, damaged = verified_images(out)
    for s in samples:
        if s.key in good:
            s.sha256 = good[s.key]
    return damaged


def generate_images(out: Path, todo: list[PlannedSample], gen: Any, batch_size: int, device: str, progress: bool = True,
                    suffix: str = "", calls: dict | None = None) -> dict:
    """Images for `todo`; returns {"seconds", "png_seconds", "png_wait_seconds", "batch_size"} (the batch size it
    ended with). PNG encoding and writing run on one writer thread while the next batch is generated; a batch is
    recorded in images.jsonl only after its files are on disk, in batch order, and every batch handed to the writer
    is written before this returns or raises (an error or Ctrl-C loses nothing already generated)."""
    calls = calls if calls is not None else {"generate": 0}
    bs = batch_size
    t0 = time.perf_counter()
    start = 0
    writer = _Writer(out, suffix)
    try:
        with tqdm(total=len(todo), desc=f"generate {gen.spec.name}{suffix}", unit="img", disable=not progress) as bar:
            while start < len(todo):
                batch = todo[start:start + bs]
                try:
                    images = gen.generate([s.prompt for s in batch], [s.seed for s in batch])
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                    if not _is_oom(exc):
                        raise
                    if bs == 1:
                        raise UserError(f"out of memory at batch size 1 on {device}; try --dtype fp16 or "
                                        f"another --device (images made so far are kept)") from None
                    bs = max(1, bs // 2)  # back off and retry the same samples: nothing is lost
                    from eclipse_bench.bench.generation.generator import release_memory  # lazy: torch

                    release_memory()
                    continue
                calls["generate"] += 1
                writer.submit(batch, images)
                start += len(batch)
                bar.update(len(batch))
    except BaseException:
        writer.close(quiet=True)  # what was generated is still written and recorded
        raise
    writer.close()
    return {"seconds": time.perf_counter() - t0, "png_seconds": writer.seconds, "png_wait_seconds": writer.waited,
            "batch_size": bs}


class _Writer:
    """One background thread that encodes a batch's PNGs, writes each atomically under its content key, then
    appends the batch's records; at most two batches wait, so memory stays bounded when the disk is slow."""

    DEPTH = 2

    def __init__(self, out: Path, suffix: str):
        self.out, self.suffix = out, suffix
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eclipse-bench-png")
        self.pending: list = []
        self.seconds = 0.0   # encoding + writing, on the writer thread
        self.waited = 0.0    # time the generating thread spent waiting for the writer

    def submit(self, batch: list[PlannedSample], images: list) -> None:
        while len(self.pending) >= self.DEPTH:
            self._wait_oldest()
        self.pending.append(self.pool.submit(self._write, batch, images))
        if self.pending[0].done():  # surface a failed write early
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        t = time.perf_counter()
        try:
            self.pending.pop(0).result()
        finally:
            self.waited += time.perf_counter() - t

    def _write(self, batch: list[PlannedSample], images: list) -> None:
        t = time.perf_counter()
        hashes = []
        for s, im in zip(batch, images):
            data = _png_bytes(im)
            atomic_write_bytes(self.out / s.image, data)
            hashes.append(hashlib.sha256(data).hexdigest())
        append_jsonl(self.out / f"images{self.suffix}.jsonl", [
            ImageRecord(s.key, s.prompt_id, s.n, s.image, s.seed, sha).to_json()
            for s, sha in zip(batch, hashes)])
        for s, sha in zip(batch, hashes):   # recorded: the sample's evidence is keyed by these bytes
            s.sha256 = sha
        self.seconds += time.perf_counter() - t

    def close(self, quiet: bool = False) -> None:
        """Wait for every submitted batch; the first write error is raised (unless quiet: another error is already
        on its way) after all have been tried."""
        error = None
        while self.pending:
            try:
                self._wait_oldest()
            except BaseException as exc:  # noqa: BLE001 - keep draining, then raise the first
                error = error or exc
        self.pool.shutdown(wait=True)
        if error is not None and not quiet:
            raise error


def _is_oom(exc: BaseException) -> bool:
    import torch  # lazy: torch

    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def _png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
