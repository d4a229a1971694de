"""GenEval 2's judge: the batched judge against a one-question-per-generate oracle written here (the reference's way),
the answer-variant rules, the four metrics and the analysis tables on hand-derived probabilities, the questions
generated from specs against GenEval 2's own, and the evidence's independence from the chunk it is computed in."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from eclipse_bench.metrics.judge import (QwenJudge, TIFA_TEXT, VQASCORE_TEXT, answer_variants, count_digit, probability)
from eclipse_bench.metrics.soft_tifa import analysis, soft_tifa_am, soft_tifa_gm, tifa, vqascore
from eclipse_bench.prompts.questions import generated_questions, questions_for
from eclipse_bench.prompts.spec import Item, ObjectSpec, Question, Relation, Spec

QUESTIONS = (Question("How many backpacks are in the image?", "one", "count"),
             Question("Is the backpack green?", "Yes", "attribute"),
             Question("Are there any pigs in the image?", "Yes", "object"),
             Question("How many pigs are in the image?", "eleven", "count"),   # outside one..ten: variants differ
             Question("Is the pig to the left of the backpack?", "Yes", "position"))


@pytest.fixture(scope="session")
def judge():
    return QwenJudge("tiny:qwen3-vl")


def _images(n: int, seed: int = 0, size: int = 64) -> list:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def reference_answer(judge: QwenJudge, image, text: str, variants: list[str]) -> tuple[float, str]:
    """GenEval 2's send_message_with_image, written out: the chat template with the image and the text, generate one
    token greedily with its scores, softmax over the vocabulary, the first token of each variant summed, the argmax
    decoded."""
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]
    inputs = judge.processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                                 return_dict=True, return_tensors="pt")
    with torch.no_grad():
        out = judge.model.generate(**inputs, max_new_tokens=1, do_sample=False, output_scores=True,
                                   return_dict_in_generate=True)
    probs = torch.nn.functional.softmax(out.scores[0], dim=-1)
    p = 0.0
    for v in variants:
        p += probs[0, judge.processor.tokenizer.encode(v)[0]].item()
    return p, judge.processor.tokenizer.decode([int(torch.argmax(probs))])


def _item(questions=QUESTIONS, prompt="a green backpack and a pig") -> Item:
    return Item("g2-x", prompt, "geneval2", Spec(questions=tuple(questions), atoms=3), level="3")


@pytest.mark.parametrize("penalty", [None, 1.3])
def test_batched_judge_equals_one_question_per_generate(judge, penalty):
    """Every question of each image, and the VQAScore question: P within 1e-4 of the reference protocol in fp32 and
    the same argmax token (also with a repetition_penalty in the checkpoint's generation config, which generate
    applies in greedy mode)."""
    saved = judge.model.generation_config.repetition_penalty, judge.penalty
    if penalty is not None:
        judge.model.generation_config.repetition_penalty = penalty
        judge.penalty = penalty
    try:
        images = _images(3) + [Image.new("RGB", (96, 64), (200, 40, 40))]   # another size: another image grid
        records = judge.evidence(images, [_item()] * len(images))
        worst, compared = 0.0, 0
        for im, rec in zip(images, records):
            assert [q["kind"] for q in rec["questions"]] == ["tifa"] * len(QUESTIONS) + ["vqascore"]
            for q in rec["questions"]:
                for compat in (False, True):
                    variants = [v for v, _ in (q.get("compat_variants", q["variants"]) if compat else q["variants"])]
                    p_ref, top_ref = reference_answer(judge, im, q["text"], variants)
                    worst = max(worst, abs(probability(q, compat) - p_ref))
                    assert q["argmax"]["token"] == top_ref
                    compared += 1
        assert compared == 4 * 6 * 2
        assert worst < 1e-4, worst
    finally:
        judge.model.generation_config.repetition_penalty, judge.penalty = saved


def test_texts_sent_are_the_reference_ones(judge):
    (rec,) = judge.evidence(_images(1), [_item()])
    texts = [q["text"] for q in rec["questions"]]
    assert texts[0] == "How many backpacks are in the image? Answer in one word."
    assert texts[-1] == 'Does this image show "a green backpack and a pig"? Answer the question with Yes or No.'
    assert TIFA_TEXT.format(question="Q?") == "Q? Answer in one word."
    assert VQASCORE_TEXT.format(prompt="p") == 'Does this image show "p"? Answer the question with Yes or No.'


def test_evidence_does_not_depend_on_the_chunk(judge):
    """An image's record is the same alone, in a chunk, and in another order (per-image passes)."""
    images = _images(3, seed=5)
    items = [_item(), _item(QUESTIONS[:2], "a green backpack"), _item(QUESTIONS[2:], "a pig")]
    together = judge.evidence(images, items)
    alone = [judge.evidence([im], [it])[0] for im, it in zip(images, items)]
    backwards = judge.evidence(images[::-1], items[::-1])[::-1]
    assert together == alone == backwards


# -- the variant rules (geneval2.md) -------------------------------------------------------------------------------

def test_answer_variants():
    assert answer_variants("How many cats are in the image?", "three") == \
        ["three", "Three", " three", " Three", "3", " 3"]
    assert answer_variants("How many cats are in the image?", "ten") == ["ten", "Ten", " ten", " Ten", "10", " 10"]
    # every other question sums the Yes variants, whatever its answer says
    assert answer_variants("Is the cat red?", "Yes") == ["Yes", "yes", " yes", " Yes"]
    assert answer_variants("Is the cat red?", "No") == ["Yes", "yes", " yes", " Yes"]
    # outside one..ten the reference's digit is "other"; by default the number's own digits
    assert answer_variants("How many cats are in the image?", "eleven", reference_compat=True)[4:] == ["other", " other"]
    assert answer_variants("How many cats are in the image?", "eleven")[4:] == ["11", " 11"]
    assert count_digit("zero") == "0" and count_digit("12") == "12" and count_digit("many") is None
    assert answer_variants("How many cats are in the image?", "many") == ["many", "Many", " many", " Many"]
    assert count_digit("zero", reference_compat=True) == "other"
    assert count_digit("One", reference_compat=True) == "other"   # the reference matches the lower-case words only


# -- the metrics on hand-derived probabilities ----------------------------------------------------------------------

def _q(p: float, skill: str = "object", kind: str = "tifa", top: str = "Yes", shared: bool = False) -> dict:
    """A stored judge question whose variants' probabilities add up to p (first variant's token has it all)."""
    if shared:   # two variants with the same first token: counted twice, as the reference does
        return {"kind": kind, "question": "How many cats are in the image?", "answer": "one", "skill": skill,
                "text": "", "variants": [["1", 16], [" 1", 220], ["one", 5], [" one", 220]],
                "probs": {"16": p, "220": 0.1, "5": 0.0}, "argmax": {"id": 16, "token": top, "p": p}}
    return {"kind": kind, "question": "Is it?", "answer": "Yes", "skill": skill, "text": "q",
            "variants": [["Yes", 1], ["yes", 2], [" yes", 3], [" Yes", 4]],
            "probs": {"1": p, "2": 0.0, "3": 0.0, "4": 0.0}, "argmax": {"id": 1, "token": top, "p": p}}


def _ev(*questions) -> dict:
    return {"judge": {"questions": list(questions), "source": "the suite's own questions"}}


def test_soft_tifa_am_and_gm_hand_derived():
    ev = _ev(_q(0.5), _q(0.25), _q(1.0), _q(0.9, kind="vqascore"))
    assert soft_tifa_am(ev, Spec()).score == pytest.approx((0.5 + 0.25 + 1.0) / 3, abs=1e-12)
    assert soft_tifa_gm(ev, Spec()).score == pytest.approx(0.5, abs=1e-12)   # (0.5 * 0.25 * 1)^(1/3) = 0.125^(1/3)
    zero = _ev(_q(0.8), _q(0.0), _q(0.6))
    assert soft_tifa_gm(zero, Spec()).score == 0.0                           # one P of 0 gives 0
    assert soft_tifa_am(zero, Spec()).score == pytest.approx(1.4 / 3, abs=1e-12)


def test_a_token_two_variants_share_counts_twice():
    ev = _ev(_q(0.3, shared=True))
    assert probability(ev["judge"]["questions"][0]) == pytest.approx(0.3 + 0.1 + 0.0 + 0.1, abs=1e-12)
    assert soft_tifa_am(ev, Spec()).score == pytest.approx(0.5, abs=1e-12)


def test_tifa_counts_argmax_answers():
    ev = _ev(_q(0.4, top=" Yes"), _q(0.3, top="yes"), _q(0.2, top="No"), _q(0.1, top=" no"))
    assert tifa(ev, Spec()).score == 0.5   # " Yes" and "yes" are variants ("Yes" lower-cased is not: " yes" is)
    assert tifa(_ev(_q(0.9, top="YES")), Spec()).score == 1.0   # lower-cased first: "yes"
    counts = _ev(_q(0.2, top="1", shared=True), _q(0.2, top=" One", shared=True), _q(0.2, top=" Two", shared=True),
                 _q(0.2, top="One ", shared=True))
    assert tifa(counts, Spec()).score == 0.5   # "1" and " one" are variants; " two" and "one " are not


def test_vqascore_is_the_whole_prompt_question():
    ev = _ev(_q(0.5), _q(0.7, kind="vqascore", skill="prompt"))
    assert vqascore(ev, Spec()).score == pytest.approx(0.7, abs=1e-12)


def test_benchmark_score_is_100_times_the_mean_over_prompts():
    from eclipse_bench.metrics.aggregate import AGGREGATES, summarise

    rows = [{"prompt_id": "a", "score": 0.5, "n": 0}, {"prompt_id": "b", "score": 0.25, "n": 0},
            {"prompt_id": "c", "score": 0.0, "n": 0}]
    assert summarise(rows, AGGREGATES["mean x100"])["score"] == pytest.approx(25.0, abs=1e-9)


def test_analysis_tables_hand_derived():
    """Per skill: 100 x sum of P / count over every question of the run; per atom count: 100 x the mean of the
    prompts' GM (images of a prompt averaged first); printed in the reference's skill order."""
    rows = [
        {"prompt_id": "p1", "level": "3", "score": 0.5, "details": {"p": [0.5, 0.5], "skills": ["object", "count"],
                                                                    "gm": 0.5}},
        {"prompt_id": "p2", "level": "3", "score": 0.2, "details": {"p": [0.4, 0.1], "skills": ["object", "count"],
                                                                    "gm": 0.2}},
        {"prompt_id": "p3", "level": "10", "score": 0.0, "details": {"p": [1.0, 0.0], "skills": ["position", "object"],
                                                                     "gm": 0.0}},
        {"prompt_id": "p3", "level": "10", "score": 0.6, "details": {"p": [0.6, 0.6], "skills": ["position", "object"],
                                                                     "gm": 0.6}},
    ]
    t = analysis(rows)
    assert list(t["per skill (Soft-TIFA AM)"]) == ["object", "count", "position"]
    assert t["per skill (Soft-TIFA AM)"]["object"] == pytest.approx(100 * (0.5 + 0.4 + 0.0 + 0.6) / 4)
    assert t["per skill (Soft-TIFA AM)"]["count"] == pytest.approx(100 * 0.6 / 2)
    assert t["per skill (Soft-TIFA AM)"]["position"] == pytest.approx(100 * 1.6 / 2)
    assert list(t["per atom count (Soft-TIFA GM)"]) == ["3", "10"]   # numeric order
    assert t["per atom count (Soft-TIFA GM)"]["3"] == pytest.approx(100 * (0.5 + 0.2) / 2)
    assert t["per atom count (Soft-TIFA GM)"]["10"] == pytest.approx(100 * 0.3)


def test_gmean_is_scipys():
    from scipy.stats import gmean as scipy_gmean

    from eclipse_bench.metrics.soft_tifa import gmean

    values = [0.9, 0.013, 0.55, 0.7]
    assert gmean(values) == scipy_gmean(values)
    assert gmean(values) == pytest.approx(math.exp(sum(map(math.log, values)) / 4), rel=1e-12)


# -- questions ------------------------------------------------------------------------------------------------------

def _official(data, prompt):
    rows = [json.loads(line) for line in (data / "geneval2" / "geneval2_data.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if r["prompt"] == prompt]
    return tuple(Question(q, a, s) for (q, a), s in zip(row["vqa_list"], row["skills"]))


HAND_SPECS = {   # GenEval 2 prompts, the structure each states written as a spec by hand
    "a green backpack and a pig": Spec(objects=(ObjectSpec("backpack", ("green",), 1), ObjectSpec("pig", (), 1))),
    "seven green croissants": Spec(objects=(ObjectSpec("croissant", ("green",), 7),)),
    "two metal toys": Spec(objects=(ObjectSpec("toy", ("metal",), 2),)),
    "a monkey behind a penguin": Spec(objects=(ObjectSpec("monkey", (), 1), ObjectSpec("penguin", (), 1)),
                                      relation=Relation("behind", 0, 1)),
    "a croissant to the left of a dog": Spec(objects=(ObjectSpec("croissant", (), 1), ObjectSpec("dog", (), 1)),
                                             relation=Relation("left of", 0, 1)),
    "three elephants on top of seven yellow violins in front of five green bears": Spec(
        objects=(ObjectSpec("elephant", (), 3), ObjectSpec("violin", ("yellow",), 7), ObjectSpec("bear", ("green",), 5)),
        relation=Relation("on top of", 0, 1), extra_relations=(Relation("in front of", 1, 2),)),
}


@pytest.mark.parametrize("prompt", list(HAND_SPECS))
def test_generated_questions_equal_geneval2s_own(official_data, prompt):
    """From the structure a GenEval 2 prompt states, the generated questions are GenEval 2's own: same text, answers,
    skills and order. (Not for every prompt: GenEval 2 writes "sheeps", we write "sheep".)"""
    assert generated_questions(HAND_SPECS[prompt]) == _official(official_data, prompt)


def test_generated_questions_hand_derived():
    spec = Spec(objects=(ObjectSpec("person", ("red",), 2), ObjectSpec("bus"), ObjectSpec("trees", (), 1),
                         ObjectSpec("cat", (), 0)),
                relation=Relation("between", 1, 0, 2), extra_relations=(Relation("bigger", 0, 1),))
    got = [(q.question, q.answer, q.skill) for q in generated_questions(spec)]
    assert got == [("How many people are in the image?", "two", "count"), ("Are the people red?", "Yes", "attribute"),
                   ("Are there any people in the image?", "Yes", "object"),
                   ("Are the people bigger than the bus?", "Yes", "attribute"),
                   ("Are there any buses in the image?", "Yes", "object"),
                   ("Is the bus between the people and the tree?", "Yes", "position"),
                   ("How many trees are in the image?", "one", "count"),
                   ("Are there any trees in the image?", "Yes", "object")]   # an object wanted absent asks nothing
    assert questions_for(Spec(questions=QUESTIONS))[1] == "the suite's own questions"
    assert questions_for(spec)[1] == "eclipse-bench questions"
    assert generated_questions(Spec(phrases=("a cat",))) == ()


def test_tokens_after_the_image_are_those_of_the_full_sequence(judge, official_data):
    """The judge processes the image once and tokenizes only the text after it: for every GenEval 2 question (and
    VQAScore text) those tokens equal the full sequence's, as the reference tokenizes it."""
    rows = [json.loads(line) for line in (official_data / "geneval2" / "geneval2_data.jsonl").read_text().splitlines()]
    texts = [TIFA_TEXT.format(question=q) for r in rows[::40] for q, _ in r["vqa_list"]]
    texts += [VQASCORE_TEXT.format(prompt=r["prompt"]) for r in rows[::40]]
    (image,) = _images(1)
    tails = judge._tails(image, texts)
    for text, tail in zip(texts, tails):
        full = judge._inputs(image, text)["input_ids"][0]
        assert torch.equal(full[len(full) - len(tail):], tail) and full[len(full) - len(tail) - 1] == judge.vision_end
