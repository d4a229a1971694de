"""GenEval 2 (Kamath et al., 2025): 800 prompts of atomicity 3..10, each with its own questions for a VQA judge.

geneval2_data.jsonl is CC BY-NC 4.0: downloaded at run time from the pinned commit and checked, never shipped.
Each item carries the benchmark's questions, answers and skills, and its atom count (the item's level, so
`--limit` stratifies over atomicity).
"""

from __future__ import annotations

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.fetch import Upstream, jsonl_objects, locate
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, Question, Spec, Suite

GENEVAL2 = Upstream("facebookresearch/GenEval2", "a6e82d2289e8d418f27f0adee77908b07060eea3", "")
REL = "geneval2/geneval2_data.jsonl"
FILES = {REL: (GENEVAL2, "09233adbc9f877fba205f1a20efa4a8640e7e62a91dfd55893562bed8a928e43")}
SKILLS = ("object", "count", "attribute", "position", "verb")
CATEGORY = "geneval2"


def item_from_line(meta: dict, i: int, where: str) -> Item:
    """One prompt with its questions (vqa_list paired with skills) and atom count, checked."""
    try:
        prompt, atoms, vqa, skills = meta["prompt"], int(meta["atom_count"]), meta["vqa_list"], meta["skills"]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: not a GenEval 2 line ({type(exc).__name__}: {exc})") from None
    if len(vqa) != len(skills) or not vqa:
        raise UserError(f"{where}: vqa_list has {len(vqa)} questions and skills {len(skills)}; they must pair up")
    unknown = sorted(set(skills) - set(SKILLS))
    if unknown:
        raise UserError(f"{where}: unknown skill {unknown[0]!r} (GenEval 2's are {', '.join(SKILLS)})")
    questions = tuple(Question(str(q), str(a), str(s)) for (q, a), s in zip(vqa, skills))
    return Item(id=f"g2-{i:03d}", prompt=prompt, category=CATEGORY, level=str(atoms),
                spec=Spec(questions=questions, atoms=atoms))


def load() -> Suite:
    path = locate(REL)
    items = [item_from_line(meta, n, f"{path}:{lineno}") for n, (lineno, meta) in enumerate(jsonl_objects(path))]
    up = FILES[REL][0]
    # levels "3".."10" sort as text in tables; the suite order (atom count rising) is the file's
    return Suite(name="geneval2", source=f"{up.repo}@{up.commit[:10]}/geneval2_data.jsonl",
                 default_metric="soft-tifa-gm", items=items, images_per_prompt=1)


register_suite_family(SuiteFamily("geneval2", FILES, "GenEval 2 (Kamath et al.), 800 prompts, atomicity 3..10",
                                  category_metrics={CATEGORY: "soft-tifa-gm"}))
register_suite("geneval2", SuiteDef("eclipse_bench.prompts.suites.geneval2:load", (), "GenEval 2, 800 prompts with "
                                    "their judge questions (Soft-TIFA on Qwen3-VL-8B)", files=tuple(FILES)))
