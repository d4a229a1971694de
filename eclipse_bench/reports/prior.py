"""The prior-eval report (RUN_DIR/prior_eval/report.html) and its rows for the leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from eclipse_bench.bench.core.schema import read_prior_results
from eclipse_bench.bench.core.store import atomic_write_bytes, read_jsonl
from eclipse_bench.reports.render import csp, template_env


def render_prior(folder: Path, out: Path) -> Path:
    r = read_prior_results(folder).to_json()
    prompts = list(read_jsonl(folder / "prompts.jsonl"))
    first = next(iter(r["models"]))
    prompts.sort(key=lambda p: -(p["models"].get(first, {}).get("contrast") or 0))
    kinds = sorted({k for m in r["models"].values() for k in m.get("by_kind", {})})
    categories = sorted(next(iter(r["models"].values())).get("by_category", {}))
    html = template_env().get_template("prior.html.j2").render(r=r, prompts=prompts, kinds=kinds,
                                                               categories=categories, csp=csp())
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)


def prior_rows(run_dir: Path) -> Optional[dict]:
    """A run directory's prior-eval results for the leaderboard, with the per-prompt rank correlation between
    the prior's contrast and the image-level score where the same directory holds both."""
    folder = Path(run_dir) / "prior_eval"
    if not (folder / "results.json").is_file():
        return None
    r = read_prior_results(folder).to_json()
    out = {"pairing": r["pairing"], "suite": r["suite"], "models": r["models"], "prior": r.get("prior"),
           "n_prompts": r["n_prompts"], "spearman": None}
    if (Path(run_dir) / "samples.jsonl").is_file():
        out["spearman"] = contrast_vs_images(folder, Path(run_dir), r.get("prior"))
    return out


def contrast_vs_images(folder: Path, run_dir: Path, prior_name: Optional[str]) -> Optional[dict]:
    """Spearman correlation over prompts: the prior's contrast (lower is better) against the mean image score."""
    from scipy.stats import spearmanr  # lazy: scipy

    contrast = {p["prompt_id"]: p["models"].get(prior_name, {}).get("contrast")
                for p in read_jsonl(folder / "prompts.jsonl")}
    by_prompt: dict[str, list] = {}
    for s in read_jsonl(run_dir / "samples.jsonl"):
        if s.get("score") is not None:
            by_prompt.setdefault(s["prompt_id"], []).append(s["score"])
    common = [p for p in by_prompt if contrast.get(p) is not None]
    if len(common) < 3:
        return None
    x = np.array([contrast[p] for p in common])
    y = np.array([np.mean(by_prompt[p]) for p in common])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p": None, "n": len(common), "note": "constant values"}
    res = spearmanr(x, y)
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(common)}
