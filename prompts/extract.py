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


def _is_boundary(word: str, prev: Optional[str]) -> bool:
    w = word.lower()
    if not re.match(r"[a-z0-9]", w):
        return True  # punctuation
    if w in BOUNDARIES:
        # "a left shoe" keeps 'left' only after a determiner or adjective; prepositions always split
        return not (w in {"left", "right", "top", "bottom", "side", "front", "set"} and prev is not None
                    and (prev in DETERMINERS or prev in ALL_ATTRIBUTES))
    if w.endswith("ing") and len(w) > 5 and (prev is None or prev not in DETERMINERS and prev not in ALL_ATTRIBUTES):
        return True  # a verb form like "riding", unless it follows a determiner/adjective ("a building")
    return False


def noun_phrases(prompt: str) -> list[str]:
    """Noun phrases of a prompt, lowercased, in order ("a green bench and a red car" -> 2)."""
    phrases, current = [], []
    prev = None
    for tok in _WORD.findall(prompt):
        low = tok.lower()
        if _is_boundary(tok, prev):
            if current:
                phrases.append(current)
            current = []
            prev = None if not re.match(r"[a-z0-9]", low) else low
            if low in DETERMINERS and low not in BOUNDARIES:
                current = [low]
            continue
        if low in DETERMINERS and current and current[-1] not in DETERMINERS:
            phrases.append(current)  # a new determiner starts a new phrase
            current = []
        current.append(low)
        prev = low
    if current:
        phrases.append(current)
    out = []
    for words in phrases:
        if all(w in DETERMINERS for w in words):
            continue  # a bare determiner is no phrase
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
    noun = " ".join([w for w in modifiers if w not in vocab] + [head])
    return ObjectSpec(noun=noun, attributes=attrs, count=count)


def spacy_noun_phrases(prompt: str) -> list[str]:  # pragma: no cover - optional backend
    import spacy

    nlp = _spacy_model()
    return [c.text.lower() for c in nlp(prompt).noun_chunks if c.text.lower() not in DROPPED_CHUNKS]


_NLP = None


def _spacy_model():  # pragma: no cover - optional backend
    global _NLP
    if _NLP is None:
        import spacy

        _NLP = spacy.load("en_core_web_sm")
    return _NLP


def attribute_spec(prompt: str, category: str, backend: str = "rules") -> Spec:
    """Spec for attribute-binding prompts (color, shape, texture): one question per noun phrase."""
    phrases = spacy_noun_phrases(prompt) if backend == "spacy" else noun_phrases(prompt)
    return Spec(phrases=tuple(phrases), objects=tuple(phrase_object(p, category) for p in phrases))
