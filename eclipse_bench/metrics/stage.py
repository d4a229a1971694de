"""The evidence stage: each provider of the metric on the images that lack its evidence, batched, appended
under content keys (a later provider sees the earlier ones' records). The next chunk's images are decoded on a
thread while the model runs on the current one."""

from __future__ import annotations

import hashlib
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import PlannedSample, evidence_key, inside
from eclipse_bench.bench.core.schema import EvidenceRecord, read_all
from eclipse_bench.bench.core.store import append_jsonl
from eclipse_bench.metrics.registry import PROVIDERS


def collect_evidence(out: Path, samples: list[PlannedSample], metric: Any, scorers: str, device: str, progress: bool = True,
                     suffix: str = "", providers: dict | None = None, calls: dict | None = None,
                     revisions: dict | None = None, choices: dict | None = None) -> tuple[float, int]:
    """Run each evidence provider of the metric on the samples that lack its evidence (samples carry their
    evidence keys: assign_evidence_keys). `providers` holds models already loaded (reused, and filled);
    `revisions` pins each provider's hub checkpoint to the commit its keys name; `choices`: provider -> the value of
    its option (--judge, --detector)."""
    providers = providers if providers is not None else {}
    calls = calls if calls is not None else {"evidence": 0}
    total_seconds, scored = 0.0, 0
    for pname in metric.providers:
        pdef = PROVIDERS.get(pname)
        path = out / "evidence" / f"{pname}{suffix}.jsonl"
        have = {r.key for r in read_all(out / "evidence", pname, EvidenceRecord)}
        todo = [s for s in samples if s.evidence_keys[pname] not in have]
        if not todo:
            continue
        if pname not in providers:
            providers[pname] = pdef.load(scorers, device=device, revision=(revisions or {}).get(pname),
                                         choice=(choices or {}).get(pname))
        provider = providers[pname]
        earlier = {p: {r.key: r.evidence for r in read_all(out / "evidence", p, EvidenceRecord)}
                   for p in metric.providers[: metric.providers.index(pname)]}
        t0 = time.perf_counter()
        chunk = 64  # images per provider call; providers batch inside
        batches = [todo[start:start + chunk] for start in range(0, len(todo), chunk)]
        with tqdm(total=len(todo), desc=f"evidence {pname}", unit="img", disable=not progress) as bar, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="eclipse-bench-decode") as pool:
            def load(b: list[PlannedSample]) -> list:
                return [load_image(out, s.image, s.sha256, s.orientation) for s in b]

            ahead = pool.submit(load, batches[0])
            for i, batch in enumerate(batches):
                images = ahead.result()  # decoded while the previous chunk ran through the model
                if i + 1 < len(batches):
                    ahead = pool.submit(load, batches[i + 1])
                previous = [{p: earlier[p].get(s.evidence_keys[p]) for p in earlier} for s in batch]
                records = provider.evidence(images, [s.item for s in batch], previous)
                calls["evidence"] += 1
                append_jsonl(path, [{"key": s.evidence_keys[pname], "sample": s.key, "evidence": ev}
                                    for s, ev in zip(batch, records)])
                if getattr(provider, "client", None) is not None:   # a served model: its request rate
                    bar.set_postfix(req_s=provider.client.summary()["requests_per_second"], refresh=False)
                bar.update(len(batch))
        total_seconds += time.perf_counter() - t0
        scored = max(scored, len(todo))
    return total_seconds, scored


def load_image(run_dir: Path, relpath: str, sha256: str | None = None, orientation: int | None = None):
    """An image of the run as RGB, checked against the sha256 its record names (the bytes scored are the bytes its
    evidence keys hash); a missing, changed or damaged file is a one-line error naming it and the fix. `orientation`
    (an imported image's EXIF orientation, recorded at import): turned upright first, as it is displayed."""
    path = inside(run_dir, relpath)
    fix = "re-run the same command: a generated image is made again, an imported one must be restored"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the image ({exc.strerror or exc}); {fix}") from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise UserError(f"{path}: the image changed after it was made (sha256 differs); {fix}")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return (ImageOps.exif_transpose(im) if orientation else im).convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: unreadable image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                        f"{fix}") from None


def assign_evidence_keys(samples: list[PlannedSample], metric: Any, identities: dict[str, dict]) -> None:
    """Each sample's evidence key per provider of the metric: a pure function of the image (sample key), the
    provider's identity (`identities`: provider -> identity, resolved by the caller or read from a manifest), the
    keys of the evidence it builds on, and the spec fields it reads. Providers in order: a later one builds on
    earlier ones."""
    for s in samples:
        keys = s.evidence_keys
        for p in metric.providers:
            pdef = PROVIDERS.get(p)
            upstream = [keys[q] for q in pdef.needs if q in keys]
            # an image not made yet has no bytes to key by: its evidence is missing by definition
            keys[p] = None if not s.sha256 or None in upstream else \
                evidence_key(s.key, s.sha256, identities[p], upstream, pdef.reads(s.item), s.orientation)
