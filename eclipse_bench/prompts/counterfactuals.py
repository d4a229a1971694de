"""Counterfactual prompts for prior-only evaluation, derived deterministically from an item's spec.

Each counterfactual changes one compositional fact of the prompt and nothing else:
- attribute-swap: the attributes of two objects exchanged ("a red car and a blue bench" -> "a blue car and a
  red bench");
- objects-swapped: the two objects of a relation exchanged ("a cat on the left of a dog" -> "a dog on the left
  of a cat");
- relation-reversed: the relation replaced by its opposite (left/right, top/bottom, above/below, in front
  of/behind, bigger/smaller);
- count-changed: a count raised by one ("two dogs" -> "three dogs");
- object-replaced: one object replaced by another noun ("a red car" -> "a red kite").
A kind that does not apply to an item (no second attribute, no asymmetric relation, no count) is skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional

from eclipse_bench.prompts.spec import ObjectSpec, Spec

KINDS = ("attribute-swap", "objects-swapped", "relation-reversed", "count-changed", "object-replaced")

# tried in this order; the first pair found in the prompt is reversed ('on' last: it is also part of others)
OPPOSITES = (("in front of", "behind"), ("left", "right"), ("top", "bottom"), ("above", "below"), ("over", "under"),
             ("bigger", "smaller"), ("larger", "smaller"), ("taller", "shorter"), ("on", "under"))
COUNT_CATEGORIES = ("numeracy", "counting")
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")
REPLACEMENTS = ("kite", "umbrella", "suitcase", "toaster", "giraffe", "bicycle", "clock", "vase", "pizza", "boat",
                "laptop", "teddy bear", "skateboard", "banana", "chair", "horse")


@dataclass(frozen=True)
class Counterfactual:
    kind: str
    prompt: str


def _spans(word: str, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, flags=re.IGNORECASE)]


def _noun_span(noun: str, text: str, last: bool = False) -> Optional[tuple[int, int]]:
    """Where a noun stands in the prompt (its plural too)."""
    for form in (noun, noun + "s", noun + "es"):
        spans = _spans(form, text)
        if spans:
            return spans[-1] if last else spans[0]
    return None


def _replace(text: str, edits: list[tuple[tuple[int, int], str]]) -> str:
    for (a, b), new in sorted(edits, key=lambda e: -e[0][0]):
        text = text[:a] + new + text[b:]
    return _fix_articles(text)


def _fix_articles(text: str) -> str:
    """'a orange' -> 'an orange', 'an blue' -> 'a blue' (only where an edit may have broken them)."""
    text = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", lambda m: m.group(1) + "n ", text)
    return re.sub(r"\b([Aa])n (?=[^aeiouAEIOU\W])", lambda m: m.group(1) + " ", text)


def _attribute_swap(prompt: str, spec: Spec) -> Optional[str]:
    with_attr = [o for o in spec.objects if o.attributes]
    if len(with_attr) < 2:
        return None
    o0, o1 = with_attr[0], with_attr[1]
    a0, a1 = o0.attributes[0], o1.attributes[0]
    n0, n1 = _noun_span(o0.noun, prompt), _noun_span(o1.noun, prompt, last=True)
    if a0 == a1 or not n0 or not n1:
        return None
    before0 = [s for s in _spans(a0, prompt) if s[1] <= n0[0]]
    before1 = [s for s in _spans(a1, prompt) if s[1] <= n1[0] and s[0] >= n0[1]]
    if not before0 or not before1:
        return None
    return _replace(prompt, [(before0[-1], a1), (before1[-1], a0)])


def _objects_swapped(prompt: str, spec: Spec) -> Optional[str]:
    """Every mention of the relation's two objects exchanged."""
    if spec.relation is None or len(spec.objects) < 2:
        return None
    s, o = spec.objects[spec.relation.subject], spec.objects[spec.relation.object]
    if s.noun == o.noun or not _noun_span(s.noun, prompt) or not _noun_span(o.noun, prompt):
        return None
    edits = [(span, o.noun + prompt[span[0]:span[1]][len(s.noun):]) for span in _all_forms(s.noun, prompt)]
    edits += [(span, s.noun + prompt[span[0]:span[1]][len(o.noun):]) for span in _all_forms(o.noun, prompt)]
    spans = sorted(e[0] for e in edits)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        return None  # one noun inside the other ("dog", "hot dog"): no clean swap
    return _replace(prompt, edits)


def _all_forms(noun: str, text: str) -> list[tuple[int, int]]:
    spans = set()
    for form in (noun, noun + "s", noun + "es"):
        spans |= set(_spans(form, text))
    return sorted(spans)


def _relation_reversed(prompt: str, spec: Spec) -> Optional[str]:
    if not spec.relations:
        return None
    for x, y in OPPOSITES:
        found = [(span, y) for span in _spans(x, prompt)] + [(span, x) for span in _spans(y, prompt)]
        if found:
            span, other = min(found, key=lambda f: f[0][0])
            return _replace(prompt, [(span, other)])
    return None


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _count_changed(prompt: str, spec: Spec) -> Optional[str]:
    for o in spec.objects:
        if o.count is None or o.count + 1 >= len(NUMBERS):
            continue
        noun = _noun_span(o.noun, prompt)
        if not noun:
            continue
        head = prompt[:noun[0]]
        words = list(re.finditer(r"(?<![\w-])(a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+)(?![\w-])",
                                 head, flags=re.IGNORECASE))
        # the count word closest before the noun, at most two words (adjectives) away
        if not words or len(head[words[-1].end():].split()) > 2:
            continue
        m = words[-1]
        word = m.group(1).lower()
        n = int(word) if word.isdigit() else (1 if word in ("a", "an") else NUMBERS.index(word))
        new = str(n + 1) if word.isdigit() else NUMBERS[n + 1]
        edits = [(m.span(1), new)]
        noun_text = prompt[noun[0]:noun[1]]
        if n == 1 and noun_text.lower() == o.noun.lower():
            edits.append((noun, _plural(noun_text)))
        return _replace(prompt, edits)
    return None


def _object_replaced(prompt: str, spec: Spec) -> Optional[str]:
    objects = list(spec.objects)
    if not objects:  # no structured objects (e.g. complex action prompts): the head noun of each phrase
            objects = [ObjectSpec(p.split()[-1].lower()) for p in spec.phrases if p.split()]
    nouns = {o.noun for o in objects}
    order = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest(), 16)
    candidates = [r for r in REPLACEMENTS if r not in nouns]
    if not candidates:
        return None
    new = candidates[order % len(candidates)]
    for o in objects:
        span = _noun_span(o.noun, prompt)
        if span:
            plural = prompt[span[0]:span[1]].lower() != o.noun.lower()
            return _replace(prompt, [(span, new + ("s" if plural else ""))])
    return None


_MAKERS = {"attribute-swap": _attribute_swap, "objects-swapped": _objects_swapped,
           "relation-reversed": _relation_reversed, "count-changed": _count_changed,
           "object-replaced": _object_replaced}


def counterfactuals(prompt: str, spec: Spec, category: str = "") -> list[Counterfactual]:
    """Every applicable counterfactual of a prompt, in KINDS order; none equals the prompt. Counts are changed
    only where they are what the prompt is about (numeracy, counting, GenEval's counting tag)."""
    out = []
    counted = category in COUNT_CATEGORIES or spec.subcategory == "counting"
    for kind in KINDS:
        if kind == "count-changed" and not counted:
            continue
        cf = _MAKERS[kind](prompt, spec)
        if cf and cf.strip().lower() != prompt.strip().lower():
            out.append(Counterfactual(kind, cf))
    return out
