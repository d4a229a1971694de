"""The one run pipeline, whichever way images enter a run directory (made by a pairing: runner.py; imported from
anywhere: importer.py). Both plan PlannedSamples (eclipse_bench.bench.core.keys); this module resolves the scorers'
identities, writes the plan (manifest.next.json), collects evidence, scores, commits the finished state and prints
the result. The callers keep only what differs: where the images come from.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from eclipse_bench.bench.app.preflight import preflight
from eclipse_bench.bench.app.rundir import (check_owner, git_revision, merge_provider_identities,
                                            package_versions, recorded_identities)
from eclipse_bench.bench.app.scoring import commit_state, score_samples, summarise_rows
from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Identities, PlannedSample
from eclipse_bench.bench.core.loaders import default_device
from eclipse_bench.bench.core.registry import import_string
from eclipse_bench.bench.core.schema import EvidenceRecord, Manifest, MetricInfo, Results, SuiteInfo, read_all
from eclipse_bench.bench.core.state import PENDING_MANIFEST, RunState, roll_forward
from eclipse_bench.bench.core.store import RunLock, atomic_write_json, remove_stale_temporaries
from eclipse_bench.bench.core.version import __version__
from eclipse_bench.metrics.registry import PROVIDERS, MetricDef
from eclipse_bench.metrics.stage import assign_evidence_keys, collect_evidence
from eclipse_bench.prompts.extract import extractor_info
from eclipse_bench.prompts.spec import Suite


def listing(what: str, things: list, n: int = 3) -> str:
    """'N what (a, b, c, ...)': the first few of a list in a one-line message."""
    return f"{len(things)} {what} ({', '.join(map(str, things[:n]))}{', ...' if len(things) > n else ''})"


class Pipeline:
    """One invocation's work on one run directory: `out` holds a run of `name` (a pairing, or an imported model) on
    `suite`, scored with `metric` by the `scorers` models (`choices`: provider -> --judge / --detector value)."""

    def __init__(self, out: Path, name: str, suite: Suite, metric: MetricDef, scorers: str, choices: dict,
                 device: Optional[str], progress: bool, reference_compat: bool):
        self.out, self.name, self.suite, self.metric = Path(out), name, suite, metric
        self.scorers, self.choices, self.progress, self.reference_compat = scorers, choices, progress, reference_compat
        self._device = device
        check_owner(self.out, name, suite.name)
        self.recorded = recorded_identities(self.out)
        # checkpoint identities, resolved once: what this machine holds, else what the directory recorded
        self.identities = Identities(self.recorded.get("checkpoints"))
        self.providers: dict[str, Any] = {}           # models loaded (to resolve an identity, or for evidence)
        self.provider_identities: dict[str, Optional[dict]] = {}
        self.model_calls = {"generate": 0, "evidence": 0}

    def device(self) -> str:
        return self._device or default_device()

    # -- the scorers ----------------------------------------------------------------------------------------------
    def provider_checkpoints(self) -> dict:
        return {p: PROVIDERS.get(p).checkpoints(self.scorers, self.choices.get(p)) for p in self.metric.providers}

    def identify_providers(self) -> dict:
        """The providers' identities for evidence keys, None where a checkpoint is not resolved yet."""
        self.provider_identities = {p: PROVIDERS.get(p).identity(self.scorers, self.identities, self.choices.get(p))
                                    for p in self.metric.providers}
        return self.provider_identities

    def unresolved_providers(self) -> dict:
        """provider -> its checkpoints that are neither on this machine nor recorded by the run directory."""
        return {p: [c for c in cks if self.identities(c.id, c.kind) is None]
                for p, cks in self.provider_checkpoints().items()}

    def resolve_by_loading(self, open_cks: dict) -> None:
        """Load the providers whose checkpoints are unresolved (the loaders download what they load), kept for the
        evidence stage, and identify their checkpoints now that they are here."""
        for p, cks in open_cks.items():
            if cks:
                self.providers[p] = PROVIDERS.get(p).load(self.scorers, device=self.device(),
                                                          choice=self.choices.get(p))
                for c in cks:
                    if self.identities.refresh(c.id, c.kind) is None:
                        raise UserError(f"{c.role} {c.id}: loaded, but its identity cannot be resolved afterwards")

    def resolve_providers(self) -> dict:
        """Every provider checkpoint checked in one preflight, the unresolved ones downloaded (by loading them) and
        identified, then the providers' identities."""
        preflight([c for group in self.provider_checkpoints().values() for c in group], "nothing was imported",
                  self.scorers)
        self.resolve_by_loading(self.unresolved_providers())
        return self.identify_providers()

    def evidence_missing(self, provider: str, samples: list[PlannedSample]) -> bool:
        have = {r.key for r in read_all(self.out / "evidence", provider, EvidenceRecord)} if self.out.exists() \
            else set()
        return any(s.evidence_keys.get(provider) not in have for s in samples)

    def check_budget(self, samples: list[PlannedSample], max_requests: Optional[int], generation: int = 0) -> None:
        """Refuse, before any work, a run that needs more requests to served models than --max-requests: `generation`
        image requests plus one per judge question of the images that lack a served provider's evidence."""
        if max_requests is None:
            return
        if self.provider_identities and all(v is not None for v in self.provider_identities.values()):
            assign_evidence_keys(samples, self.metric, self.provider_identities)
        have: dict = {}
        evidence = 0
        for p in self.metric.providers:
            cls, _, variant = PROVIDERS.get(p).pick(self.scorers, self.choices.get(p))
            if variant != "served":
                continue
            impl = import_string(cls)
            if p not in have:
                have[p] = {r.key for r in read_all(self.out / "evidence", p, EvidenceRecord)} if self.out.exists() \
                    else set()
            evidence += sum(impl.requests_for(s.item) for s in samples if s.evidence_keys.get(p) not in have[p])
        need = generation + evidence
        if need > max_requests:
            parts = [f"{generation} image request(s)"] if generation else []
            parts += [f"{evidence} judge question(s)"] if evidence else []
            raise UserError(f"this run needs {need} requests to served models ({', '.join(parts)}), more than "
                            f"--max-requests {max_requests}; raise it, or use --limit (nothing was done)")

    # -- the plan -------------------------------------------------------------------------------------------------
    def manifest(self, pairing: dict, settings: dict, source: Optional[dict] = None) -> Manifest:
        suite, metric = self.suite, self.metric
        return Manifest(
            version=__version__, git_revision=git_revision(),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), pairing=pairing,
            suite=SuiteInfo(suite.name, suite.source, suite.hash, len(suite.items), suite.reference_images or None),
            metric=MetricInfo(metric.name, metric.version, self.scorers,
                              {p: PROVIDERS.get(p).model(self.scorers, self.choices.get(p)) for p in metric.providers},
                              self.provider_identities, self.reference_compat,
                              **metric.label(self.choices, suite.items)),
            identities={"checkpoints": self.identities.record(),
                        "providers": merge_provider_identities(self.recorded.get("providers"), self.scorers,
                                                               self.provider_identities)},
            specs=extractor_info() if suite.extracted else {"backend": "given", "reference_exact": True,
                                                             "note": "specs from the suite's own structure"},
            settings=settings, **({"source": source} if source else {}),
            versions=package_versions(), platform=platform.platform(), command=list(sys.argv))

    @contextlib.contextmanager
    def writing(self, manifest: Manifest, shard: str = "") -> Iterator[None]:
        """Hold the run directory (a shard: shared, plus its own shard lock) with the plan written as
        manifest.next.json; the last finished state stays readable until finish() replaces it."""
        with RunLock(self.out, shard=shard):
            if not shard:   # no other writer is alive while we hold the directory exclusively
                roll_forward(self.out)               # a commit a killed writer decided: finished first
                remove_stale_temporaries(self.out)   # left by a killed writer
            pending = self.out / PENDING_MANIFEST
            if not shard or not pending.is_file():
                atomic_write_json(pending, manifest.to_json())
            yield

    # -- the stages -----------------------------------------------------------------------------------------------
    def collect_evidence(self, samples: list[PlannedSample], suffix: str = "") -> tuple[float, int]:
        """Each provider's evidence for the samples that lack it, each hub checkpoint pinned to the commit its keys
        name."""
        assign_evidence_keys(samples, self.metric, self.provider_identities)
        revisions = {p: r for p in self.metric.providers
                     for c in PROVIDERS.get(p).checkpoints(self.scorers, self.choices.get(p))
                     if (r := self.identities.revision(c.id))}
        return collect_evidence(self.out, samples, self.metric, self.scorers, self.device(), self.progress, suffix,
                                self.providers, self.model_calls, revisions, self.choices)

    def finish(self, samples: list[PlannedSample], manifest: Manifest, timings: dict,
               coverage: Optional[dict] = None) -> Results:
        """Score every sample, then commit the new state in one step: the plan (manifest.next.json), the samples, the
        results and the report become the run's together (eclipse_bench.bench.core.state.commit)."""
        rows = score_samples(self.out, samples, self.metric, self.reference_compat, self.suite.reference_images)
        previous = self.committed_results()
        timings = timings or (previous.timings if previous else {})
        served = {f"served_{p}": prov.client.summary() for p, prov in self.providers.items()
                  if getattr(prov, "client", None) is not None and prov.client.counters["requests"]}
        if served:   # this invocation's requests to a served judge (counters, tokens and cost the server reported)
            timings = {**timings, **served}
        results = summarise_rows(rows, [s.item for s in samples], self.metric, manifest, self.reference_compat,
                                 timings,
                                 coverage if coverage is not None else (previous.coverage if previous else None))
        commit_state(self.out, "", rows, results)
        return results

    def committed_results(self) -> Optional[Results]:
        """The results of the directory's last committed state (None: none, or unreadable)."""
        try:
            return RunState.open(self.out, "").results() if (self.out / "finished.json").is_file() else None
        except UserError:
            return None


def print_results(results: Results, report: Path) -> None:
    """The result as the command line prints it: the score with its CI and counts, then the report's path."""
    lo, hi = results.ci95
    score = "n/a" if results.score is None else f"{results.score:.4f}"
    ci = "" if lo is None else f" (95% CI {lo:.4f}-{hi:.4f})"
    missing = (results.coverage or {}).get("missing_prompts") or []
    extra = (f", {results.n_unscorable} unscorable" if results.n_unscorable else "") + \
        (f", {len(missing)} prompts without images" if missing else "")
    print(f"{results.pairing} on {results.suite}: {results.metric} = {score}{ci}, "
          f"{results.n_images} images of {results.n_prompts} prompts{extra}")
    print(f"report: {Path(report).resolve()}")
