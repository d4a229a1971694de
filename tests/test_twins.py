"""The tiny twins listen: every test that runs on them is blind unless their outputs follow their inputs.

Generation: at the same seed, two different prompts change at least 20% of the pixels by more than 8 grey levels,
for every tiny pairing; images are not saturated (< 10% of pixels at 0 or 255); the image embedding the prior
hands the decoder matters (zeroed, the image changes). Scorers: BLIP's P(yes) depends on the image and on the
question, CLIP's cosine on the image and on the text, the detectors' boxes, classes and scores on the image (the
open vocabulary also on its class list), the depth map on the image. The figures are printed at the end of the
test run (conftest.py collects them).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from eclipse_bench.bench.generation.generator import load_generator
from eclipse_bench.bench.generation.pairings import PAIRINGS

from shared_state import report_figure

PAIRINGS_TINY = tuple(n for n in PAIRINGS.names() if n.startswith("tiny-"))   # every registered twin pairing
PROMPTS = ("a red car and a blue bench", "a green apple next to a yellow banana", "a photo of a cat",
           "two dogs on the grass")


def _moved(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixel values that differ by more than 8 grey levels."""
    return float(np.mean(np.abs(a.astype(int) - b.astype(int)) > 8))


@pytest.mark.parametrize("name", PAIRINGS_TINY)
def test_tiny_pairings_listen_to_the_prompt(name):
    gen = load_generator(PAIRINGS.get(name), "cpu")
    images = [np.asarray(im) for im in gen.generate(list(PROMPTS), [42] * len(PROMPTS))]
    moved = [_moved(images[i], images[j]) for i in range(len(images)) for j in range(i + 1, len(images))]
    saturated = max(float(np.mean((im == 0) | (im == 255))) for im in images)
    report_figure(f"{name}: two prompts at one seed move {min(moved):.0%}-{max(moved):.0%} of pixels by > 8 levels; "
                  f"at most {saturated:.1%} of pixels saturated")
    assert min(moved) >= 0.20, moved
    assert saturated < 0.10


@pytest.mark.parametrize("name", ["tiny-eclipse-karlo", "tiny-eclipse-kandinsky"])
def test_the_decoder_listens_to_the_image_embedding(name):
    """The prior's output is what the decoder draws: zeroing it changes the image (a deaf decoder twin would give the
    very same image)."""
    gen = load_generator(PAIRINGS.get(name), "cpu")
    (normal,) = gen.generate([PROMPTS[0]], [42])
    real_forward = gen.prior.forward
    gen.prior.forward = lambda *a, **k: torch.zeros_like(real_forward(*a, **k))
    (zeroed,) = gen.generate([PROMPTS[0]], [42])
    moved = _moved(np.asarray(normal), np.asarray(zeroed))
    report_figure(f"{name}: a zeroed image embedding moves {moved:.0%} of pixels")
    assert moved >= 0.20


def _distinct_images() -> list:
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    return [Image.new("RGB", (64, 64), (220, 30, 30)), Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
            Image.fromarray(ramp), Image.new("RGB", (64, 64), (30, 60, 220))]


def test_blip_twin_answers_depend_on_image_and_question():
    from eclipse_bench.metrics.vqa import BlipVqa

    vqa = BlipVqa("tiny:blip-vqa")
    questions = ["a red car?", "a blue bench?", "a cat?", "a green apple?"]
    p = np.array([[vqa.p_yes([im], [q])[0] for q in questions] for im in _distinct_images()])
    by_image, by_question = np.ptp(p, axis=0).min(), np.ptp(p, axis=1).min()
    report_figure(f"tiny BLIP: P(yes) spans >= {by_image:.3f} across images, >= {by_question:.3f} across questions")
    assert by_image > 0.02 and by_question > 0.01


def test_clip_twin_cosine_depends_on_image_and_text():
    from eclipse_bench.metrics.clip import ClipScorer

    clip = ClipScorer("tiny:clip")
    cos = clip.image_features(_distinct_images()) @ clip.text_features(list(PROMPTS)).T
    by_image, by_text = np.ptp(cos, axis=0).min(), np.ptp(cos, axis=1).min()
    report_figure(f"tiny CLIP: cosine spans >= {by_image:.3f} across images, >= {by_text:.3f} across texts")
    assert by_image > 0.01 and by_text > 0.01


def test_detector_twins_depend_on_the_image_and_the_class_list():
    from eclipse_bench.metrics.detect import Detector

    det = Detector("tiny:yolo-seg|tiny:yolo-world")
    images = _distinct_images()
    closed = det.detect(images)
    scores = [d["score"] for dets in closed for d in dets]
    labels = [frozenset(d["label"] for d in dets if d["score"] > 0.3) for dets in closed]
    boxes = [np.array([d["box"] for d in dets[:5]]) for dets in closed]
    assert len(set(labels)) >= 3                          # what is seen depends on the image
    assert np.std(scores) > 0.05 and max(scores) > 0.5    # scores in the range the rules' thresholds cut
    assert any(b.shape != boxes[0].shape or np.abs(b - boxes[0]).max() > 1 for b in boxes[1:])
    bgr = [np.asarray(im)[:, :, ::-1] for im in images]
    two = det.open.detect(bgr, ("cat", "frog"))
    four = det.open.detect(bgr, ("cat", "frog", "llama", "unicorn"))
    frogs = [sum(d["label"] == "frog" for d in dets) for dets in two]
    report_figure(f"tiny YOLO: {len(set(labels))} distinct label sets over 4 images, score std {np.std(scores):.2f}; "
                  f"YOLO-World frogs per image {frogs}")
    assert len(set(frogs)) > 1                            # the open vocabulary's answer depends on the image
    assert two != four                                    # ... and on its class list


def test_depth_twin_depends_on_the_image():
    from eclipse_bench.metrics.depth import DepthEstimator

    maps = DepthEstimator("tiny:dpt-hybrid").depth_maps(_distinct_images())
    moved = min(_moved(maps[i], maps[j]) for i in range(len(maps)) for j in range(i + 1, len(maps)))
    report_figure(f"tiny DPT: two images' depth maps differ at >= {moved:.0%} of pixels")
    assert moved >= 0.20


def test_judge_twin_answers_depend_on_image_and_question():
    """The tiny Qwen3-VL's P(answer) moves with the image and with the question, over a range the soft metrics see."""
    from eclipse_bench.metrics.judge import QwenJudge, answer_variants

    judge = QwenJudge("tiny:qwen3-vl")
    questions = [("How many cats are in the image?", "two"), ("Is the car red?", "Yes"),
                 ("Are there any dogs in the image?", "Yes"), ("Is the apple to the left of the banana?", "Yes")]
    ids = [[judge.first_token(v) for v in answer_variants(q, a)] for q, a in questions]
    p = []
    for im in _distinct_images():
        probs, _ = judge.answer(im, [f"{q} Answer in one word." for q, _ in questions])
        p.append([float(sum(probs[j, t] for t in ids[j])) for j in range(len(questions))])
    p = np.array(p)
    by_image, by_question = np.ptp(p, axis=0).min(), np.ptp(p, axis=1).min()
    report_figure(f"tiny Qwen3-VL: P(answer) spans >= {by_image:.3f} across images, >= {by_question:.3f} across "
                  f"questions (range {p.min():.3f}-{p.max():.3f})")
    assert by_image > 0.05 and by_question > 0.01
    assert p.max() - p.min() > 0.3


def test_mask2former_twin_depends_on_the_image():
    from eclipse_bench.metrics.mask2former import Mask2FormerDetector

    det = Mask2FormerDetector("tiny:mask2former")
    found = det.detect(_distinct_images())
    scores = [d["score"] for dets in found for d in dets]
    labels = [frozenset(d["label"] for d in dets if d["score"] > 0.3) for dets in found]
    boxes = [sorted(tuple(d["box"]) for d in dets if d["score"] > 0.3) for dets in found]
    areas = [(d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]) for dets in found for d in dets]
    report_figure(f"tiny Mask2Former: {len(set(labels))} distinct label sets over 4 images, scores up to "
                  f"{max(scores):.2f} (std {np.std(scores):.2f}), box areas {min(areas):.0f}-{max(areas):.0f} px")
    assert len(set(labels)) >= 3 and max(scores) > 0.3 and np.std(scores) > 0.05
    assert len({tuple(b) for b in boxes}) == len(boxes)          # every image its own boxes
    assert min(areas) < 0.5 * max(areas)                          # masks are not all the whole image
