"""BLIP-VQA: evidence batched vs one at a time, question preprocessing, and the rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.metrics.rules import blip_vqa, yes_probability
from eclipse_bench.metrics.vqa import BlipVqa, preprocess_question, question_for
from eclipse_bench.prompts.spec import Spec


@pytest.fixture(scope="session")
def vqa():
    return BlipVqa("tiny:blip-vqa", batch_size=64)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)) for _ in range(n)]


def test_batched_equals_one_at_a_time(vqa):
    images = _images(12)
    questions = ["a green bench?", "a red car?", "the fluffy cat with a big round hat?", "dog?"] * 3
    vqa.batch_size = 64
    batched = vqa.p_yes(images, questions)
    vqa.batch_size = 1
    single = vqa.p_yes(images, questions)
    vqa.batch_size = 64
    assert np.max(np.abs(np.array(batched) - np.array(single))) < 1e-4
    assert all(0.0 < p < 1.0 for p in batched)


def test_answers_depend_on_image_and_question(vqa):
    a, b = _images(2, seed=3)
    p = vqa.p_yes([a, a, b], ["a red car?", "a blue dog on a bench?", "a red car?"])
    assert p[0] != p[1] and p[0] != p[2]


def test_yes_probability_equals_renormalised_softmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=30524)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    yes, no = 2748, 2053
    assert yes_probability(logits[yes], logits[no]) == pytest.approx(probs[yes] / (probs[yes] + probs[no]), rel=1e-9)
    assert yes_probability(800.0, -800.0) == 1.0  # no overflow


def test_rule_is_the_rounded_product_over_phrases():
    ev = {"questions": [{"phrase": "a green bench", "question": "a green bench?", "p_yes": 0.9},
                        {"phrase": "a red car", "question": "a red car?", "p_yes": 0.55555}]}
    v = blip_vqa({"vqa": ev}, Spec())
    assert v.score == round(0.9 * 0.55555, 4) == 0.5
    assert "a red car? 0.556" in v.reason
    assert blip_vqa({"vqa": {"questions": []}}, Spec()).score == 1.0


def test_reference_compat_asks_at_most_eight_phrases():
    ev = {"questions": [{"phrase": str(i), "question": f"{i}?", "p_yes": 0.5} for i in range(10)]}
    assert blip_vqa({"vqa": ev}, Spec()).score == round(0.5 ** 10, 4)
    assert blip_vqa({"vqa": ev}, Spec(), reference_compat=True).score == round(0.5 ** 8, 4)


def test_question_preprocessing():
    assert question_for("A Green (bench)") == "a green bench?"
    assert preprocess_question('The "fluffy" cat: *big*; #1 ~ok!') == "the fluffy cat big 1 ok"
    long = " ".join(f"w{i}" for i in range(50))
    assert len(preprocess_question(long).split()) == 35


def test_evidence_has_one_question_per_phrase(vqa):
    from eclipse_bench.prompts.spec import Item

    specs = [Spec(phrases=("a green bench", "a red car")), Spec(phrases=()), Spec(phrases=("a cat",))]
    records = vqa.evidence(_images(3), [Item(str(i), "p", "color", s) for i, s in enumerate(specs)])
    assert [[q["phrase"] for q in r["questions"]] for r in records] == [["a green bench", "a red car"], [], ["a cat"]]
    assert math.isclose(sum(q["p_yes"] for q in records[0]["questions"]) / 2,
                        np.mean([q["p_yes"] for q in records[0]["questions"]]))
