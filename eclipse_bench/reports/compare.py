"""`eclipse-bench compare`: a candidate run against a baseline run, as a CI regression gate.

Per group (overall, then each category and level) the score difference, its paired bootstrap CI over
prompts and a Wilcoxon signed-rank test on per-prompt scores. A regression is a drop larger than
--max-drop that is also significant (p < alpha and the CI below zero), or a loss of coverage: the candidate
scores fewer of the baseline's prompts, or has more unscorable samples than --max-unscorable-increase allows.
Runs that are not comparable (other suite, prompts, metric or metric version, rules, protocol, scorers) are
a data error (exit 2), never compared silently; --allow names a difference to accept deliberately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.schema import Results
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.metrics.aggregate import bootstrap_ci, per_prompt_stats
from eclipse_bench.metrics.registry import METRICS, check_scores
from eclipse_bench.reports.plots import deltas_figure, emit
from eclipse_bench.reports.render import csp, image_uri, template_env


@dataclass
class GroupResult:
    name: str
    baseline: Optional[float]
    candidate: Optional[float]
    delta: Optional[float]
    ci95: list
    p_value: Optional[float]
    n_prompts: int
    verdict: str          # pass | regression | improvement
    changed: list = field(default_factory=list)   # (prompt_id, prompt, base, cand) most changed first
    # the smallest drop this gate can call a regression with these prompts (None: none at all): max(--max-drop, the
    # half-width of the paired bootstrap CI of the difference); a true drop below it is lost in the paired noise
    detectable_drop: Optional[float] = None
    deltas: list = field(default_factory=list)    # (prompt_id, candidate - baseline) of every common prompt


@dataclass
class Coverage:
    baseline_prompts: int
    candidate_prompts: int
    missing_prompts: list          # scored in the baseline, not in the candidate
    baseline_unscorable: int
    candidate_unscorable: int
    max_unscorable_increase: int

    @property
    def failed(self) -> bool:
        return bool(self.missing_prompts) or \
            self.candidate_unscorable - self.baseline_unscorable > self.max_unscorable_increase

    def reason(self) -> str:
        parts = []
        if self.missing_prompts:
            parts.append(f"{len(self.missing_prompts)} of the baseline's {self.baseline_prompts} scored prompts are "
                         f"not scored in the candidate (e.g. {', '.join(self.missing_prompts[:3])})")
        grew = self.candidate_unscorable - self.baseline_unscorable
        if grew > self.max_unscorable_increase:
            parts.append(f"unscorable samples {self.baseline_unscorable} -> {self.candidate_unscorable} "
                         f"(allowed increase {self.max_unscorable_increase})")
        return "; ".join(parts) or "same coverage"


@dataclass
class Comparison:
    baseline: str
    candidate: str
    metric: str
    suite: str
    max_drop: float
    alpha: float
    groups: list[GroupResult]
    coverage: Optional[Coverage] = None
    warnings: list = field(default_factory=list)
    allowed: list = field(default_factory=list)
    variant: tuple = (None, None)   # the states compared: (metric, compat) of a rescore's variant; None: the runs' own

    @property
    def regressed(self) -> bool:
        return any(g.verdict == "regression" for g in self.groups) or bool(self.coverage and self.coverage.failed)

    def to_json(self) -> dict:
        cov = self.coverage
        return {"baseline": self.baseline, "candidate": self.candidate, "metric": self.metric, "suite": self.suite,
                "max_drop": self.max_drop, "alpha": self.alpha,
                "verdict": "regression" if self.regressed else "pass",
                "coverage": None if cov is None else {**{k: v for k, v in cov.__dict__.items()},
                                                      "failed": cov.failed, "reason": cov.reason()},
                "warnings": list(self.warnings), "allowed_differences": list(self.allowed),
                "power": power_line(self),
                "groups": [{k: v for k, v in g.__dict__.items() if k not in ("changed", "deltas")}
                           for g in self.groups]}


ALLOWABLE = ("suite", "prompts", "metric", "metric-version", "compat", "images-per-prompt", "seeds", "scorers",
             "unfinished")


def _check_comparable(sb: RunState, sc: RunState, allow: tuple = ()) -> tuple[Results, Results, list]:
    base, cand = sb.run_dir, sc.run_dir
    mb, mc = sb.manifest(), sc.manifest()
    rb, rc = sb.results(), sc.results()
    scorer = lambda m: m.metric.identities or m.metric.models  # noqa: E731
    checks = [
        ("suite", "suite", mb.suite.name, mc.suite.name),
        ("prompts", "prompt list (suite hash)", mb.suite.hash[:12], mc.suite.hash[:12]),
        ("metric", "metric", rb.metric, rc.metric),
        ("metric-version", "metric version", rb.metric_version, rc.metric_version),
        ("compat", "rules (--reference-compat)", rb.reference_compat, rc.reference_compat),
        ("images-per-prompt", "images per prompt", mb.images_per_prompt, mc.images_per_prompt),
        ("seeds", "seeds", mb.settings.get("seeds"), mc.settings.get("seeds")),
        ("scorers", "scorer models", scorer(mb), scorer(mc)),
    ]
    notes = []
    for key, what, a, b in checks:
        if key == "seeds" and (a is None or b is None):   # images imported without seeds: nothing to compare
            unknown = [str(d) for d, v in ((base, a), (cand, b)) if v is None]
            notes.append(f"seeds not compared: {' and '.join(unknown)} holds images without controllable seeds "
                         f"(imported without seeds, or drawn by a served model); prompts are paired, the images "
                         f"within a prompt are not")
            continue
        if a != b and key not in allow:
            shown = (a, b) if key != "scorers" else (mb.metric.models, mc.metric.models)
            raise UserError(f"cannot compare {base} and {cand}: different {what} ({shown[0]} vs {shown[1]}); re-run "
                            f"the candidate with the baseline's settings, or pass --allow {key} to compare anyway")
    return rb, rc, notes


def _samples(state: RunState) -> list[dict]:
    """Every sample of a run's state, its scores checked to be numbers on the metric's scale (a cut samples.jsonl is
    an error: a gate must not pass on fewer prompts)."""
    rows = state.samples()
    check_scores(state.results(), rows, state.path(f"results{state.suffix}.json"),
                 state.path(f"samples{state.suffix}.jsonl"))
    return [r.to_json() for r in rows]


def open_run(run_dir: Path, variant: tuple = (None, None), allow: tuple = ()) -> RunState:
    """A run's committed state for the gate (`variant`: (metric, compat) of one rescore wrote beside the run's own);
    a pending rerun is refused unless --allow unfinished (a gate must not pass on stale results)."""
    state = RunState.variant(Path(run_dir), *variant, "compare")
    if state.pending_rerun and "unfinished" not in allow:
        raise UserError(f"{run_dir} is unfinished (a rerun of it has not finished; its results are those of the run "
                        f"before): rerun the same `eclipse-bench run` command to finish it, then compare (or pass "
                        f"--allow unfinished to compare the results it has)")
    return state


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with n pairs."""
    return min(1.0, 2.0 / 2 ** n) if n > 0 else 1.0


def _stats(rows: list[dict], agg) -> dict[str, np.ndarray]:
    ids, P = per_prompt_stats(rows, agg)
    return dict(zip(ids, P))


def compare_runs(base: Path, cand: Path, max_drop: Optional[float] = None, alpha: float = 0.05,
                 n_resamples: int = 2000, seed: int = 0, max_unscorable_increase: int = 0,
                 min_prompts: Optional[int] = None, allow: tuple = (), metric: Optional[str] = None,
                 compat: Optional[bool] = None) -> Comparison:
    from scipy import stats as sps  # lazy: scipy

    base, cand = Path(base), Path(cand)
    sb, sc = open_run(base, (metric, compat), tuple(allow)), open_run(cand, (metric, compat), tuple(allow))
    rb, rc, notes = _check_comparable(sb, sc, tuple(allow))
    agg = METRICS.get(rb.metric).aggregator()
    if max_drop is None:
        max_drop = 1.0 if agg.scale == "0-100" else 0.01
    rows_b, rows_c = _samples(sb), _samples(sc)
    for d, rows in ((base, rows_b), (cand, rows_c)):
        if not any(r.get("score") is not None for r in rows):
            raise UserError(f"{d} has no scored sample (samples.jsonl is empty or every sample is unscorable); "
                            f"a gate cannot pass on it: finish or fix the run first")
    scored = lambda rows: {r["prompt_id"] for r in rows if r.get("score") is not None}  # noqa: E731
    sb_ids, sc_ids = scored(rows_b), scored(rows_c)
    coverage = Coverage(len(sb_ids), len(sc_ids), sorted(sb_ids - sc_ids),
                        sum(r.get("score") is None for r in rows_b), sum(r.get("score") is None for r in rows_c),
                        max_unscorable_increase)
    n_common = len(sb_ids & sc_ids)
    warnings = list(notes)
    if min_prompts is not None and n_common < min_prompts:
        raise UserError(f"only {n_common} prompts are scored in both runs, fewer than --min-prompts {min_prompts}; "
                        f"run more prompts (drop --limit) or lower --min-prompts")
    if min_wilcoxon_p(n_common) >= alpha:
        warnings.append(f"with {n_common} prompts the paired test can never reach p < {alpha} (smallest possible "
                        f"p {min_wilcoxon_p(n_common):.3f}): no drop can be called a regression; use more prompts "
                        f"or --min-prompts to require them")
    groups = [("overall", lambda r: True)]
    for key in ("category", "level"):
        values = sorted({r.get(key) for r in rows_b if r.get(key)})
        if len(values) > 1:
            groups += [(f"{key}={v}", (lambda k, v: lambda r: r.get(k) == v)(key, v)) for v in values]
    prompts = {r["prompt_id"]: r["prompt"] for r in rows_b}
    results = []
    for name, keep in groups:
        sb, sc = _stats([r for r in rows_b if keep(r)], agg), _stats([r for r in rows_c if keep(r)], agg)
        common = sorted(set(sb) & set(sc))
        if not common:
            results.append(GroupResult(name, None, None, None, [None, None], None, 0, "pass"))
            continue
        Pb, Pc = np.stack([sb[i] for i in common]), np.stack([sc[i] for i in common])
        score_b, score_c = float(agg.combine(Pb.sum(0))), float(agg.combine(Pc.sum(0)))
        delta = score_c - score_b
        per_b, per_c = agg.combine(Pb), agg.combine(Pc)
        diffs = np.nan_to_num(per_c - per_b)
        if len(common) > 1:  # paired: the same resampled prompts in both runs
            ci = bootstrap_ci(lambda idx: agg.combine(Pc[idx].sum(1)) - agg.combine(Pb[idx].sum(1)), len(common),
                              n_resamples, seed)
        else:
            ci = [delta, delta]
        if len(common) < 2 or np.allclose(diffs, 0):
            p = 1.0
        else:
            p = float(sps.wilcoxon(diffs, zero_method="zsplit").pvalue)
        detectable = None
        if min_wilcoxon_p(len(common)) < alpha and ci[0] is not None:
            detectable = max(max_drop, (ci[1] - ci[0]) / 2)
        significant = p < alpha
        if delta < -max_drop and significant and ci[1] is not None and ci[1] < 0:
            verdict = "regression"
        elif delta > max_drop and significant and ci[0] is not None and ci[0] > 0:
            verdict = "improvement"
        else:
            verdict = "pass"
        order = np.argsort(-np.abs(diffs))[:12]
        changed = [(common[i], prompts.get(common[i], ""), float(per_b[i]), float(per_c[i])) for i in order
                   if diffs[i] != 0]
        results.append(GroupResult(name, score_b, score_c, delta, ci, p, len(common), verdict, changed, detectable,
                                   [(pid, float(v)) for pid, v in zip(common, diffs)]))
    return Comparison(str(base), str(cand), rb.metric, rb.suite, max_drop, alpha, results, coverage, warnings,
                      [a for a in allow], (metric, compat))


def format_text(c: Comparison) -> str:
    lines = [f"compare {c.metric} on {c.suite}: baseline {c.baseline} vs candidate {c.candidate} "
             f"(max drop {c.max_drop}, alpha {c.alpha})",
             f"{'group':24s} {'baseline':>9s} {'candidate':>9s} {'delta':>9s} {'95% CI':>21s} {'p':>7s} "
             f"{'detects':>8s}  verdict"]
    f = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
    for g in c.groups:
        ci = f"[{f(g.ci95[0])}, {f(g.ci95[1])}]"
        det = "none" if g.detectable_drop is None else f"{g.detectable_drop:.4f}"
        lines.append(f"{g.name:24s} {f(g.baseline):>9s} {f(g.candidate):>9s} {f(g.delta):>9s} {ci:>21s} "
                     f"{f(g.p_value):>7s} {det:>8s}  {g.verdict.upper() if g.verdict == 'regression' else g.verdict}")
    lines.append(power_line(c))
    cov = c.coverage
    if cov is not None:
        lines.append(f"coverage: baseline {cov.baseline_prompts} prompts scored, {cov.baseline_unscorable} unscorable "
                     f"samples; candidate {cov.candidate_prompts} prompts, {cov.candidate_unscorable} unscorable"
                     f"{' -> COVERAGE REGRESSION: ' + cov.reason() if cov.failed else ''}")
    for w in c.warnings:
        lines.append(f"warning: {w}")
    if c.allowed:
        lines.append(f"allowed differences: {', '.join(c.allowed)}")
    lines.append("verdict: REGRESSION" if c.regressed else "verdict: pass")
    return "\n".join(lines)


def power_line(c: Comparison) -> str:
    """What the gate can see: the smallest overall drop it could call a regression at this alpha."""
    g = c.groups[0]
    if g.detectable_drop is None:
        return (f"power: with {g.n_prompts} common prompts no drop can be called a regression at alpha {c.alpha} "
                f"(the paired test cannot reach it)")
    return (f"power: with {g.n_prompts} common prompts this gate detects overall drops larger than "
            f"{g.detectable_drop:.4f} at alpha {c.alpha} (max drop {c.max_drop}; smaller ones are within the paired "
            f"bootstrap's noise)")


def format_junit(c: Comparison) -> str:
    """JUnit XML (testsuites/testsuite/testcase/failure), one testcase per group."""
    cov = c.coverage
    failures = sum(g.verdict == "regression" for g in c.groups) + (1 if cov is not None and cov.failed else 0)
    tests = len(c.groups) + (1 if cov is not None else 0)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="eclipse-bench compare" tests="{tests}" failures="{failures}">',
           f'  <testsuite name={quoteattr(f"{c.suite} {c.metric}")} tests="{tests}" failures="{failures}" '
           f'errors="0" skipped="0">',
           '    <properties>',
           f'      <property name="detectable_drop" value={quoteattr("none" if c.groups[0].detectable_drop is None else f"{c.groups[0].detectable_drop:.6f}")}/>',
           f'      <property name="power" value={quoteattr(power_line(c))}/>',
           '    </properties>']
    for g in c.groups:
        out.append(f'    <testcase classname={quoteattr(c.suite)} name={quoteattr(g.name)} time="0">')
        detail = (f"baseline {g.baseline}, candidate {g.candidate}, delta {g.delta}, CI {g.ci95}, p {g.p_value}, "
                  f"max drop {c.max_drop}, detectable drop "
                  f"{'none' if g.detectable_drop is None else round(g.detectable_drop, 6)}")
        if g.verdict == "regression":
            out.append(f'      <failure message={quoteattr(f"{c.metric} dropped by {-g.delta:.4f}")} '
                       f'type="regression">{escape(detail)}</failure>')
        else:
            out.append(f"      <system-out>{escape(g.verdict + ': ' + detail)}</system-out>")
        out.append("    </testcase>")
    if cov is not None:
        out.append(f'    <testcase classname={quoteattr(c.suite)} name="coverage" time="0">')
        if cov.failed:
            out.append(f'      <failure message={quoteattr(cov.reason())} type="coverage">{escape(cov.reason())}</failure>')
        else:
            out.append(f"      <system-out>{escape('pass: ' + cov.reason())}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def format_junit_error(message: str) -> str:
    """A failing JUnit report for a comparison that could not be made (exit 2): one test case in error."""
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="eclipse-bench compare" tests="1" failures="0" errors="1">',
        '  <testsuite name="eclipse-bench compare" tests="1" failures="0" errors="1" skipped="0">',
        '    <testcase classname="eclipse-bench" name="compare" time="0">',
        f'      <error message={quoteattr(message)} type="usage or data error">{escape(message)}</error>',
        "    </testcase>", "  </testsuite>", "</testsuites>"]) + "\n"


def render_compare(c: Comparison, out: Path, plots_dir: Optional[Path] = None) -> Path:
    base_imgs: dict[str, list[str]] = {}
    cand_imgs: dict[str, list[str]] = {}
    for d, bucket in ((Path(c.baseline), base_imgs), (Path(c.candidate), cand_imgs)):
        for s in RunState.variant(d, *c.variant, "compare").samples():
            s = s.to_json()
            bucket.setdefault(s["prompt_id"], []).append(str(inside(d, s["image"])))
    overall = c.groups[0]
    changed = [{"id": pid, "prompt": prompt, "base": b, "cand": cc,
                "base_imgs": [image_uri(Path(p), 128) for p in base_imgs.get(pid, [])[:4]],
                "cand_imgs": [image_uri(Path(p), 128) for p in cand_imgs.get(pid, [])[:4]]}
               for pid, prompt, b, cc in overall.changed]
    plots = emit({"deltas": deltas_figure(c)}, plots_dir)
    html = template_env().get_template("compare.html.j2").render(c=c, changed=changed, csp=csp(), plots=plots)
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)
