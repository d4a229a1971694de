"""DPG-Bench's judge against the reference protocol on a twin built from modelscope's own mPLUG classes: one pipeline
call per question, as compute_dpg_bench.py makes them: modelscope's MPlugPreprocessor steps (transcribed here from
modelscope/preprocessors/multi_modal.py, whose module imports decord: bicubic resize to image_res, ToTensor, CLIP
mean/std; the question lowercased, padded and truncated to 25 BERT tokens), then modelscope's
MPlugForVisualQuestionAnswering.forward(image, question, train=False) and the top beam decoded as MPlugForAllTasks
decodes it. Ours encodes each image once and batches its questions: the answers must be equal and the first decoding
step's logits within 1e-5 (plus 1e-5 relative: batching six questions moves float32 rounding, measured at most
1.05e-5 on logits of magnitude up to 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("modelscope", reason="modelscope (the DPG-Bench judge's extra) not installed")

from eclipse_bench.bench.core.tiny import resolve  # noqa: E402
from eclipse_bench.metrics.mplug import CLIP_MEAN, CLIP_STD, MplugJudge, load_mplug  # noqa: E402

QUESTIONS = ["Are there cabbages?", "Is the pickup truck red?", "Is there a TABLE?", "Are the eggplants purple?",
             "Is it dusk?", "Are there eight cabbages in the field on the left of the red truck?"]


@pytest.fixture(scope="module")
def judge():
    return MplugJudge("tiny:mplug")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    out = [Image.fromarray(rng.integers(0, 256, (72, 90, 3), dtype=np.uint8))]   # not square: resized as the reference
    for c in ((200, 30, 30), (20, 160, 40), (250, 250, 250)):
        a = np.zeros((64, 64, 3), np.uint8)
        a[:] = c
        a[16:48, 16:48] = 255 - np.array(c, np.uint8)
        out.append(Image.fromarray(a))
    return out


def reference_answer(model, tokenizer, image_res, image, question):
    """One pipeline call, as modelscope runs it: preprocess, forward(train=False), the top beam decoded; the logits of
    the first decoding step captured from the decoder's first call."""
    from torchvision import transforms
    from torchvision.transforms import InterpolationMode

    pixels = transforms.Compose([transforms.Resize((image_res, image_res), interpolation=InterpolationMode.BICUBIC),
                                 transforms.ToTensor(), transforms.Normalize(CLIP_MEAN, CLIP_STD)])(image.convert("RGB"))
    tokens = tokenizer(question.lower(), padding="max_length", truncation=True, max_length=25, return_tensors="pt")
    captured = []
    original = model.text_decoder.forward

    def spy(*a, **k):
        out = original(*a, **k)
        if not captured:
            captured.append(out.logits[0, -1].float().clone())
        return out

    model.text_decoder.forward = spy
    try:
        with torch.no_grad():
            ids, _ = model(pixels.unsqueeze(0), tokens, train=False)
    finally:
        model.text_decoder.forward = original
    return tokenizer.decode(ids[0][0], skip_special_tokens=True), captured[0]


def test_batched_answers_equal_one_call_per_question(judge, images):
    model, cfg = load_mplug(resolve("tiny:mplug"))
    tok = model.tokenizer
    answers = set()
    for im in images:
        ours = judge.answer(im, QUESTIONS)
        for q, got in zip(QUESTIONS, ours):
            answer, logits = reference_answer(model, tok, cfg.image_res, im, q)
            assert got["answer"] == answer, (q, got, answer)
            p_yes = float(torch.softmax(logits, -1)[tok.convert_tokens_to_ids("yes")])
            assert got["p_yes"] == pytest.approx(p_yes, abs=1e-5)
            answers.add(answer)
    assert len(answers) >= 3   # the twin listens: its answers change with the image and the question


def test_first_step_logits_within_1e_5(judge, images):
    """The whole first-step distribution, not only P(yes): ours (batched) against the per-question reference."""
    model, cfg = load_mplug(resolve("tiny:mplug"))
    im = images[1]
    captured = []
    original = judge.model.text_decoder.forward

    def spy(*a, **k):
        out = original(*a, **k)
        if not captured:
            captured.append(out.logits.view(len(QUESTIONS), -1, *out.logits.shape[1:])[:, 0, -1].float().clone())
        return out

    judge.model.text_decoder.forward = spy
    try:
        judge.answer(im, QUESTIONS)
    finally:
        judge.model.text_decoder.forward = original
    for i, q in enumerate(QUESTIONS):
        _, ref = reference_answer(model, model.tokenizer, cfg.image_res, im, q)
        assert torch.allclose(captured[0][i], ref, atol=1e-5, rtol=1e-5), (q, (captured[0][i] - ref).abs().max())


def test_a_missing_checkpoint_offline_is_one_line(monkeypatch, tmp_path):
    from eclipse_bench.bench.core.errors import UserError
    from eclipse_bench.metrics.mplug import REAL_MPLUG, model_dir

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=f"modelscope download --model {REAL_MPLUG}"):
        model_dir(REAL_MPLUG)


def test_the_search_leaves_the_model_as_it_found_it(judge, images):
    layers = [layer.crossattention.self for layer in judge.model.text_decoder.bert.encoder.layer
              if getattr(layer, "has_cross_attention", False)]
    assert layers
    judge.answer(images[0], QUESTIONS[:2])
    assert all(isinstance(att.key, torch.nn.Linear) and isinstance(att.value, torch.nn.Linear) for att in layers)
    assert all("key" not in att.__dict__ for att in layers)
