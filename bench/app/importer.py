"""`eclipse-bench score IMAGES --suite S`: images made anywhere (another tool, a cluster job, a closed API) imported
into a run directory and scored exactly as a generated run is: the same evidence stage, rules, store and reports.

Every image is stored under the sha256 of its bytes (not re-encoded, any format PIL reads) with the path it came
from; its sample key hashes those bytes, the prompt and the image's number, so re-importing the same files
recomputes nothing, new files are scored alone and a changed file is a new sample. Matching is explicit and loud
(bench/app/layouts.py): a file that matches no prompt, a prompt without images (unless --allow-missing, which
records them), an unreadable file or a metadata line that disagrees is one error listing them, before anything is
written.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Optional

from eclipse_bench.bench.app.layouts import Matches, read
from eclipse_bench.bench.app.options import ScoreOptions
from eclipse_bench.bench.app.rundir import (PENDING_MANIFEST, check_owner, default_out, git_revision,
                                            merge_provider_identities, package_versions, recorded_identities)
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.finished import write_finished
from eclipse_bench.bench.core.keys import Identities, digest
from eclipse_bench.bench.core.schema import ImageRecord, Manifest, MetricInfo, Results, SuiteInfo, read_all
from eclipse_bench.bench.core.store import RunLock, append_jsonl, atomic_write_bytes, atomic_write_json, \
    remove_stale_temporaries
from eclipse_bench.bench.core.version import __version__


def _listing(what: str, things: list, n: int = 3) -> str:
    return f"{len(things)} {what} ({', '.join(map(str, things[:n]))}{', ...' if len(things) > n else ''})"


EXIF_ORIENTATION = 0x0112


def read_images(found: Matches) -> tuple[list[tuple[Any, bytes, str, Optional[int]]], list[str]]:
    """[(match, bytes, sha256, EXIF orientation or None)] of the matched files, and the files that cannot be read or
    decoded. An orientation other than 1 (a camera's or an editor's JPEG, a PNG with an eXIf chunk) is kept: the
    image is scored upright, as viewers, the report and GenEval's and GenEval 2's loaders show it."""
    import io

    from PIL import Image

    good, bad = [], []
    for m in found.matches:
        try:
            data = m.path.read_bytes()
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
        from eclipse_bench.metrics.registry import METRICS
        from eclipse_bench.prompts.registry import get_suite_def

        opts.validate()
        self.opts = opts
        get_suite_def(opts.suite)
        if opts.metric:
            METRICS.get(opts.metric)
        self.providers: dict = {}
        self.model_calls = {"generate": 0, "evidence": 0}

    def run(self) -> tuple[Path, Results]:
        from eclipse_bench.bench.app.runner import provider_identities
        from eclipse_bench.bench.app.scoring import score_run
        from eclipse_bench.metrics.registry import METRICS, PROVIDERS, check_choices, choices_from
        from eclipse_bench.metrics.stage import assign_evidence_keys, collect_evidence
        from eclipse_bench.prompts.extract import extractor_info
        from eclipse_bench.prompts.registry import load_suite

        opts = self.opts
        suite = load_suite(opts.suite, opts.split).limit(opts.limit, opts.limit_mode)
        metric = METRICS.get(opts.metric or suite.default_metric)
        check_choices(opts.settings(), metric)
        images = Path(opts.images)
        found = read(images, suite, opts.layout)
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
            problems.append(_listing(f"file(s) that match no prompt of {suite.name}", found.unmatched))
        problems += found.problems[:3]
        if unreadable:
            problems.append(_listing("file(s) that are no readable image", unreadable))
        if missing and not opts.allow_missing:
            problems.append(_listing("prompt(s) without images", [f"{i.id} {i.prompt!r}" for i in missing]))
        if fewer and not opts.allow_missing:
            problems.append(_listing("prompt(s) with fewer images than the others", fewer))
        if problems:
            raise UserError(f"{images}: {'; '.join(problems)}; fix the folder (or the --suite, --layout), or pass "
                            f"--allow-missing to score the prompts that have images (nothing was imported)")
        print(f"eclipse-bench: layout {found.layout}{' (recognised)' if opts.layout == 'auto' else ''}, "
              f"{len(found.matches)} images of {len(counts)} prompts", file=sys.stderr)
        name = opts.name or (images.stem if images.is_file() else images.name)
        out = Path(opts.out) if opts.out else default_out(name, suite)
        check_owner(out, name, suite.name)
        recorded = recorded_identities(out)
        ids = Identities(recorded.get("checkpoints"))
        samples = []
        for m, data, sha, orientation in good:
            samples.append({"key": digest({"imported": sha, "prompt": m.item.prompt, "n": m.n}), "prompt_id": m.item.id,
                            "prompt": m.item.prompt, "n": m.n, "seed": m.seed, "item": m.item, "sha256": sha,
                            "image": f"images/{sha}{m.path.suffix.lower() or '.img'}", "source": str(m.path),
                            "data": data, "orientation": orientation})
        turned = [s["source"] for s in samples if s["orientation"]]
        if turned:
            print(f"eclipse-bench: {_listing('image(s) with an EXIF orientation', [Path(t).name for t in turned])} "
                  f"are scored upright, as displayed and as GenEval's and GenEval 2's loaders read them",
                  file=sys.stderr)
        samples.sort(key=lambda s: ([i.id for i in suite.items].index(s["prompt_id"]), s["n"]))
        device = opts.device or _default_device()
        choices = choices_from(opts.settings(), metric)   # --judge, --detector
        idents = provider_identities(ids, metric, opts.scorers, device, self.providers, choices)
        seeds_known = found.seeds_known and all(s["seed"] is not None for s in samples)
        ipp = max([s["n"] + 1 for s in samples] or [0])
        manifest = Manifest(
            version=__version__, git_revision=git_revision(), created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            pairing={"name": name, "family": "imported"},
            suite=SuiteInfo(suite.name, suite.source, suite.hash, len(suite.items), suite.reference_images or None),
            metric=MetricInfo(metric.name, metric.version, opts.scorers,
                              {p: PROVIDERS.get(p).model(opts.scorers, choices.get(p)) for p in metric.providers},
                              idents, opts.reference_compat, **metric.label(choices, suite.items)),
            identities={"checkpoints": ids.record(),
                        "providers": merge_provider_identities(recorded.get("providers"), opts.scorers, idents)},
            specs=extractor_info() if suite.extracted else {"backend": "given", "reference_exact": True},
            settings={**opts.settings(), "images_per_prompt": ipp,
                      "seeds": sorted({s["seed"] for s in samples}) if seeds_known else None},
            source={"kind": "imported", "layout": found.layout, "from": str(images.resolve()), "model": name,
                    "seeds": "known" if seeds_known else "unknown",
                    "missing_prompts": [i.id for i in missing],
                    **({"exif_upright": len(turned)} if turned else {})},
            versions=package_versions(), platform=platform.platform(), command=list(sys.argv))
        with RunLock(out):
            remove_stale_temporaries(out)
            atomic_write_json(out / PENDING_MANIFEST, manifest.to_json())
            self.store(out, samples)
            assign_evidence_keys(samples, metric, idents)
            revisions = {p: r for p in metric.providers for c in PROVIDERS.get(p).checkpoints(opts.scorers, choices.get(p))
                         if (r := ids.revision(c.id))}
            collect_evidence(out, samples, metric, opts.scorers, device, opts.progress, "", self.providers,
                             self.model_calls, revisions, choices)
            coverage = {"n_prompts": len(suite.items), "missing_prompts": [i.id for i in missing]} if missing else None
            if fewer:
                coverage = {**(coverage or {"n_prompts": len(suite.items), "missing_prompts": []}),
                            "fewer_images": fewer}
            results = score_run(out, samples, metric, opts.reference_compat, {}, reference_images=suite.reference_images,
                                manifest=manifest, coverage=coverage)
            os.replace(out / PENDING_MANIFEST, out / "manifest.json")
            write_finished(out, len(samples))
            from eclipse_bench.reports.html import render_run

            render_run(out, out / "report.html")
        return out, results

    @staticmethod
    def store(out: Path, samples: list[dict]) -> None:
        """Copy the images the directory lacks, byte for byte, under their sha256; record each sample once."""
        from eclipse_bench.bench.generation.stage import verified_images

        have = {r.key for r in read_all(out, "images", ImageRecord)} if out.is_dir() else set()
        intact, _ = verified_images(out) if have else ({}, [])
        new = []
        for s in samples:
            if s["key"] in intact:
                continue
            path = out / s["image"]
            if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == s["sha256"]):
                atomic_write_bytes(path, s["data"])
            extra = {"source": s["source"], **({"exif_orientation": s["orientation"]} if s["orientation"] else {})}
            new.append(ImageRecord(s["key"], s["prompt_id"], s["n"], s["image"], s["seed"], s["sha256"],
                                   extra=extra).to_json())
        for s in samples:
            s.pop("data", None)
        append_jsonl(out / "images.jsonl", new)


def _default_device() -> str:
    from eclipse_bench.bench.generation.generator import default_device

    return default_device()


def command(a) -> int:
    from eclipse_bench.bench.app.options import from_namespace

    out, results = Importer(from_namespace(ScoreOptions, a)).run()
    lo, hi = results.ci95
    score = "n/a" if results.score is None else f"{results.score:.4f}"
    ci = "" if lo is None else f" (95% CI {lo:.4f}-{hi:.4f})"
    miss = results.coverage["missing_prompts"] if results.coverage else []
    print(f"{results.pairing} on {results.suite}: {results.metric} = {score}{ci}, {results.n_images} images of "
          f"{results.n_prompts} prompts{f', {len(miss)} prompts without images' if miss else ''}")
    print(f"report: {(out / 'report.html').resolve()}")
    return 0
