"""Built-in suites written by us for offline demos and CI smoke runs.

Our own vocabulary and templates, generated deterministically; not copies of official prompts.
"""

from __future__ import annotations

import random

from eclipse_bench.prompts.extract import complex_spec, numeracy_spec, phrases_spec, spatial_spec
from eclipse_bench.prompts.registry import SuiteDef, SuiteFamily, register_suite, register_suite_family
from eclipse_bench.prompts.spec import Item, ObjectSpec, Relation, Spec, Suite

# COCO classes that read well with attributes.
OBJECTS = (
    "bench", "car", "bus", "truck", "boat", "bicycle", "motorcycle", "chair", "couch", "bed", "cup", "bowl",
    "bottle", "vase", "clock", "book", "umbrella", "backpack", "handbag", "suitcase", "kite", "frisbee",
    "teddy bear", "apple", "banana", "orange", "cake", "donut", "laptop", "keyboard", "toaster", "sink",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "bird", "tie", "toothbrush",
)
BUILTIN_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
BUILTIN_SHAPES = ("round", "square", "triangular", "rectangular", "oval", "cylindrical", "spherical", "cubic")
BUILTIN_TEXTURES = ("wooden", "metallic", "plastic", "glass", "fabric", "leather", "rubber", "fluffy")
SHAPE_OBJECTS = ("clock", "table", "mirror", "box", "plate", "vase", "pillow", "rug", "lamp", "cake", "sign", "tray")
TEXTURE_OBJECTS = ("chair", "table", "spoon", "bowl", "cup", "bottle", "bag", "ball", "box", "vase", "bench", "toy")

TEMPLATES = ("{a} and {b}", "{a} next to {b}", "{a} with {b}", "{a} beside {b}")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def attribute_suite(category: str, n: int = 48, seed: int = 2024) -> Suite:
    attrs, objects = {
        "color": (BUILTIN_COLORS, OBJECTS),
        "shape": (BUILTIN_SHAPES, SHAPE_OBJECTS),
        "texture": (BUILTIN_TEXTURES, TEXTURE_OBJECTS),
    }[category]
    rng = random.Random(f"{category}-{seed}")
    seen, items = set(), []
    while len(items) < n:
        a1, a2 = rng.sample(attrs, 2)
        o1, o2 = rng.sample(objects, 2)
        tmpl = TEMPLATES[len(items) % len(TEMPLATES)]
        prompt = tmpl.format(a=f"{_article(a1)} {a1} {o1}", b=f"{_article(a2)} {a2} {o2}")
        if prompt in seen:
            continue
        seen.add(prompt)
        # our templates know their own phrases: no extraction needed
        spec = Spec(phrases=(f"{_article(a1)} {a1} {o1}", f"{_article(a2)} {a2} {o2}"),
                    objects=(ObjectSpec(o1, (a1,), 1), ObjectSpec(o2, (a2,), 1)))
        items.append(Item(id=f"{category}-{len(items):03d}", prompt=prompt, category=category, spec=spec))
    return Suite(name=f"builtin/{category}", source="built-in (eclipse-bench templates)",
                 default_metric="blip-vqa", items=items, images_per_prompt=2)


T2I_RELATION_WORDS = ("on the left of", "on the right of", "on the top of", "on the bottom of", "next to", "near")
NUMBER_NAMES = ("one", "two", "three", "four", "five")
ACTIONS = ("a dog chasing a ball in a park", "a cat sleeping on a sofa", "a man riding a horse on a beach",
           "a woman reading a book under a tree", "a child flying a kite on a hill", "a bird eating seeds",
           "two people playing tennis", "a cow grazing in a field", "a boy kicking a ball",
           "a girl painting a picture", "a chef cutting vegetables", "a horse pulling a cart",
           "a man throwing a frisbee to a dog", "a woman carrying an umbrella in the rain",
           "a bear catching a fish in a river", "a child building a sandcastle")
DETECTABLE = ("car", "bench", "cup", "bowl", "chair", "dog", "cat", "horse", "bicycle", "clock", "vase", "book",
              "bottle", "umbrella", "sheep", "cow", "bird", "laptop", "apple", "banana", "suitcase", "backpack")
SIZE_WORDS = ("bigger", "smaller")
GENEVAL_POSITIONS = ("left of", "right of", "above", "below")


def _unique(category: str, n: int, seed: int, make) -> list[Item]:
    rng = random.Random(f"{category}-{seed}")
    seen, items = set(), []
    tries = 0
    while len(items) < n and tries < 100 * n:
        tries += 1
        prompt, spec = make(rng, len(items))
        if prompt in seen:
            continue
        seen.add(prompt)
        items.append(Item(id=f"{category}-{len(items):03d}", prompt=prompt, category=category, spec=spec))
    return items


def spatial_suite(n: int = 48, seed: int = 2024) -> Suite:
    def make(rng, i):
        a, b = rng.sample(DETECTABLE, 2)
        prompt = f"{_article(a)} {a} {T2I_RELATION_WORDS[i % len(T2I_RELATION_WORDS)]} {_article(b)} {b}"
        return prompt, spatial_spec(prompt, "rules")  # our templates: the rule parser reads them exactly

    return Suite("builtin/spatial", "built-in (eclipse-bench templates)", "t2i-spatial",
                 _unique("spatial", n, seed, make), images_per_prompt=2)


def numeracy_suite(n: int = 48, seed: int = 2024) -> Suite:
    plural = {"bus": "buses", "sheep": "sheep", "bench": "benches", "knife": "knives", "mouse": "mice"}

    def make(rng, i):
        k = 1 + i % 2
        objs = rng.sample(DETECTABLE, k)
        parts = []
        for o in objs:
            c = rng.randrange(1, 6)
            word = NUMBER_NAMES[c - 1]
            parts.append(f"{word} {o if c == 1 else plural.get(o, o + 's')}")
        prompt = " and ".join(parts)
        return prompt, numeracy_spec(prompt, "rules")

    return Suite("builtin/numeracy", "built-in (eclipse-bench templates)", "t2i-numeracy",
                 _unique("numeracy", n, seed, make), images_per_prompt=2)


def counting_suite(n: int = 48, seed: int = 2024) -> Suite:
    """HRS-style counting with levels: 1 class n in {1,2} / 2 classes {2,3} / 2 classes {4,5}."""
    plural = {"bench": "benches", "sheep": "sheep"}
    levels = (("easy", 1, (1, 2)), ("medium", 2, (2, 3)), ("hard", 2, (4, 5)))

    def make(rng, i):
        level, k, counts = levels[3 * i // n]
        objs = rng.sample(DETECTABLE, k)
        ns = [rng.choice(counts) for _ in objs]
        parts = [f"{NUMBER_NAMES[c - 1]} {o if c == 1 else plural.get(o, o + 's')}" for o, c in zip(objs, ns)]
        spec = Spec(objects=tuple(ObjectSpec(o, (), c) for o, c in zip(objs, ns)))
        return " and ".join(parts) + " on a table", spec

    items = _unique("counting", n, seed, make)
    for i, it in enumerate(items):
        items[i] = Item(it.id, it.prompt, it.category, it.spec, level=("easy", "medium", "hard")[3 * i // len(items)])
    return Suite("builtin/counting", "built-in (eclipse-bench templates)", "hrs-counting", items, images_per_prompt=2)


def size_suite(n: int = 48, seed: int = 2024) -> Suite:
    def make(rng, i):
        a, b = rng.sample(DETECTABLE, 2)
        rel = SIZE_WORDS[i % 2]
        prompt = f"{_article(a)} {a} and {_article(b)} {b}, the {a} is {rel} than the {b}"
        return prompt, Spec(objects=(ObjectSpec(a, (), 1), ObjectSpec(b, (), 1)), relation=Relation(rel, 0, 1))

    items = [Item(it.id, it.prompt, it.category, it.spec, level="easy") for it in _unique("size", n, seed, make)]
    return Suite("builtin/size", "built-in (eclipse-bench templates)", "hrs-size", items, images_per_prompt=2)


def non_spatial_suite(n: int = 16, seed: int = 2024) -> Suite:
    items = [Item(f"non_spatial-{i:03d}", p, "non_spatial", phrases_spec(p, "rules")) for i, p in enumerate(ACTIONS[:n])]
    return Suite("builtin/non_spatial", "built-in (eclipse-bench templates)", "clip-score", items,
                 images_per_prompt=2)


def complex_suite(n: int = 36, seed: int = 2024) -> Suite:
    def make(rng, i):
        part = ("action", "spatial", "spatialaction")[i % 3]
        c1, c2 = rng.sample(BUILTIN_COLORS, 2)
        a, b = rng.sample(DETECTABLE, 2)
        if part == "action":
            prompt = f"the {c1} {a} is chasing the {c2} {b}"
        elif part == "spatial":
            prompt = f"the {c1} {a} is next to the {c2} {b}"
        else:
            prompt = f"the {c1} {a} sleeps on the left of the {c2} {b}"
        return prompt, complex_spec(prompt, part, "rules")

    return Suite("builtin/complex", "built-in (eclipse-bench templates)", "three-in-one",
                 _unique("complex", n, seed, make), images_per_prompt=2)


def position_suite(n: int = 40, seed: int = 2024) -> Suite:
    """GenEval-style position prompts (checked by the GenEval rule)."""
    def make(rng, i):
        a, b = rng.sample(DETECTABLE, 2)
        rel = GENEVAL_POSITIONS[i % 4]
        spec = Spec(phrases=(a, b), objects=(ObjectSpec(b, (), 1), ObjectSpec(a, (), 1)), relation=Relation(rel, 1, 0))
        return f"a photo of {_article(a)} {a} {rel} {_article(b)} {b}", spec

    return Suite("builtin/position", "built-in (eclipse-bench templates)", "geneval",
                 _unique("position", n, seed, make), images_per_prompt=2)


register_suite_family(SuiteFamily("builtin", {}, "our own template prompts for every category, offline"))
_B = "eclipse_bench.prompts.suites.builtin:"
for _cat in ("color", "shape", "texture"):
    register_suite(f"builtin/{_cat}", SuiteDef(_B + "attribute_suite", (_cat,), f"our own {_cat} prompts, 48, offline"))
for _cat, _fn, _help in (
        ("spatial", "spatial_suite", "2-D relations between COCO objects, 48"),
        ("non_spatial", "non_spatial_suite", "actions and interactions, 16"),
        ("complex", "complex_suite", "attributes + relations/actions in 3 sub-categories, 36"),
        ("numeracy", "numeracy_suite", "counts with number words, 48"),
        ("counting", "counting_suite", "HRS-style counting with easy/medium/hard levels, 48"),
        ("size", "size_suite", "HRS-style bigger/smaller, 48"),
        ("position", "position_suite", "GenEval-style relative position, 40")):
    register_suite(f"builtin/{_cat}", SuiteDef(_B + _fn, (), f"our own {_help}, offline"))
