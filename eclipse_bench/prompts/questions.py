"""Questions for a VQA judge, generated from a prompt's spec in GenEval 2's style, for suites that do not come with
their own (T2I-CompBench, HRS-Bench, GenEval, user suites): per object its count (when the prompt gives one), each
attribute, its existence, then each relation it is the subject of. Every expected answer is "Yes" or a number word.

These are eclipse-bench's questions, not a benchmark's: scores from them are labelled so and never called reference
numbers. A pure function of the spec: the judge's evidence keys hash the questions it asks.
"""

from __future__ import annotations

from typing import Optional

from eclipse_bench.prompts.extract import plural, singular
from eclipse_bench.prompts.spec import ObjectSpec, Question, Relation, Spec

SOURCE_BENCHMARK = "the suite's own questions"
SOURCE_GENERATED = "eclipse-bench questions"

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")

# how a relation of the spec reads in a question "Is the A <phrase> the B?"
RELATION_PHRASES = {
    "on side of": "on the side of", "next to": "next to", "near": "near", "on the left of": "to the left of",
    "on the right of": "to the right of", "on the bottom of": "under", "under": "under", "on the top of": "on top of",
    "on top of": "on top of", "in front of": "in front of", "behind": "behind", "hidden": "hidden by",
    "left": "to the left of", "right": "to the right of", "left of": "to the left of",
    "right of": "to the right of", "above": "above", "below": "below", "bigger": "bigger than",
    "smaller": "smaller than", "between": "between",
}
SIZE_RELATIONS = ("bigger", "smaller")


def number_word(n: int) -> str:
    """3 -> "three"; beyond twenty, the digits."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def _many(o: ObjectSpec) -> bool:
    return o.count is not None and o.count > 1


def _the(o: ObjectSpec) -> str:
    """"the cat" / "the cats", as the object is counted in the prompt."""
    return "the " + (plural(o.noun) if _many(o) else singular(o.noun))


def _relation_question(rel: Relation, objects: tuple[ObjectSpec, ...]) -> Optional[Question]:
    phrase = RELATION_PHRASES.get(rel.name)
    n = len(objects)
    if phrase is None or not (0 <= rel.subject < n and 0 <= rel.object < n):
        return None
    a, b = objects[rel.subject], objects[rel.object]
    target = _the(b)
    if rel.name == "between":
        if rel.object2 is None or not 0 <= rel.object2 < n:
            return None
        target = f"{_the(b)} and {_the(objects[rel.object2])}"
    verb = "Are" if _many(a) else "Is"
    skill = "attribute" if rel.name in SIZE_RELATIONS else "position"
    return Question(f"{verb} {_the(a)} {phrase} {target}?", "Yes", skill)


def generated_questions(spec: Spec) -> tuple[Question, ...]:
    """GenEval 2-style questions for a spec without its own: per object its count (when given), its attributes and
    its existence, then the relations it is the subject of."""
    out: list[Question] = []
    relations = spec.relations
    for j, o in enumerate(spec.objects):
        if o.count == 0:   # an object the prompt wants absent: no "Yes" question fits it
            continue
        many = plural(o.noun)
        if o.count is not None:
            out.append(Question(f"How many {many} are in the image?", number_word(int(o.count)), "count"))
        for attr in o.attributes:
            if _many(o):
                out.append(Question(f"Are the {many} {attr}?", "Yes", "attribute"))
            else:
                out.append(Question(f"Is the {singular(o.noun)} {attr}?", "Yes", "attribute"))
        out.append(Question(f"Are there any {many} in the image?", "Yes", "object"))
        for rel in relations:
            if rel.subject == j:
                q = _relation_question(rel, spec.objects)
                if q is not None:
                    out.append(q)
    seen: dict[str, Question] = {}
    for q in out:   # an object named twice asks once (the first count wins)
        seen.setdefault(q.question, q)
    return tuple(seen.values())


def questions_for(spec: Spec) -> tuple[tuple[Question, ...], str]:
    """The questions a judge asks for a prompt, and where they come from: the benchmark's own (GenEval 2), else
    generated from the spec."""
    if spec.questions:
        return spec.questions, SOURCE_BENCHMARK
    return generated_questions(spec), SOURCE_GENERATED
