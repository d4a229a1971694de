"""T2I-CompBench++ 3D spatial: 300 val prompts with 'in front of', 'behind' or 'hidden' (3D_spatial_eval.py).

Objects are the first and the last spaCy NOUN (girl/boy/man/woman count as person), the relation is the first
of the three phrases found in the prompt; scored by the t2i-3d-spatial metric (detection + depth).
"""

from __future__ import annotations

from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts import spacy_specs as sp
from eclipse_bench.prompts.extract import extractor_backend, find_relation, noun_phrases, relation_spec, rule_spatial_nouns
from eclipse_bench.prompts.fetch import read_lines
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, Spec, Suite
from eclipse_bench.prompts.suites.t2i_compbench import T2I

RELATIONS_3D = ("in front of", "behind", "hidden")
VAL = "t2i_compbench/3d_spatial_val.txt"
FILES = {VAL: (T2I, "c9953597315f36a5fcb41291bb19bdc6ab5f64a0fa760d691b4854a73f5d1fe9")}


def spatial_3d_spec(prompt: str, backend: Optional[str] = None) -> Spec:
    backend = backend or extractor_backend()
    rel = find_relation(prompt, RELATIONS_3D)
    if backend == "spacy":
        doc = sp.parse(prompt)
        return relation_spec(sp.noun_chunks(doc), sp.simple_spatial_objects(doc), rel)
    phrases = noun_phrases(prompt)
    return relation_spec(phrases, rule_spatial_nouns(phrases), rel)


def load(split: str = "val") -> Suite:
    if split != "val":
        raise UserError("t2i-compbench/3d_spatial has a val split only (--split val)")
    items = [Item(id=f"3d_spatial-{i:03d}", prompt=p, category="3d_spatial", spec=spatial_3d_spec(p))
             for i, p in enumerate(read_lines(VAL))]
    return Suite(name="t2i-compbench/3d_spatial", source=f"{T2I.repo}@{T2I.commit[:10]}/{T2I.path}/3d_spatial_val.txt",
                 default_metric="t2i-3d-spatial", items=items, images_per_prompt=10, extracted=True)


register_suite_family(SuiteFamily("t2i-compbench-3d", FILES, "T2I-CompBench++ 3D spatial (val)",
                                  category_metrics={"3d_spatial": "t2i-3d-spatial"}))
register_suite("t2i-compbench/3d_spatial", SuiteDef(
    "eclipse_bench.prompts.suites.t2i_compbench_3d:load", (), "T2I-CompBench++ val, 300 prompts: 3-D spatial relations "
    "(detection + depth)", True, files=(VAL,)), aliases=("3d_spatial",))
