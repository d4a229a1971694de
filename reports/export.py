"""`eclipse-bench export`: runs as tables (pandas) for people who make their own plots."""

from __future__ import annotations

from eclipse_bench.bench.core.keys import inside

from pathlib import Path

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.schema import Sample, read_records, read_results

SAMPLE_COLUMNS = ("pairing", "suite", "metric", "prompt_id", "prompt", "category", "level", "n", "seed", "image",
                  "score", "reason", "run")


def export_frame(run_dirs: list[Path], level: str = "sample"):
    import pandas as pd

    rows = []
    for d in run_dirs:
        d = Path(d)
        r = read_results(d).to_json()
        if level == "sample":
            for rec in read_records(d / "samples.jsonl", Sample):
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


def export(run_dirs: list[Path], out: Path, fmt: str, level: str = "sample") -> Path:
    for d in run_dirs:
        if not (Path(d) / "results.json").is_file():
            raise UserError(f"{d} is not a finished run directory (no results.json)")
    df = export_frame(run_dirs, level)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        df.to_csv(out, index=False)
    elif fmt == "parquet":
        df.to_parquet(out, index=False)
    elif fmt == "json":
        df.to_json(out, orient="records", indent=1, force_ascii=False)
    else:
        raise UserError(f"unknown --format {fmt!r}; use csv, parquet or json")
    return out
