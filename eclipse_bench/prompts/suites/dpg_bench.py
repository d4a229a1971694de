"""DPG-Bench (ELLA, Hu et al. 2024): 1,065 dense prompts, each with DSG-style questions linked by dependencies.

The question file dpg_bench/dpg_bench.csv (TencentQQGYLab/ELLA at the pinned commit) holds one row per question:
item_id, text (the prompt), keywords, proposition_id, dependency (comma-separated parent ids, 0: none),
category_broad, category_detailed, tuple ("attribute - color (car, red)"), question_natural_language. It is pinned
by its git blob id (the only digest known of it), its sha256 recorded at the first download, and never shipped.

Each item carries its questions (answer "yes"; skill = the L1 category) and, one per question in the same order,
its proposition (id, parents, tuple, row in the file), parsed as the reference script parses them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts.fetch import GIT_BLOB, Upstream, locate
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, Proposition, Question, Spec, Suite

ELLA = Upstream("TencentQQGYLab/ELLA", "3c228f1dc6c4d3cad0a47493816151a419f14db3", "dpg_bench")
REL = "dpg_bench/dpg_bench.csv"
FILES = {REL: (ELLA, GIT_BLOB + "98457fc9901943f51ff9a30367250fc292533bed")}
COLUMNS = ("item_id", "text", "keywords", "proposition_id", "dependency", "category_broad", "category_detailed",
           "tuple", "question_natural_language")
CATEGORY = "dpg-bench"
IMAGES_PER_PROMPT = 4   # the README's recommendation (four images, scored separately here)


def parse_dependency(value: str, where: str) -> tuple[int, ...]:
    """"0" -> (0,), "1, 2" -> (1, 2): the reference splits on commas and reads each part as an integer."""
    try:
        return tuple(int(part.strip()) for part in str(value).split(","))
    except ValueError:
        raise UserError(f"{where}: dependency {value!r} is not a comma-separated list of proposition ids") from None


def items_from_csv(path: Path) -> list[Item]:
    """The items of a question file, in its order (rows of one item are consecutive, as the reference assumes)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UserError(f"{path}: not DPG-Bench's question file: no column {missing[0]!r} (the columns are "
                                f"{', '.join(COLUMNS)})")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    grouped: dict[str, dict] = {}
    last = None
    for row_index, row in enumerate(rows):
        where = f"{path}:{row_index + 2}"   # the header is line 1
        item_id = (row["item_id"] or "").strip()
        if not item_id:
            raise UserError(f"{where}: empty item_id")
        try:
            pid = int(row["proposition_id"])
        except (TypeError, ValueError):
            raise UserError(f"{where}: proposition_id {row['proposition_id']!r} is not an integer") from None
        if item_id in grouped and item_id != last:
            raise UserError(f"{where}: the rows of item {item_id!r} are not consecutive (the reference script would "
                            f"mix them up)")
        last = item_id
        entry = grouped.setdefault(item_id, {"text": row["text"], "questions": [], "props": []})
        if any(p.id == pid for p in entry["props"]):
            raise UserError(f"{where}: item {item_id!r} has proposition {pid} twice")
        prop = Proposition(pid, parse_dependency(row["dependency"], where), row["tuple"], row_index)
        entry["questions"].append(Question(row["question_natural_language"], "yes", prop.l1))
        entry["props"].append(prop)
    return [Item(id=item_id, prompt=e["text"], category=CATEGORY,
                 spec=Spec(questions=tuple(e["questions"]), propositions=tuple(e["props"])))
            for item_id, e in grouped.items()]


def load() -> Suite:
    path = locate(REL)
    return Suite(name="dpg-bench", source=f"{ELLA.repo}@{ELLA.commit[:10]}/dpg_bench/dpg_bench.csv",
                 default_metric="dpg-bench", items=items_from_csv(path), images_per_prompt=IMAGES_PER_PROMPT)


register_suite_family(SuiteFamily("dpg-bench", FILES, "DPG-Bench (ELLA), 1,065 dense prompts with dependent questions",
                                  category_metrics={CATEGORY: "dpg-bench"}))
register_suite("dpg-bench", SuiteDef("eclipse_bench.prompts.suites.dpg_bench:load", (), "DPG-Bench, 1,065 dense "
                                     "prompts with DSG questions and dependencies", files=tuple(FILES)))
