"""Self-contained HTML for one run: the score with its 95% CI and every image with its score.

jinja2 with autoescaping: prompt text is always shown literally. Thumbnails are embedded as data
URIs so the file opens anywhere.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from eclipse_bench.store import atomic_write_bytes, read_json, read_jsonl

THUMB = 160


def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("eclipse_bench.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
    )


def thumbnail_uri(path: Path, size: int = THUMB) -> str:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
    except (OSError, ValueError):
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(x: Any, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_run(run_dir: Path, out: Path) -> Path:
    run_dir = Path(run_dir)
    results = read_json(run_dir / "results.json", "results")
    manifest = read_json(run_dir / "manifest.json", "manifest")
    samples = list(read_jsonl(run_dir / "samples.jsonl"))
    prompts: dict[str, dict[str, Any]] = {}
    for s in samples:
        p = prompts.setdefault(s["prompt_id"], {"id": s["prompt_id"], "prompt": s["prompt"], "images": [],
                                                "spec": s.get("spec")})
        p["images"].append({"uri": thumbnail_uri(run_dir / s["image"]), "score": _fmt(s["score"]),
                            "seed": s["seed"], "reason": s.get("reason") or "", "path": s["image"]})
    for p in prompts.values():
        scores = [s["score"] for s in samples if s["prompt_id"] == p["id"] and s["score"] is not None]
        p["mean"] = sum(scores) / len(scores) if scores else None
        p["mean_str"] = _fmt(p["mean"])
    ordered = sorted(prompts.values(), key=lambda p: (p["mean"] is None, p["mean"] if p["mean"] is not None else 0))
    html = _env().get_template("run.html.j2").render(
        results=results, manifest=manifest, prompts=ordered, score=_fmt(results.get("score")),
        ci=[_fmt(v) for v in results.get("ci95", [None, None])],
        settings_json=json.dumps(manifest.get("settings", {}), indent=1),
        timings=results.get("timings", {}),
    )
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)


def render_leaderboard(run_dirs: list[Path], out: Path) -> Path:
    """One row per run: pairing, suite, metric, score and CI."""
    rows = []
    for d in run_dirs:
        r = read_json(Path(d) / "results.json", "results")
        rows.append({"pairing": r["pairing"], "suite": r["suite"], "metric": r["metric"], "score": _fmt(r["score"]),
                     "ci": [_fmt(v) for v in r.get("ci95", [None, None])], "n_images": r["n_images"],
                     "raw": r["score"]})
    rows.sort(key=lambda r: (r["suite"], -(r["raw"] if r["raw"] is not None else -1)))
    html = _env().get_template("leaderboard.html.j2").render(rows=rows)
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)
