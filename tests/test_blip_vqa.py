"""BLIP-VQA: evidence batched vs one at a time, question preprocessing, and the rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.metrics.base import yes_probability
from eclipse_bench.metrics.blip_vqa import blip_vqa
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


def _ev(*ps):
    return {"vqa": {"questions": [{"phrase": f"p{i}", "question": f"p{i}?", "p_yes": p} for i, p in enumerate(ps)]}}


@pytest.mark.parametrize("p_yes, expected", [
    # hand-derived from metrics.md: each P(yes) to 4 decimals, float32 product, product to 4 decimals
    ((0.9, 0.55556), 0.5000),            # 0.9000 * 0.5556 = 0.50004
    ((0.12345, 0.5), 0.0617),            # 0.1235 * 0.5 = 0.06175 -> float32 0.061749998 -> 0.0617
    ((0.99995, 0.99995), 1.0),           # each rounds to 1.0000
    ((0.33334, 0.33334, 0.33334), 0.037),  # 0.3333^3 = 0.037025... -> 0.0370
    ((0.00004,), 0.0),
])
def test_rule_rounds_like_the_reference(p_yes, expected):
    assert blip_vqa(_ev(*p_yes), Spec()).score == expected


def test_rule_reason_and_nothing_to_ask():
    v = blip_vqa(_ev(0.9, 0.55556), Spec())
    assert "p1? 0.5556" in v.reason
    empty = blip_vqa({"vqa": {"questions": []}}, Spec())
    assert empty.score is None and "no noun phrase" in empty.reason


def test_reference_compat_asks_at_most_eight_phrases():
    ev = _ev(*([0.5] * 10))
    assert blip_vqa(ev, Spec()).score == 0.001  # 0.5^10 = 0.000977
    assert blip_vqa(ev, Spec(), reference_compat=True).score == 0.0039  # 0.5^8 = 0.00390625


def test_question_preprocessing():
    assert question_for("A Green (bench)") == "a green bench?"
    assert preprocess_question('The "fluffy" cat: *big*; #1 ~ok!') == "the fluffy cat big 1 ok"
    long = " ".join(f"w{i}" for i in range(60))
    assert len(preprocess_question(long).split()) == 50  # pre_question's limit (tokens are cut at 35 later)


def test_evidence_has_one_question_per_phrase(vqa):
    from eclipse_bench.prompts.spec import Item

    specs = [Spec(phrases=("a green bench", "a red car")), Spec(phrases=()), Spec(phrases=("a cat",))]
    records = vqa.evidence(_images(3), [Item(str(i), "p", "color", s) for i, s in enumerate(specs)])
    assert [[q["phrase"] for q in r["questions"]] for r in records] == [["a green bench", "a red car"], [], ["a cat"]]
    # each record's P(yes) is that image's answer to that question, as asked alone
    images = _images(3)
    for rec, im in zip(records, images):
        for q in rec["questions"]:
            assert math.isclose(q["p_yes"], vqa.p_yes([im], [q["question"]])[0], abs_tol=1e-6)


# -- parity with an independent computation of the reference's P(yes) -----------------------------------

def _reference_p_yes(model, tokenizer, image, question, size, mean, std, interpolate, first_token="[ENC]"):
    """T2I-CompBench's vqa_prob, written out: PIL bicubic resize + normalise; question tokens with [ENC]
    first; text encoder over the image; decoder on [DEC]; softmax over the vocabulary; yes / (yes + no)."""
    import torch

    arr = np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float64) / 255.0
    arr = (arr - np.array(mean)) / np.array(std)
    pixels = torch.tensor(arr, dtype=torch.float32).permute(2, 0, 1)[None]
    ids = tokenizer(question, return_tensors="pt").input_ids
    ids[0, 0] = tokenizer.convert_tokens_to_ids(first_token)
    with torch.no_grad():
        img = model.vision_model(pixel_values=pixels, interpolate_pos_encoding=interpolate)[0]
        q = model.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids), encoder_hidden_states=img,
                               encoder_attention_mask=torch.ones(img.shape[:-1], dtype=torch.long))[0]
        dec = torch.tensor([[tokenizer.convert_tokens_to_ids("[DEC]")]])
        logits = model.text_decoder(input_ids=dec, encoder_hidden_states=q).logits[0, 0].double()
    prob = torch.softmax(logits, dim=0)
    yes, no = prob[tokenizer.convert_tokens_to_ids("yes")], prob[tokenizer.convert_tokens_to_ids("no")]
    return float(yes / (yes + no))


@pytest.mark.parametrize("image_size", [None, 48])  # the twin's own 32 px, and resampled positions as at 480
def test_p_yes_equals_the_reference_computation(image_size):
    vqa = BlipVqa("tiny:blip-vqa", batch_size=64, image_size=image_size)
    images = _images(4, seed=7)
    questions = [question_for(p) for p in ("a green bench", "The red car", "a fluffy cat with a hat", "dog")]
    ours = vqa.p_yes(images, questions)
    ip = vqa.processor.image_processor
    ref = [_reference_p_yes(vqa.model, vqa.tokenizer, im, q, vqa.image_size, ip.image_mean, ip.image_std,
                            vqa.interpolate) for im, q in zip(images, questions)]
    assert np.max(np.abs(np.array(ours) - np.array(ref))) < 1e-5
    # the [ENC] token matters: the same computation with transformers' [CLS] first gives other answers, so the
    # parity above would catch a path that kept [CLS]
    cls = [_reference_p_yes(vqa.model, vqa.tokenizer, im, q, vqa.image_size, ip.image_mean, ip.image_std,
                            vqa.interpolate, first_token="[CLS]") for im, q in zip(images, questions)]
    assert np.max(np.abs(np.array(cls) - np.array(ref))) > 1e-3


def test_evidence_shows_enc_and_the_reference_size():
    from transformers import BlipVisionConfig

    from eclipse_bench.metrics.vqa import reference_image_size
    from eclipse_bench.prompts.spec import Item

    vqa = BlipVqa("tiny:blip-vqa")
    rec = vqa.evidence(_images(1), [Item("0", "p", "color", Spec(phrases=("a green bench",)))])[0]
    assert rec["questions"][0]["input"].startswith("[ENC] a green bench?")
    assert reference_image_size(BlipVisionConfig()) == 480  # ViT-B/16 as the hub's BLIP VQA config (384 px)
    assert reference_image_size(vqa.model.config.vision_config) == 32
