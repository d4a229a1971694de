"""`eclipse-bench export`: runs as tables (pandas) for people who make their own plots."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import inside
from eclipse_bench.bench.core.state import RunState
from eclipse_bench.bench.core.store import atomic_write_bytes
from eclipse_bench.reports.html import completeness

SAMPLE_COLUMNS = ("pairing", "suite", "metric", "prompt_id", "prompt", "category", "level", "n", "seed", "image",
                  "score", "reason", "run")


def export_frame(run_dirs: list[Path], level: str = "sample", allow_incomplete: bool = False,
                 metric: Optional[str] = None, compat: Optional[bool] = None):
    """One row per sample (or per group of the results) of finished runs; an incomplete run (samples or images
    missing) is an error unless allow_incomplete."""
    import pandas as pd  # lazy: pandas

    rows = []
    for d in run_dirs:
        d = Path(d)
        state = RunState.variant(d, metric, compat, "export")
        samples, _, _ = completeness(state, allow_incomplete, "export")   # every level: scores checked to be numbers
        r = state.results().to_json()
        if level == "sample":
            for rec in samples:
                s = rec.to_json()
                rows.append({"pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"],
                             **{k: s.get(k) for k in SAMPLE_COLUMNS[3:-1]}, "image": str(inside(d, rec.image)),
                             "run": str(d)})
        else:
            lo, hi = r.get("ci95", [None, None])
            rows.append({"pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"], "group": "overall",
                         "score": r["score"], "ci_low": lo, "ci_high": hi, "n_images": r["n_images"], "run": str(d)})
            for key in ("by_category", "by_level"):
                for g, v in (r.get(key) or {}).items():
                    rows.append({"pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"],
                                 "group": f"{key[3:]}={g}", "score": v, "ci_low": None, "ci_high": None,
                                 "n_images": None, "run": str(d)})
    return pd.DataFrame(rows)


def export(run_dirs: list[Path], out: Path, fmt: str, level: str = "sample", allow_incomplete: bool = False,
           metric: Optional[str] = None, compat: Optional[bool] = None) -> Path:
    df = export_frame(run_dirs, level, allow_incomplete, metric, compat)
    out = Path(out)
    if fmt == "csv":
        data = df.to_csv(index=False).encode("utf-8")
    elif fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    elif fmt == "json":
        data = df.to_json(orient="records", indent=1, force_ascii=False).encode("utf-8")
    else:
        raise UserError(f"unknown --format {fmt!r}; use csv, parquet or json")
    atomic_write_bytes(out, data, make_parents=False)   # whole or nothing, into a folder that exists
    return out
