"""HRS-Bench compositional skills: counting, spatial, size, color.

Specs come from the CSVs' structured columns (objects, colours, relations, counts), not from the
text. Difficulty is the file's thirds: easy / medium / hard (2 / 3 / 4 objects; counting: 1 class with
n in {1,2} / 2 classes n in {2,3} / 2 classes n in {4,5}). Counting generates from `synthetic_prompt`,
the other skills from `meta_prompt`.
"""

from __future__ import annotations

import csv
import functools
import io
import re

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.fetch import Upstream, locate
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, ObjectSpec, Relation, Spec, Suite

HRS = Upstream("eslambakr/HRS_benchmark", "4df908c87f6139dfe4164901b7227b4f69ff3d7f",
               "codes/prompt_gen/generated_prompts")
PINNED_FILES = {  # local relative path -> (upstream, sha256 of the pinned file)
    "hrs_bench/colors_composition_prompts.csv": (HRS, "548afc5429768e4670f0745d2e5e8993dbede8174a59248b0ba807a4649a830f"),
    "hrs_bench/counting_prompts.csv": (HRS, "ada42b43127790d4b82cf137d5571e4177737bba7bfd1f16440858b5ebc4293b"),
    "hrs_bench/size_compositions_prompts.csv": (HRS, "742dbb0fccf1b34683baa7ced678970ded20889440f516d0c36937ef3c4d8f53"),
    "hrs_bench/spatial_compositions_prompts.csv": (HRS, "257c11128510b524b975e16e74b079e87ccd1e6bd1dcf75723623a5888eae3ab"),
}
FILES = {"counting": "hrs_bench/counting_prompts.csv", "spatial": "hrs_bench/spatial_compositions_prompts.csv",
         "size": "hrs_bench/size_compositions_prompts.csv", "color": "hrs_bench/colors_composition_prompts.csv"}
METRICS = {"counting": "hrs-counting", "spatial": "hrs-spatial", "size": "hrs-size", "color": "hrs-color"}
LEVELS = ("easy", "medium", "hard")

SPATIAL_NAMES = {"on": "above", "above": "above", "over": "above", "below": "below", "under": "below",
                 "beneath": "below", "on the left of": "left", "on the right of": "right", "between": "between",
                 "in the middle of": "between", "among": "between"}
SIZE_NAMES = {"bigger": "bigger", "larger": "bigger", "smaller": "smaller"}


def _rows(skill: str) -> list[dict[str, str]]:
    path = locate(FILES[skill])
    text = path.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise UserError(f"{path}: no rows")
    return rows


def _level(i: int, n: int) -> str:
    return LEVELS[min(3 * i // n, 2)]


def _objects(row: dict[str, str], colors: bool = False) -> list[ObjectSpec]:
    out = []
    for k in range(1, 5):
        noun = (row.get(f"obj{k}") or "").strip()
        if noun:
            color = (row.get(f"color{k}") or "").strip() if colors else ""
            out.append(ObjectSpec(noun, (color,) if color else (), 1))
    return out


def _relations(kind: str, n: int, rel1: str, rel2: str) -> list[Relation]:
    names = SPATIAL_NAMES if kind == "spatial" else SIZE_NAMES
    r1, r2 = names.get(rel1.strip()), names.get(rel2.strip()) if rel2.strip() else None
    if r1 is None:
        raise UserError(f"HRS {kind}: unknown relation {rel1!r}")
    if kind == "spatial" and r1 == "between":
        if n == 3:
            return [Relation("between", 0, 1, 2)]
        return [Relation("between", 0, 2, 3), Relation("between", 1, 2, 3)][: 1 if n < 4 else 2]
    if kind == "spatial":
        subjects, targets = ([0], [1, 2]) if n <= 3 else ([0, 1], [2, 3])
        rels = [Relation(r1, s, targets[0]) for s in subjects]
        if r2 and len(targets) > 1 and targets[1] < n:
            rels += [Relation(r2, s, targets[1]) for s in subjects]
        return rels
    # size: the first object is compared with each of the others (rel1 first, rel2 for the last one)
    if n == 2:
        return [Relation(r1, 0, 1)]
    if n == 3:
        return [Relation(r1, 0, 1)] + ([Relation(r2, 0, 2)] if r2 else [])
    return [Relation(r1, 0, 1), Relation(r1, 0, 2)] + ([Relation(r2, 0, 3)] if r2 else [])


def load(skill: str) -> Suite:
    rows = _rows(skill)
    items = []
    for i, row in enumerate(rows):
        level = _level(i, len(rows))
        if skill == "counting":
            prompt = row["synthetic_prompt"].strip()
            objs = [ObjectSpec(row["obj1"].strip(), (), int(row["n1"]))]
            if int(row.get("n2") or 0) > 0:
                objs.append(ObjectSpec(row["obj2"].strip(), (), int(row["n2"])))
            spec = Spec(objects=tuple(objs))
        else:
            prompt = row["meta_prompt"].strip()
            objs = _objects(row, colors=(skill == "color"))
            if skill == "color":
                spec = Spec(phrases=tuple(f"a {o.attributes[0]} {o.noun}" for o in objs if o.attributes),
                            objects=tuple(objs))
            else:
                rels = _relations(skill, len(objs), row.get("rel1") or "", row.get("rel2") or "")
                spec = Spec(objects=tuple(objs), relation=rels[0], extra_relations=tuple(rels[1:]))
        items.append(Item(id=f"{skill}-{i:04d}", prompt=prompt, category=skill, level=level, spec=spec))
    up = PINNED_FILES[FILES[skill]][0]
    return Suite(name=f"hrs/{skill}", source=f"{up.repo}@{up.commit[:10]}/{FILES[skill].split('/')[-1]}",
                 default_metric=METRICS[skill], items=items, images_per_prompt=3,
                 reference_images="eclipse_bench.prompts.suites.hrs:reference_image")


@functools.lru_cache(maxsize=None)
def _n_rows(skill: str) -> int:
    return len(_rows(skill))


def reference_image(prompt_id: str, n: int) -> "tuple[str, int] | str":
    """Which image the shipped HRS scripts score for (prompt, image n): --reference-compat reproduces it.

    Counting, spatial and size index the images of level L (thirds of size `third`) at
    local index + L * int(third / 3) instead of + L * third, so medium and hard prompts are scored on other
    prompts' images. The colour script scores image 00 only. Returns (prompt id, n) or why nothing is scored.
    Applied only to HRS suites (their Suite.reference_images), whose ids this module wrote: skill-NNNN."""
    m = re.fullmatch(r"(counting|spatial|size|color)-(\d+)", prompt_id)
    if not m:
        raise ValueError(f"{prompt_id!r} is not an HRS-Bench item id")
    skill, i = m.group(1), int(m.group(2))
    if skill == "color":
        return (prompt_id, n) if n == 0 else "reference-compat: the HRS colour script scores image 00 only"
    third = _n_rows(skill) // 3
    level = min(i // third, 2)
    src = i - level * third + level * int(third / 3)
    return f"{skill}-{src:04d}", n


register_suite_family(SuiteFamily("hrs", PINNED_FILES, "HRS-Bench (Bakr et al.) compositional skills",
                                  category_metrics=dict(METRICS)))
for _skill, _n in (("counting", 3000), ("spatial", 1002), ("size", 501), ("color", 501)):
    register_suite(f"hrs/{_skill}", SuiteDef("eclipse_bench.prompts.suites.hrs:load", (_skill,),
                                             f"HRS-Bench {_skill}, {_n} prompts in easy/medium/hard thirds",
                                             files=(FILES[_skill],)))
