"""Detector vocabularies and the noun -> class mapping used by the detection rules."""

from __future__ import annotations

from eclipse_bench.prompts.extract import singular

COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)

# T2I-CompBench counts these as person; the rest are common names of COCO classes.
ALIASES = {
    "girl": "person", "boy": "person", "man": "person", "woman": "person", "people": "person", "child": "person",
    "sofa": "couch", "motorbike": "motorcycle", "aeroplane": "airplane", "plane": "airplane", "table": "dining table",
    "tv monitor": "tv", "television": "tv", "phone": "cell phone", "cellphone": "cell phone", "ball": "sports ball",
    "donut": "donut", "doughnut": "donut", "hydrant": "fire hydrant", "plant": "potted plant",
    "fridge": "refrigerator", "hair dryer": "hair drier", "bike": "bicycle", "glass": "wine glass",
}


def to_class(noun: str, vocabulary: tuple[str, ...] = COCO80) -> str | None:
    """The detector class for a noun, or None when the vocabulary lacks it."""
    n = " ".join(noun.lower().split())
    for cand in (n, singular(n)):
        if cand in vocabulary:
            return cand
        mapped = ALIASES.get(cand)
        if mapped and mapped in vocabulary:
            return mapped
    last = singular(n).split()[-1] if n else n
    if last in vocabulary:
        return last
    mapped = ALIASES.get(last)
    return mapped if mapped in vocabulary else None
