"""`eclipse-bench score IMAGES --suite S`: images made anywhere (another tool, a cluster job, a closed API) imported
into a run directory and scored exactly as a generated run is, by the same run pipeline (pipeline.py). What is here is
what importing adds: matching files to prompts (layouts.py), reading them, storing them.

Every image is stored under the sha256 of its bytes (not re-encoded, any format PIL reads) with the path it came
from; its sample key hashes those bytes, the prompt and the image's number, so re-importing the same files
recomputes nothing, new files are scored alone and a changed file is a new sample. Matching is explicit and loud:
a file that matches no prompt, a prompt without images (unless --allow-missing, which records them), an unreadable
file or a metadata line that disagrees is one error listing them, before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from eclipse_bench.bench.app.layouts import Matches, read
from eclipse_bench.bench.app.options import ScoreOptions
from eclipse_bench.bench.app.pipeline import Pipeline, listing
from eclipse_bench.bench.app.rundir import default_out
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import PlannedSample, digest
from eclipse_bench.bench.core.schema import ImageRecord, Results, read_all
from eclipse_bench.bench.core.store import append_jsonl, atomic_write_bytes
from eclipse_bench.bench.generation.stage import verified_images
from eclipse_bench.metrics.registry import METRICS, check_choices, choices_from
from eclipse_bench.prompts.load import get_suite_def, load_suite

EXIF_ORIENTATION = 0x0112


def read_images(found: Matches) -> tuple[list[tuple[Any, bytes, str, Optional[int]]], list[str]]:
    """[(match, bytes, sha256, EXIF orientation or None)] of the matched files, and the files that cannot be read or
    decoded. An orientation other than 1 (a camera's or an editor's JPEG, a PNG with an eXIf chunk) is kept: the
    image is scored upright, as viewers, the report and GenEval's and GenEval 2's loaders show it."""
    good, bad = [], []
    for m in found.matches:
        try:
            data = m.path.read_bytes()
            if m.crop is not None:   # a cell of a grid: the cell's pixels, stored as a PNG of their own
                with Image.open(io.BytesIO(data)) as im:
                    buf = io.BytesIO()
                    im.convert("RGB").crop(m.crop).save(buf, format="PNG")
                data = buf.getvalue()
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
            with Image.open(io.BytesIO(data)) as im:   # verify() leaves the image unusable: its tags from a new one
                orientation = im.getexif().get(EXIF_ORIENTATION)
        except Exception:  # noqa: BLE001 - any reader or decoder failure: the same listing
            bad.append(str(m.path))
            continue
        upright = orientation if isinstance(orientation, int) and 2 <= orientation <= 8 else None
        good.append((m, data, hashlib.sha256(data).hexdigest(), upright))
    return good, bad


class Importer:
    def __init__(self, opts: ScoreOptions):
        opts.validate()
        self.opts = opts
        get_suite_def(opts.suite)
        if opts.metric:
            METRICS.get(opts.metric)
        self.pipe: Optional[Pipeline] = None

    def run(self) -> tuple[Path, Results]:
        opts = self.opts
        whole = load_suite(opts.suite, opts.split)
        suite = whole.limit(opts.limit, opts.limit_mode)
        metric = METRICS.get(opts.metric or suite.default_metric)
        check_choices(opts.settings(), metric)
        images = Path(opts.images)
        found = read(images, whole, opts.layout, opts.pic_num, opts.resolution)   # matched against every prompt, then --limit picks its own
        chosen = {i.id for i in suite.items}
        outside = [m for m in found.matches if m.item.id not in chosen]
        found.matches = [m for m in found.matches if m.item.id in chosen]
        good, unreadable = read_images(found)
        missing = found.missing(suite)
        counts: dict[str, int] = {}
        for m in found.matches:
            counts[m.item.id] = counts.get(m.item.id, 0) + 1
        fewer = [f"{i} has {c} of {max(counts.values())}" for i, c in counts.items() if c < max(counts.values())]
        problems = []
        if not found.matches and not found.unmatched:
            problems.append("no image at all")
        if found.unmatched:
            problems.append(listing(f"file(s) that match no prompt of {suite.name}", found.unmatched))
        if found.extra and not opts.allow_extra:
            problems.append(listing(f"file(s) or folder(s) the {found.layout} layout does not use", found.extra) +
                            " (pass --allow-extra to import without them)")
        problems += found.problems[:3]
        if unreadable:
            problems.append(listing("file(s) that are no readable image", unreadable))
        if missing and not opts.allow_missing:
            problems.append(listing("prompt(s) without images", [f"{i.id} {i.prompt!r}" for i in missing]))
        if fewer and not opts.allow_missing:
            problems.append(listing("prompt(s) with fewer images than the others", fewer))
        if problems:
            fix = "fix the folder (or the --suite, --layout)" + (
                ", or pass --allow-missing to score the prompts that have images"
                if (missing or fewer) and not opts.allow_missing else "")
            raise UserError(f"{images}: {'; '.join(problems)}; {fix} (nothing was imported)")
        if outside:
            print(f"eclipse-bench: --limit {opts.limit} takes {len(suite.items)} of {len(whole.items)} prompts: "
                  f"{len(outside)} image(s) of the others are left out", file=sys.stderr)
        if found.extra:
            print(f"eclipse-bench: {listing('file(s) or folder(s) not used by the layout (--allow-extra)', found.extra)}"
                  f" left out", file=sys.stderr)
        if found.grids:
            print(f"eclipse-bench: {found.grids} grid image(s) of the sampling script left out (the benchmark scores "
                  f"the samples)", file=sys.stderr)
        print(f"eclipse-bench: layout {found.layout}{' (recognised)' if opts.layout == 'auto' else ''}, "
              f"{len(found.matches)} images of {len(counts)} prompts", file=sys.stderr)
        name = opts.name or (images.stem if images.is_file() else images.name)
        out = Path(opts.out) if opts.out else default_out(name, suite)
        pipe = self.pipe = Pipeline(out, name, suite, metric, opts.scorers_for(), choices_from(opts.settings(), metric),
                                    opts.device, opts.progress, opts.reference_compat)
        samples, data = [], {}
        for m, raw, sha, orientation in good:
            key = digest({"imported": sha, "prompt": m.item.prompt, "n": m.n})
            samples.append(PlannedSample(key, m.item, m.n, m.seed, f"images/{sha}{m.path.suffix.lower() or '.img'}",
                                         sha256=sha, orientation=orientation, source=str(m.path)))
            data[key] = raw
        turned = [s.source for s in samples if s.orientation]
        if turned:
            print(f"eclipse-bench: {listing('image(s) with an EXIF orientation', [Path(t).name for t in turned])} "
                  f"are scored upright, as displayed and as GenEval's and GenEval 2's loaders read them",
                  file=sys.stderr)
        order = [i.id for i in suite.items]
        samples.sort(key=lambda s: (order.index(s.prompt_id), s.n))
        pipe.resolve_providers()
        seeds_known = found.seeds_known and all(s.seed is not None for s in samples)
        manifest = pipe.manifest(
            {"name": name, "family": "imported"},
            {**opts.settings(), "scorers": pipe.scorers, "images_per_prompt": max(counts.values() or [0]),
             "seeds": sorted({s.seed for s in samples}) if seeds_known else None},
            source={"kind": "imported", "layout": found.layout, "from": str(images.resolve()), "model": name,
                    "seeds": "known" if seeds_known else "unknown", "missing_prompts": [i.id for i in missing],
                    **({"exif_upright": len(turned)} if turned else {})})
        coverage = {"n_prompts": len(suite.items), "missing_prompts": [i.id for i in missing]} if missing else None
        if fewer:
            coverage = {**(coverage or {"n_prompts": len(suite.items), "missing_prompts": []}), "fewer_images": fewer}
        pipe.check_budget(samples, opts.max_requests)
        with pipe.writing(manifest):
            self.store(out, samples, data)
            pipe.collect_evidence(samples)
            results = pipe.finish(samples, manifest, {}, coverage)
        opts.log(out)   # trackers, after the commit: a failure there costs nothing
        return out, results

    @staticmethod
    def store(out: Path, samples: list[PlannedSample], data: dict[str, bytes]) -> None:
        """Copy the images the directory lacks, byte for byte, under their sha256; record each sample once."""
        have = {r.key for r in read_all(out, "images", ImageRecord)} if out.is_dir() else set()
        intact, _ = verified_images(out) if have else ({}, [])
        new = []
        for s in samples:
            if s.key in intact:
                continue
            path = out / s.image
            if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == s.sha256):
                atomic_write_bytes(path, data[s.key])
            extra = {"source": s.source, **({"exif_orientation": s.orientation} if s.orientation else {})}
            new.append(ImageRecord(s.key, s.prompt_id, s.n, s.image, s.seed, s.sha256, extra=extra).to_json())
        append_jsonl(out / "images.jsonl", new)
