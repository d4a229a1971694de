"""T2I-CompBench suites (the *_val.txt files: 300 prompts per category)."""

from __future__ import annotations

from eclipse_bench.errors import UserError
from eclipse_bench.prompts.extract import attribute_spec
from eclipse_bench.prompts.fetch import PINNED, locate
from eclipse_bench.prompts.spec import Item, Suite

ATTRIBUTE_CATEGORIES = ("color", "shape", "texture")


def read_lines(relpath: str) -> list[str]:
    path = locate(relpath)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def attribute_suite(category: str, variant: str = "") -> Suite:
    rel = f"t2i_compbench/{category}_val.txt"
    if variant == "2023":
        rel = f"t2i_compbench/pre_2025-09_color_dedup/{category}_val.txt"
    up = PINNED[rel][0]
    items = [
        Item(id=f"{category}-{i:03d}", prompt=p, category=category, spec=attribute_spec(p, category))
        for i, p in enumerate(read_lines(rel))
    ]
    name = f"t2i-compbench/{category}" + (f"@{variant}" if variant else "")
    return Suite(name=name, source=f"{up.repo}@{up.commit[:10]}/{up.path}/{rel.split('/')[-1]}",
                 default_metric="blip-vqa", items=items)
