"""`eclipse-bench compare`: a candidate run against a baseline run, as a CI regression gate.

Per group (overall, then each category and level) the score difference, its paired bootstrap CI over
prompts and a Wilcoxon signed-rank test on per-prompt scores. A regression is a drop larger than
--max-drop that is also significant (p < alpha and the CI below zero). Runs that are not comparable
(other suite, prompts, metric or metric version, rules, protocol) are a data error, never compared silently.
"""

from __future__ import annotations

from eclipse_bench.keys import inside

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from eclipse_bench.errors import UserError
from eclipse_bench.store import read_json, read_jsonl


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


@dataclass
class Comparison:
    baseline: str
    candidate: str
    metric: str
    suite: str
    max_drop: float
    alpha: float
    groups: list[GroupResult]

    @property
    def regressed(self) -> bool:
        return any(g.verdict == "regression" for g in self.groups)

    def to_json(self) -> dict:
        return {"baseline": self.baseline, "candidate": self.candidate, "metric": self.metric, "suite": self.suite,
                "max_drop": self.max_drop, "alpha": self.alpha,
                "verdict": "regression" if self.regressed else "pass",
                "groups": [{k: v for k, v in g.__dict__.items() if k != "changed"} for g in self.groups]}


def _check_comparable(base: Path, cand: Path) -> tuple[dict, dict]:
    mb, mc = read_json(base / "manifest.json", "manifest"), read_json(cand / "manifest.json", "manifest")
    rb, rc = read_json(base / "results.json", "results"), read_json(cand / "results.json", "results")
    checks = [
        ("suite", mb["suite"]["name"], mc["suite"]["name"]),
        ("prompt list (suite hash)", mb["suite"]["hash"][:12], mc["suite"]["hash"][:12]),
        ("metric", rb["metric"], rc["metric"]),
        ("metric version", rb.get("metric_version"), rc.get("metric_version")),
        ("rules (--reference-compat)", rb.get("reference_compat"), rc.get("reference_compat")),
        ("images per prompt", mb["settings"]["images_per_prompt"], mc["settings"]["images_per_prompt"]),
        ("seeds", mb["settings"].get("seeds"), mc["settings"].get("seeds")),
        ("scorer models", mb["metric"].get("models"), mc["metric"].get("models")),
    ]
    for what, a, b in checks:
        if a != b:
            raise UserError(f"cannot compare {base} and {cand}: different {what} ({a} vs {b}); re-run the candidate "
                            f"with the baseline's settings")
    return rb, rc


def _stats(rows: list[dict], agg) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for r in rows:
        if r.get("score") is None:
            continue
        out[r["prompt_id"]] = out.get(r["prompt_id"], 0) + np.asarray(agg.stats(r), dtype=float)
    return out


def compare_runs(base: Path, cand: Path, max_drop: Optional[float] = None, alpha: float = 0.05,
                 n_resamples: int = 2000, seed: int = 0) -> Comparison:
    from scipy import stats as sps

    from eclipse_bench.metrics.registry import METRICS

    base, cand = Path(base), Path(cand)
    for d in (base, cand):
        if not (d / "results.json").is_file():
            raise UserError(f"{d} is not a finished run directory (no results.json)")
    rb, rc = _check_comparable(base, cand)
    metric = METRICS.get(rb["metric"])
    agg = metric.aggregator()
    if max_drop is None:
        max_drop = 1.0 if agg.scale == "0-100" else 0.01
    rows_b, rows_c = list(read_jsonl(base / "samples.jsonl")), list(read_jsonl(cand / "samples.jsonl"))
    groups = [("overall", lambda r: True)]
    for key in ("category", "level"):
        values = sorted({r.get(key) for r in rows_b if r.get(key)})
        if len(values) > 1:
            groups += [(f"{key}={v}", (lambda k, v: lambda r: r.get(k) == v)(key, v)) for v in values]
    prompts = {r["prompt_id"]: r["prompt"] for r in rows_b}
    rng = np.random.default_rng(seed)
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
        if len(common) > 1:
            idx = rng.integers(0, len(common), size=(n_resamples, len(common)))
            boot = agg.combine(Pc[idx].sum(1)) - agg.combine(Pb[idx].sum(1))
            boot = boot[~np.isnan(boot)]
            ci = [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))] if boot.size else [None, None]
        else:
            ci = [delta, delta]
        if len(common) < 2 or np.allclose(diffs, 0):
            p = 1.0
        else:
            p = float(sps.wilcoxon(diffs, zero_method="zsplit").pvalue)
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
        results.append(GroupResult(name, score_b, score_c, delta, ci, p, len(common), verdict, changed))
    return Comparison(str(base), str(cand), rb["metric"], rb["suite"], max_drop, alpha, results)


def format_text(c: Comparison) -> str:
    lines = [f"compare {c.metric} on {c.suite}: baseline {c.baseline} vs candidate {c.candidate} "
             f"(max drop {c.max_drop}, alpha {c.alpha})",
             f"{'group':24s} {'baseline':>9s} {'candidate':>9s} {'delta':>9s} {'95% CI':>21s} {'p':>7s}  verdict"]
    f = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
    for g in c.groups:
        ci = f"[{f(g.ci95[0])}, {f(g.ci95[1])}]"
        lines.append(f"{g.name:24s} {f(g.baseline):>9s} {f(g.candidate):>9s} {f(g.delta):>9s} {ci:>21s} "
                     f"{f(g.p_value):>7s}  {g.verdict.upper() if g.verdict == 'regression' else g.verdict}")
    lines.append("verdict: REGRESSION" if c.regressed else "verdict: pass")
    return "\n".join(lines)


def format_junit(c: Comparison) -> str:
    """JUnit XML (testsuites/testsuite/testcase/failure), one testcase per group."""
    failures = sum(g.verdict == "regression" for g in c.groups)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="eclipse-bench compare" tests="{len(c.groups)}" failures="{failures}">',
           f'  <testsuite name={quoteattr(f"{c.suite} {c.metric}")} tests="{len(c.groups)}" failures="{failures}" '
           f'errors="0" skipped="0">']
    for g in c.groups:
        out.append(f'    <testcase classname={quoteattr(c.suite)} name={quoteattr(g.name)} time="0">')
        detail = (f"baseline {g.baseline}, candidate {g.candidate}, delta {g.delta}, CI {g.ci95}, p {g.p_value}, "
                  f"max drop {c.max_drop}")
        if g.verdict == "regression":
            out.append(f'      <failure message={quoteattr(f"{c.metric} dropped by {-g.delta:.4f}")} '
                       f'type="regression">{escape(detail)}</failure>')
        else:
            out.append(f"      <system-out>{escape(g.verdict + ': ' + detail)}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def render_compare(c: Comparison, out: Path) -> Path:
    from eclipse_bench.reports.html import _csp, _env, image_uri
    from eclipse_bench.store import atomic_write_bytes

    base_imgs: dict[str, list[str]] = {}
    cand_imgs: dict[str, list[str]] = {}
    for d, bucket in ((Path(c.baseline), base_imgs), (Path(c.candidate), cand_imgs)):
        for s in read_jsonl(d / "samples.jsonl"):
            bucket.setdefault(s["prompt_id"], []).append(str(inside(d, s["image"])))
    overall = c.groups[0]
    changed = [{"id": pid, "prompt": prompt, "base": b, "cand": cc,
                "base_imgs": [image_uri(Path(p), 128) for p in base_imgs.get(pid, [])[:4]],
                "cand_imgs": [image_uri(Path(p), 128) for p in cand_imgs.get(pid, [])[:4]]}
               for pid, prompt, b, cc in overall.changed]
    html = _env().get_template("compare.html.j2").render(c=c, changed=changed, csp=_csp())
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)
