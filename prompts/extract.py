"""A deterministic noun-phrase extractor (our own), standing in for spaCy's noun chunks.

T2I-CompBench asks one VQA question per spaCy noun chunk of the prompt. spaCy's English model is
not installable offline here, so specs are built by this rule-based chunker: a phrase is a run of
words between boundary words (prepositions, conjunctions, pronouns, auxiliaries, common verbs,
punctuation), led by an optional determiner. When spaCy and en_core_web_sm are installed,
`backend="spacy"` uses them instead.
"""

from __future__ import annotations

import re
from typing import Optional

from eclipse_bench.prompts.spec import ObjectSpec, Spec
from eclipse_bench.prompts.vocab import ATTRIBUTES, BOUNDARIES, DETERMINERS, DROPPED_CHUNKS, NUMBER_WORDS

_WORD = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
ALL_ATTRIBUTES = frozenset(w for words in ATTRIBUTES.values() for w in words)


def _is_boundary(word: str, prev: Optional[str], nxt: Optional[str]) -> bool:
    w = word.lower()
    if not re.match(r"[a-z0-9]", w):
        return True  # punctuation
    if w in BOUNDARIES:
        # "a left shoe" keeps 'left' only after a determiner or adjective; prepositions always split
        return not (w in {"left", "right", "top", "bottom", "side", "front", "can"} and prev is not None
                    and (prev in DETERMINERS or prev in ALL_ATTRIBUTES))
    after_modifier = prev is not None and (prev in DETERMINERS or prev in ALL_ATTRIBUTES)
    if w.endswith("ing") and len(w) > 5 and not after_modifier:
        # a verb form ("a man riding a horse"), unless it modifies the next noun ("the cozy reading nook")
        return prev is None or nxt is None or nxt in DETERMINERS or nxt in BOUNDARIES or not nxt[:1].isalnum()
    if w.endswith("ed") and len(w) > 4 and w not in ALL_ATTRIBUTES and prev is not None and not after_modifier:
        return True  # a past tense after a noun ("cats lounged"); "a sliced apple" keeps its participle
    return False


def _joins_attributes(tokens: list[str], i: int, current: list[str]) -> bool:
    """'and' or ',' between two attribute words inside a phrase: "a black and white cat", "a tan, clean room"."""
    tok = tokens[i].lower()
    if tok not in ("and", ",") or not current or i + 1 >= len(tokens):
        return False
    nxt = tokens[i + 1].lower()
    if current[-1] not in ALL_ATTRIBUTES:
        return False
    if tok == "and":
        return nxt in ALL_ATTRIBUTES
    # a comma continues the phrase when only modifiers came before and a modifier follows
    return all(w in DETERMINERS or w in ALL_ATTRIBUTES or w in {"long", "clean"} for w in current) and \
        nxt not in DETERMINERS and nxt not in BOUNDARIES


def noun_phrases(prompt: str) -> list[str]:
    """Noun phrases of a prompt, lowercased, in order ("a green bench and a red car" -> 2)."""
    tokens = _WORD.findall(prompt)
    phrases, current = [], []
    prev = None
    for i, tok in enumerate(tokens):
        low = tok.lower()
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else None
        if _joins_attributes(tokens, i, current):
            if low == "and":
                current.append("and")
            continue
        if _is_boundary(tok, prev, nxt):
            if current:
                phrases.append(current)
            current = []
            prev = None if not re.match(r"[a-z0-9]", low) else low
            continue
        if low in DETERMINERS and current and current[-1] not in DETERMINERS:
            phrases.append(current)  # a new determiner starts a new phrase
            current = []
        current.append(low)
        prev = low
    if current:
        phrases.append(current)
    out = []
    last_head = None
    for words in phrases:
        if all(w in DETERMINERS for w in words):
            continue  # a bare determiner is no phrase
        body = [w for w in words if w not in DETERMINERS]
        if len(body) == 1 and body[0] in ALL_ATTRIBUTES and last_head and words[0] in ("one", "the", "another"):
            words = words + [last_head]  # elliptical: "two stalls, one blue and the other orange"
        elif body:
            last_head = body[-1]
        text = " ".join(words)
        if text in DROPPED_CHUNKS:
            continue
        out.append(text)
    return out


def phrase_object(phrase: str, category: Optional[str] = None) -> ObjectSpec:
    """Split a phrase into (noun, attributes of the category, count)."""
    words = phrase.split()
    count = NUMBER_WORDS.get(words[0]) if words else None
    body = [w for w in words if w not in DETERMINERS]
    vocab = set(ATTRIBUTES[category]) if category in ATTRIBUTES else ALL_ATTRIBUTES
    if not body:
        return ObjectSpec(noun=phrase, attributes=(), count=count)
    # the last word is the head noun even when it is also an attribute word ("a brown orange")
    modifiers, head = body[:-1], body[-1]
    attrs = tuple(w for w in modifiers if w in vocab)
    noun = " ".join([w for w in modifiers if w not in vocab and w != "and"] + [head])
    return ObjectSpec(noun=noun, attributes=attrs, count=count)


def spacy_noun_phrases(prompt: str) -> list[str]:  # pragma: no cover - optional backend
    nlp = _spacy_model()
    return [c.text.lower() for c in nlp(prompt).noun_chunks if c.text.lower() not in DROPPED_CHUNKS]


_NLP = None


def _spacy_model():  # pragma: no cover - optional backend
    global _NLP
    if _NLP is None:
        import spacy

        _NLP = spacy.load("en_core_web_sm")
    return _NLP


def extractor_backend() -> str:
    """'rules' (default) or 'spacy' (ECLIPSE_BENCH_EXTRACTOR=spacy, needs spaCy and en_core_web_sm)."""
    import os

    backend = os.environ.get("ECLIPSE_BENCH_EXTRACTOR", "rules")
    if backend not in ("rules", "spacy"):
        from eclipse_bench.errors import UserError

        raise UserError(f"ECLIPSE_BENCH_EXTRACTOR={backend!r}: use 'rules' or 'spacy'")
    if backend == "spacy":
        try:
            _spacy_model()
        except (ImportError, OSError):
            from eclipse_bench.errors import UserError

            raise UserError("ECLIPSE_BENCH_EXTRACTOR=spacy needs spaCy and its English model: "
                            "pip install spacy && python -m spacy download en_core_web_sm") from None
    return backend


def attribute_spec(prompt: str, category: str, backend: Optional[str] = None) -> Spec:
    """Spec for attribute-binding prompts (color, shape, texture): one question per noun phrase."""
    backend = backend or extractor_backend()
    phrases = spacy_noun_phrases(prompt) if backend == "spacy" else noun_phrases(prompt)
    return Spec(phrases=tuple(phrases), objects=tuple(phrase_object(p, category) for p in phrases))


# -- relations, counts, nouns ---------------------------------------------------------------------

# T2I-CompBench's relation phrases, in the order the reference searches them (first found wins).
T2I_RELATIONS = ("on side of", "next to", "near", "on the left of", "on the right of", "on the bottom of",
                 "on the top of", "on top of")

_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
              "geese": "goose", "feet": "foot", "teeth": "tooth", "knives": "knife", "leaves": "leaf",
              "wolves": "wolf", "shelves": "shelf", "loaves": "loaf", "skis": "skis", "glasses": "glass",
              "sheep": "sheep", "fish": "fish", "deer": "deer", "bus": "bus", "grass": "grass", "glass": "glass",
              "scissors": "scissors", "species": "species", "series": "series", "dice": "dice", "lens": "lens",
              "cactus": "cactus", "octopus": "octopus", "hippopotamus": "hippopotamus", "couches": "couch",
              "benches": "bench", "sandwiches": "sandwich", "buses": "bus", "boxes": "box", "foxes": "fox",
              "dishes": "dish", "brushes": "brush", "watches": "watch", "tomatoes": "tomato",
              "potatoes": "potato", "radishes": "radish"}


def singular(word: str) -> str:
    """A plural English noun's singular, for matching detector classes ("cats" -> "cat")."""
    words = word.split()
    if not words:
        return word
    last = words[-1].lower()
    if last in _IRREGULAR:
        s = _IRREGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        s = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "sses", "xes", "zes")):
        s = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        s = last[:-1]
    else:
        s = last
    return " ".join(words[:-1] + [s])


def find_relation(prompt: str, relations: tuple[str, ...] = T2I_RELATIONS) -> Optional[str]:
    low = " ".join(prompt.lower().split())
    for rel in relations:
        if rel in low:
            return rel
    return None


def spatial_spec(prompt: str) -> Spec:
    """T2I-CompBench spatial: the first and the last noun, and the first relation phrase found."""
    from eclipse_bench.prompts.spec import Relation

    phrases = noun_phrases(prompt)
    objects = [phrase_object(p) for p in phrases]
    rel = find_relation(prompt)
    if len(objects) >= 2:
        first, last = objects[0], objects[-1]
        objs = (ObjectSpec(singular(first.noun), first.attributes, first.count),
                ObjectSpec(singular(last.noun), last.attributes, last.count))
    else:
        objs = tuple(ObjectSpec(singular(o.noun), o.attributes, o.count) for o in objects)
    relation = Relation(rel, 0, 1) if rel and len(objs) == 2 else None
    return Spec(phrases=tuple(phrases), objects=objs, relation=relation)


def numeracy_spec(prompt: str) -> Spec:
    """T2I-CompBench++ numeracy: each noun phrase led by a number word (a/an/one..ten) with its count."""
    phrases = noun_phrases(prompt)
    objects = []
    for p in phrases:
        obj = phrase_object(p)
        if obj.count is not None:
            objects.append(ObjectSpec(singular(obj.noun), obj.attributes, obj.count))
    return Spec(phrases=tuple(phrases), objects=tuple(objects))


def complex_spec(prompt: str, subcategory: Optional[str]) -> Spec:
    """T2I-CompBench complex: phrases for BLIP-VQA, plus the spatial objects and relation where one applies."""
    base = spatial_spec(prompt)
    return Spec(phrases=base.phrases, objects=base.objects,
                relation=base.relation if subcategory in ("spatial", "spatialaction") else None,
                subcategory=subcategory)


def phrases_spec(prompt: str) -> Spec:
    phrases = noun_phrases(prompt)
    return Spec(phrases=tuple(phrases), objects=tuple(phrase_object(p) for p in phrases))


def auto_spec(prompt: str, category: str = "") -> Spec:
    """A spec for a prompt of any category (user suites without a spec)."""
    if category in ATTRIBUTES:
        return attribute_spec(prompt, category)
    if category in ("spatial", "3d_spatial"):
        return spatial_spec(prompt)
    if category in ("numeracy", "counting"):
        return numeracy_spec(prompt)
    if find_relation(prompt):
        return spatial_spec(prompt)
    return phrases_spec(prompt)
