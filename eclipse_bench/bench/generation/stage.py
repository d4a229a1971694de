"""The generation stage: the pairing's generator over the samples that lack an image, batched with out-of-memory
back-off, each image written atomically under its content key (on a writer thread, off the generating path) and
recorded in images.jsonl."""

from __future__ import annotations

import hashlib
import io
import resource
import sys
import time
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from tqdm.auto import tqdm

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.state import decodable, file_sha256
from eclipse_bench.bench.core.keys import PlannedSample, inside
from eclipse_bench.bench.core.schema import ImageRecord, read_all
from eclipse_bench.bench.core.served import run_concurrently
from eclipse_bench.bench.core.store import append_jsonl, atomic_write_bytes


def verified_images(out: Path) -> tuple[dict[str, ImageRecord], list[str]]:
    """({sample key: its record} of the images on disk whose bytes match their record, [damaged or vanished images]).
    An image is reused only when its bytes are the ones recorded (a truncated or replaced PNG is made again, never
    reused); a record of run schema 1 (no sha256) is taken when the file decodes (its sha256 filled in)."""
    good: dict[str, ImageRecord] = {}
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
            r.sha256 = sha
            good[r.key] = r
        else:
            bad.append(r.image)
    return good, [b for b in dict.fromkeys(bad) if b not in {f"images/{k}.png" for k in good}]


def mark_verified(out: Path, samples: list[PlannedSample]) -> list[str]:
    """Give every sample whose image is here and intact the sha256 of its bytes (`sha256`) and where it was made
    (`environment`); the others are to be made. Returns the images found missing or damaged."""
    good, damaged = verified_images(out)
    for s in samples:
        if s.key in good:
            s.sha256, s.environment = good[s.key].sha256, good[s.key].environment
    return damaged


@dataclass
class Work:
    """One generator call: the (prompt, seed) of every image of a batch, the samples it makes (position -> sample)
    and the samples of the run it recomputes that are already on disk (position -> sample; compared byte for byte)."""
    members: tuple
    make: dict
    check: dict


def plan_work(samples: list[PlannedSample], batch_size: int) -> list[Work]:
    """The generator calls that make the samples lacking an image: each such sample's whole batch of the batch plan
    (keys.batch_plan), in plan order; samples without a plan (a run made before plans) `batch_size` at a time."""
    todo = [s for s in samples if not s.sha256]
    if any(s.batch is None for s in todo):
        return [Work(tuple((s.prompt, s.seed) for s in todo[i:i + batch_size]), dict(enumerate(todo[i:i + batch_size])),
                     {}) for i in range(0, len(todo), batch_size)]
    placed = {(s.batch.size, s.batch.index, s.batch.position): s for s in samples if s.batch is not None}
    works: dict[tuple, Work] = {}
    for s in sorted(todo, key=lambda s: (s.batch.index, s.batch.position)):
        b = s.batch
        if (b.size, b.index) not in works:
            others = {p: placed[(b.size, b.index, p)] for p in range(len(b.members)) if (b.size, b.index, p) in placed}
            works[(b.size, b.index)] = Work(b.members, {}, {p: o for p, o in others.items() if o.sha256})
        works[(b.size, b.index)].make[b.position] = s
    return list(works.values())


def generate_images(out: Path, samples: list[PlannedSample], gen: Any, batch_size: int, device: str,
                    progress: bool = True, suffix: str = "", calls: dict | None = None,
                    replan: Optional[Callable[[list[PlannedSample], int], None]] = None) -> dict:
    """Make the images of `samples` that lack one (sha256 unset), each in its batch of the batch plan (the images of
    a batch the run does not need are discarded; those it already has are compared with their recorded bytes).
    PNG encoding and writing run on one writer thread while the next batch is generated; a batch is recorded in
    images.jsonl only after its files are on disk, in batch order, and every batch handed to the writer is written
    before this returns or raises (an error or Ctrl-C loses nothing already generated).

    Out of memory, the remaining samples move to the plan of half the batch size, under other keys (`replan`
    re-keys them; images made earlier at that size are reused), with a warning; never silently.

    Returns {"seconds", "png_seconds", "png_wait_seconds", "batch_size" (the one it ended with), "computed" (images
    the generator made, discarded neighbours included), "discarded", "recomputed", "recomputed_identical"}."""
    from eclipse_bench.bench.generation.generator import environment, release_memory  # lazy: torch

    calls = calls if calls is not None else {"generate": 0}
    bs = batch_size
    env = environment(device)
    t0 = time.perf_counter()
    writer = _Writer(out, suffix, env)
    stats = {"computed": 0, "discarded": 0}
    n_todo = sum(1 for s in samples if not s.sha256)
    try:
        with tqdm(total=n_todo, desc=f"generate {gen.spec.name}{suffix}", unit="img", disable=not progress) as bar:
            works = plan_work(samples, bs)
            while works:
                work = works[0]
                try:
                    images = gen.generate([m[0] for m in work.members], [m[1] for m in work.members])
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                    if not _is_oom(exc):
                        raise
                    if len(work.members) == 1:
                        raise UserError(f"out of memory at batch size 1 on {device}; try --dtype fp16 or "
                                        f"another --device (images made so far are kept)") from None
                    bs = max(1, bs // 2)
                    release_memory()
                    works = _back_off(out, samples, works, bs, device, replan, writer)
                    continue
                calls["generate"] += 1
                stats["computed"] += len(images)
                stats["discarded"] += len(images) - len(work.make) - len(work.check)
                writer.submit([(s, images[p]) for p, s in sorted(work.make.items())],
                              [(s, images[p]) for p, s in sorted(work.check.items())])
                works.pop(0)
                bar.update(len(work.make))
    except BaseException:
        writer.close(quiet=True)  # what was generated is still written and recorded
        raise
    writer.close()
    if writer.mismatched:
        print(f"eclipse-bench: warning: {len(writer.mismatched)} of {writer.recomputed} image(s) this run had were "
              f"recomputed in their batch with other bytes (e.g. {writer.mismatched[0]}); images here are not "
              f"reproducible bit for bit ({env}; docs/performance.md)", file=sys.stderr)
    return {"seconds": time.perf_counter() - t0, "png_seconds": writer.seconds, "png_wait_seconds": writer.waited,
            "batch_size": bs, **stats, "recomputed": writer.recomputed,
            "recomputed_identical": writer.recomputed - len(writer.mismatched)}


def _back_off(out: Path, samples: list[PlannedSample], works: list[Work], bs: int, device: str,
              replan: Optional[Callable], writer: "_Writer") -> list[Work]:
    """After an out-of-memory error: the samples still to make, re-planned at batch size `bs`."""
    remaining = [s for w in works for s in w.make.values()]
    old = remaining[0].batch
    if old is None:   # a run made before batch plans: same keys, smaller batches
        return plan_work(remaining, bs)
    if replan is None:
        raise UserError(f"out of memory on {device}; use a smaller --batch-size (images made so far are kept)")
    writer.drain()   # their records are on disk before the new keys are looked up
    replan(remaining, bs)
    mark_verified(out, remaining)
    print(f"eclipse-bench: warning: out of memory on {device} at batch size {old.size}: the {len(remaining)} "
          f"image(s) left are made at batch size {bs}, under other keys (the results label the batch sizes)",
          file=sys.stderr)
    return plan_work(samples, bs)


class _Writer:
    """One background thread that encodes a batch's PNGs, writes each atomically under its content key, then
    appends the batch's records; at most two batches wait, so memory stays bounded when the disk is slow. Images
    the run already had are encoded and compared with their recorded sha256 (`mismatched` names those that
    differ)."""

    DEPTH = 2

    def __init__(self, out: Path, suffix: str, env: str):
        self.out, self.suffix, self.env = out, suffix, env
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eclipse-bench-png")
        self.pending: list = []
        self.seconds = 0.0   # encoding + writing, on the writer thread
        self.waited = 0.0    # time the generating thread spent waiting for the writer
        self.recomputed = 0
        self.mismatched: list[str] = []

    def submit(self, made: list, checks: list) -> None:
        while len(self.pending) >= self.DEPTH:
            self._wait_oldest()
        self.pending.append(self.pool.submit(self._write, made, checks))
        if self.pending[0].done():  # surface a failed write early
            self._wait_oldest()

    def drain(self) -> None:
        while self.pending:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        t = time.perf_counter()
        try:
            self.pending.pop(0).result()
        finally:
            self.waited += time.perf_counter() - t

    def _write(self, made: list, checks: list) -> None:
        t = time.perf_counter()
        hashes = []
        for s, im in made:
            data = _png_bytes(im)
            atomic_write_bytes(self.out / s.image, data)
            hashes.append(hashlib.sha256(data).hexdigest())
        append_jsonl(self.out / f"images{self.suffix}.jsonl", [
            ImageRecord(s.key, s.prompt_id, s.n, s.image, s.seed, sha, s.batch_size, self.env).to_json()
            for (s, _), sha in zip(made, hashes)])
        for (s, _), sha in zip(made, hashes):   # recorded: the sample's evidence is keyed by these bytes
            s.sha256, s.environment = sha, self.env
        for s, im in checks:
            self.recomputed += 1
            if hashlib.sha256(_png_bytes(im)).hexdigest() != s.sha256:
                self.mismatched.append(s.image)
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


def generate_served(out: Path, samples: list[PlannedSample], gen: Any, concurrency: int, progress: bool = True,
                    suffix: str = "", calls: dict | None = None) -> dict:
    """The images of `samples` that lack one, from a served model (gen.request), at most `concurrency` requests in
    flight, each asking for up to the pairing's n images of one prompt. Every image is written under its content key
    and recorded as soon as its request returns, so a kill loses only requests in flight, and a rerun asks only for
    what is missing. Returns the seconds and the client's counters (requests, retries, tokens, requests/s)."""
    calls = calls if calls is not None else {"generate": 0}
    per_request = int(gen.settings.get("n") or 1)
    todo: dict[str, list[PlannedSample]] = {}
    for s in samples:
        if not s.sha256:
            todo.setdefault(s.prompt_id, []).append(s)
    jobs = [group[i:i + per_request] for group in todo.values() for i in range(0, len(group), per_request)]
    t0 = time.perf_counter()
    env = f"served: {gen.spec.decoder_id} ({gen.entry.get('root') or gen.entry['id']})"
    path = out / f"images{suffix}.jsonl"

    def store(job: list, images: list) -> None:
        records = []
        for s, data in zip(job, images):
            atomic_write_bytes(out / s.image, data)
            s.sha256, s.environment = hashlib.sha256(data).hexdigest(), env
            records.append(ImageRecord(s.key, s.prompt_id, s.n, s.image, s.seed, s.sha256, None, env).to_json())
        append_jsonl(path, records)
        calls["generate"] += 1
        bar.update(len(job))
        bar.set_postfix(req_s=gen.client.summary()["requests_per_second"], refresh=False)

    with tqdm(total=sum(map(len, jobs)), desc=f"request {gen.spec.name}{suffix}", unit="img",
              disable=not progress) as bar:
        run_concurrently(lambda job: gen.request(job[0].prompt, len(job), job[0].seed), jobs, concurrency, store)
    return {"seconds": time.perf_counter() - t0, "requests": gen.client.summary()}


def reproducibility(plan_size: Optional[int], device: str, dtype: str, served: bool = False) -> str:
    """What a run's images guarantee, for the manifest and the report: measured on CPU in fp32 only."""
    if served:
        return ("none: a served model draws its images (no batch plan, no device of ours); each image is stored as "
                "it arrives and never requested again")
    if plan_size is None:
        return ("none: made before batch plans (eclipse-bench 0.2): an image's bytes depend on the images it was "
                "batched with, which were not recorded")
    if device.startswith("cpu") and dtype == "fp32":
        return (f"bitwise: an image's bytes are a function of its key (its batch of {plan_size} included) on one "
                f"machine, library versions and CPU thread count; tested fp32 on CPU")
    return (f"not measured for {dtype} on {device}: images are keyed by their batch of {plan_size}, but these "
            f"kernels may round one image differently from run to run (scripts/device_check_bitwise.py measures it)")


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
