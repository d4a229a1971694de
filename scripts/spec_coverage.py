"""Share of prompts whose extracted spec is structurally complete, per T2I-CompBench category.

color/shape/texture: at least one noun phrase is an attribute of that category + a noun, and no phrase is
a dangling modifier (an attribute with no noun, "a black"); other phrases ("a bathroom") are asked as
the reference asks them;
spatial: a relation from the reference list between two objects; numeracy: a count per object;
complex: the sub-category and at least one checkable phrase.

    ECLIPSE_BENCH_DATA=../shared/benchmarks python scripts/spec_coverage.py [--failures N]
"""

from __future__ import annotations

import argparse

from eclipse_bench.prompts.extract import T2I_RELATIONS
from eclipse_bench.prompts.registry import load_suite
from eclipse_bench.prompts.vocab import ATTRIBUTES, DETERMINERS


def complete(category: str, item) -> bool:
    spec = item.spec
    if category in ATTRIBUTES:
        vocab, all_attrs = set(ATTRIBUTES[category]), {a for v in ATTRIBUTES.values() for a in v}
        bodies = [[w for w in p.split() if w not in DETERMINERS] for p in spec.phrases]
        dangling = [b for b in bodies if len(b) == 1 and b[0] in all_attrs]
        bound = [o for o in spec.objects if o.noun and any(a in vocab for a in o.attributes)]
        return bool(bound) and not dangling
    if category == "spatial":
        return spec.relation is not None and spec.relation.name in T2I_RELATIONS and len(spec.objects) == 2
    if category == "numeracy":
        return bool(spec.objects) and all(o.count is not None and o.count > 0 for o in spec.objects)
    if category == "complex":
        return spec.subcategory is not None and bool(spec.phrases)
    return bool(spec.phrases)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--failures", type=int, default=10, help="failures to list per category")
    args = ap.parse_args()
    for cat in ("color", "shape", "texture", "spatial", "numeracy", "complex", "non_spatial"):
        suite = load_suite(cat)
        bad = [i for i in suite.items if not complete(cat, i)]
        share = 1 - len(bad) / len(suite.items)
        print(f"{cat:12s} {share:7.2%} complete ({len(suite.items) - len(bad)}/{len(suite.items)})")
        for item in bad[: args.failures]:
            print(f"    {item.id}: {item.prompt!r} -> phrases {list(item.spec.phrases)}")


if __name__ == "__main__":
    main()
