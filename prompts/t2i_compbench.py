"""T2I-CompBench suites: the *_val.txt files (300 prompts per category) by default.

Specs follow the reference extraction rules (shared/reference/metrics.md), resolved once at load time.
"""

from __future__ import annotations

from eclipse_bench.errors import UserError
from eclipse_bench.prompts.extract import attribute_spec, complex_spec, numeracy_spec, phrases_spec, spatial_spec
from eclipse_bench.prompts.fetch import PINNED, locate
from eclipse_bench.prompts.spec import Item, Suite

CATEGORIES = {
    # category: (default metric, spec builder)
    "color": "blip-vqa",
    "shape": "blip-vqa",
    "texture": "blip-vqa",
    "spatial": "t2i-spatial",
    "non_spatial": "clip-score",
    "complex": "three-in-one",
    "numeracy": "t2i-numeracy",
}
SPLITS = {"val": "_val", "train": "_train", "all": ""}
COMPLEX_PARTS = ("action", "spatial", "spatialaction")


def read_lines(relpath: str) -> list[str]:
    path = locate(relpath)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _complex_parts() -> dict[str, str]:
    part_of: dict[str, str] = {}
    for part in COMPLEX_PARTS:
        for line in read_lines(f"t2i_compbench/complex_val_{part}.txt"):
            part_of.setdefault(line, part)
    return part_of


def _spec(category: str, prompt: str, part_of: dict[str, str]):
    if category in ("color", "shape", "texture"):
        return attribute_spec(prompt, category)
    if category == "spatial":
        return spatial_spec(prompt)
    if category == "numeracy":
        return numeracy_spec(prompt)
    if category == "complex":
        return complex_spec(prompt, part_of.get(prompt))
    return phrases_spec(prompt)


def load(category: str, variant: str = "", split: str = "val") -> Suite:
    if split not in SPLITS:
        raise UserError(f"unknown --split {split!r}; use one of {', '.join(SPLITS)}")
    rel = f"t2i_compbench/{category}{SPLITS[split]}.txt"
    if variant == "2023":
        if split != "val":
            raise UserError("color@2023 exists only for the val split")
        rel = f"t2i_compbench/pre_2025-09_color_dedup/{category}_val.txt"
    up = PINNED[rel][0]
    part_of = _complex_parts() if category == "complex" else {}
    prefix = category if split == "val" else f"{category}-{split}"
    items = [Item(id=f"{prefix}-{i:04d}" if split != "val" else f"{prefix}-{i:03d}", prompt=p, category=category,
                  spec=_spec(category, p, part_of))
             for i, p in enumerate(read_lines(rel))]
    name = f"t2i-compbench/{category}" + (f"@{variant}" if variant else "") + ("" if split == "val" else f":{split}")
    return Suite(name=name, source=f"{up.repo}@{up.commit[:10]}/{up.path}/{rel.split('/')[-1]}",
                 default_metric=CATEGORIES[category], items=items, images_per_prompt=10, extracted=True)


def attribute_suite(category: str, variant: str = "", split: str = "val") -> Suite:
    return load(category, variant, split)
