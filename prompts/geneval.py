"""GenEval: 553 prompts in 6 tags, specs taken as given by evaluation_metadata.jsonl."""

from __future__ import annotations

import json
from typing import Optional

from eclipse_bench.errors import UserError
from eclipse_bench.prompts.fetch import PINNED, locate
from eclipse_bench.prompts.spec import Exclusion, Item, ObjectSpec, Relation, Spec, Suite

TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
REL = "geneval/evaluation_metadata.jsonl"


def spec_from_metadata(meta: dict) -> Spec:
    objects, relation = [], None
    for j, inc in enumerate(meta.get("include", [])):
        color = inc.get("color")
        objects.append(ObjectSpec(inc["class"], (color,) if color else (), int(inc.get("count", 1))))
        if inc.get("position"):
            rel, ref = inc["position"]
            relation = Relation(str(rel), j, int(ref))
    phrases = tuple(" ".join(filter(None, [o.attributes[0] if o.attributes else "", o.noun])) for o in objects)
    exclude = tuple(Exclusion(e["class"], int(e["count"])) for e in meta.get("exclude", []))
    # the tag is the sub-category: the GenEval rule uses a stricter threshold for counting
    return Spec(phrases=phrases, objects=tuple(objects), relation=relation, exclude=exclude,
                subcategory=meta.get("tag"))


def load(tag: Optional[str] = None) -> Suite:
    path = locate(REL)
    items = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            meta = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{i + 1}: not JSON ({exc.msg})") from None
        if tag and meta["tag"] != tag:
            continue
        items.append(Item(id=f"{meta['tag']}-{i:03d}", prompt=meta["prompt"], category=meta["tag"],
                          spec=spec_from_metadata(meta)))
    up = PINNED[REL][0]
    return Suite(name="geneval" + (f"/{tag}" if tag else ""), source=f"{up.repo}@{up.commit[:10]}/{up.path}",
                 default_metric="geneval", items=items, images_per_prompt=4)
