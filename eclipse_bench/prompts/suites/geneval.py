"""GenEval: 553 prompts in 6 tags, specs taken as given by evaluation_metadata.jsonl."""

from __future__ import annotations

from typing import Optional

from eclipse_bench.prompts.fetch import Upstream, jsonl_objects, locate
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Exclusion, Item, ObjectSpec, Relation, Spec, Suite

GENEVAL = Upstream("djghosh13/geneval", "af4902f24d3ca90ebbb446dd9891a59e0f82725f", "prompts")
FILES = {  # local relative path -> (upstream, sha256 of the pinned file)
    "geneval/evaluation_metadata.jsonl": (GENEVAL, "5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13"),
    "geneval/object_names.txt": (GENEVAL, "608f6a0e5c8ca1c7a92b818430141fe268c85b7930b50f4160f1d65893b5bacd"),
}
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
    items = []
    for lineno, meta in jsonl_objects(locate(REL)):
        if tag and meta["tag"] != tag:
            continue
        items.append(Item(id=f"{meta['tag']}-{lineno - 1:03d}", prompt=meta["prompt"], category=meta["tag"],
                          spec=spec_from_metadata(meta)))
    up = FILES[REL][0]
    return Suite(name="geneval" + (f"/{tag}" if tag else ""), source=f"{up.repo}@{up.commit[:10]}/{up.path}",
                 default_metric="geneval", items=items, images_per_prompt=4)


register_suite_family(SuiteFamily("geneval", FILES, "GenEval (Ghosh et al.), 553 prompts in 6 tags",
                                  category_metrics={tag: "geneval" for tag in TAGS}))
register_suite("geneval", SuiteDef("eclipse_bench.prompts.suites.geneval:load", (), "GenEval, 553 prompts in 6 tags",
                                   files=tuple(FILES)))
for _tag in TAGS:
    register_suite(f"geneval/{_tag}", SuiteDef("eclipse_bench.prompts.suites.geneval:load", (_tag,), f"GenEval {_tag}",
                                               files=tuple(FILES)))
