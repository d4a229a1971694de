"""Built-in suites written by us for offline demos and CI smoke runs.

Our own vocabulary and templates, generated deterministically; not copies of official prompts.
"""

from __future__ import annotations

import random

from eclipse_bench.prompts.extract import attribute_spec
from eclipse_bench.prompts.spec import Item, Suite
from eclipse_bench.prompts.vocab import COLORS

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
        items.append(Item(id=f"{category}-{len(items):03d}", prompt=prompt, category=category,
                          spec=attribute_spec(prompt, category)))
    assert COLORS  # the colour list the extractor knows covers the built-in colours
    return Suite(name=f"builtin/{category}", source="built-in (eclipse-bench templates)",
                 default_metric="blip-vqa", items=items)
