"""The generation stage: the pairing's generator over the samples that lack an image, batched with out-of-memory
back-off, each image written atomically under its content key and recorded in images.jsonl."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from eclipse_bench.errors import UserError
from eclipse_bench.store import _fault, append_jsonl, atomic_write_bytes, read_records


def missing_images(out: Path, samples: list[dict]) -> list[dict]:
    done = {r["key"] for r in read_records(out, "images") if (out / r["image"]).is_file()}
    return [s for s in samples if s["key"] not in done]


def generate_images(out: Path, todo: list[dict], gen: Any, batch_size: int, device: str, progress: bool = True,
                    suffix: str = "", calls: dict | None = None) -> dict:
    """Images for `todo`; returns {"seconds", "png_seconds", "batch_size"} (the batch size it ended with)."""
    from tqdm.auto import tqdm

    calls = calls if calls is not None else {"generate": 0}
    bs, png_seconds = batch_size, 0.0
    t0 = time.perf_counter()
    n_batches, start = 0, 0
    with tqdm(total=len(todo), desc=f"generate {gen.spec.name}{suffix}", unit="img", disable=not progress) as bar:
        while start < len(todo):
            batch = todo[start:start + bs]
            try:
                images = gen.generate([s["prompt"] for s in batch], [s["seed"] for s in batch])
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                if not _is_oom(exc):
                    raise
                if bs == 1:
                    raise UserError(f"out of memory at batch size 1 on {device}; try --dtype fp16 or "
                                    f"another --device (images made so far are kept)") from None
                bs = max(1, bs // 2)  # back off and retry the same samples: nothing is lost
                _empty_cache()
                continue
            calls["generate"] += 1
            t_png = time.perf_counter()
            for i, (s, im) in enumerate(zip(batch, images)):
                atomic_write_bytes(out / s["image"], _png_bytes(im))
                if i == 0:
                    _fault("generate-mid", n_batches + 1)
            png_seconds += time.perf_counter() - t_png
            append_jsonl(out / f"images{suffix}.jsonl", [
                {"key": s["key"], "prompt_id": s["prompt_id"], "n": s["n"], "seed": s["seed"], "image": s["image"]}
                for s in batch])
            n_batches += 1
            _fault("generate", n_batches)
            start += len(batch)
            bar.update(len(batch))
    return {"seconds": time.perf_counter() - t0, "png_seconds": png_seconds, "batch_size": bs}


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def _png_bytes(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
