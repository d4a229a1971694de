"""Rules never raise on a validated spec: random valid specs and random evidence through every rule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.metrics.registry import METRICS
from eclipse_bench.prompts.user import KNOWN_RELATIONS, check_spec

NOUNS = ["cat", "dog", "car", "bench", "zebra", "unicorn", "potted plant", "cats", "woman"]
LABELS = ["cat", "dog", "car", "bench", "zebra", "unicorn", "potted plant", "person", "hot dog"]
COLORS = ["red", "blue", "green", "yellow", "purple"]


@st.composite
def raw_specs(draw):
    n = draw(st.integers(0, 4))   # no object: then at least one phrase (a spec names something to check)
    objects = [{"noun": draw(st.sampled_from(NOUNS)),
                "attributes": draw(st.lists(st.sampled_from(COLORS), max_size=2)),
                "count": draw(st.one_of(st.none(), st.integers(0, 6)))} for _ in range(n)]

    def relation():
        r = {"name": draw(st.sampled_from(sorted(KNOWN_RELATIONS))), "subject": draw(st.integers(0, max(n - 1, 0))),
             "object": draw(st.integers(0, max(n - 1, 0)))}
        if r["name"] == "between" or draw(st.booleans()):
            r["object2"] = draw(st.integers(0, max(n - 1, 0)))
        return r

    return {"phrases": draw(st.lists(st.sampled_from(["a red cat", "the dog", "two benches"]), min_size=0 if n else 1,
                                     max_size=3)),
            "objects": objects,
            "relation": relation() if n and draw(st.booleans()) else None,
            "extra_relations": [relation() for _ in range(draw(st.integers(0, 2)))] if n else [],
            "subcategory": draw(st.sampled_from([None, "action", "spatial", "spatialaction", "counting", "position",
                                                 "colors", "single_object"])),
            "exclude": [{"noun": draw(st.sampled_from(NOUNS)), "count": draw(st.integers(0, 4))}
                        for _ in range(draw(st.integers(0, 2)))]}


@st.composite
def evidence(draw, spec):
    w, h = draw(st.integers(1, 1024)), draw(st.integers(1, 1024))

    def box():
        x0, y0 = draw(st.floats(0, w)), draw(st.floats(0, h))
        return [x0, y0, x0 + draw(st.floats(0, w)), y0 + draw(st.floats(0, h))]

    dets = [{"id": i, "label": draw(st.sampled_from(LABELS)), "score": draw(st.floats(0, 1)), "box": box(),
             "mean_hue": draw(st.one_of(st.none(), st.floats(0, 179)))} for i in range(draw(st.integers(0, 8)))]
    nouns = [o.noun for o in spec.objects] + [e.noun for e in spec.exclude]
    classes = {n: draw(st.one_of(st.none(), st.sampled_from(LABELS))) for n in nouns}
    questions = [{"phrase": p, "question": p + "?", "p_yes": draw(st.floats(0, 1))} for p in spec.phrases]
    colors = {str(d["id"]): draw(st.sampled_from(COLORS)) for d in dets}
    means = {str(d["id"]): [draw(st.one_of(st.none(), st.floats(0, 255))), draw(st.one_of(st.none(), st.floats(0, 255)))]
             for d in dets}
    return {"vqa": {"questions": questions}, "depth": {"size": [w, h], "means": means},
            "detect": {"model": "fuzz", "image_size": [w, h], "detections": dets, "classes": classes},
            "clip": {"cosine": draw(st.floats(-1, 1)), "cosine_no_adjectives": draw(st.floats(-1, 1))},
            "color": {"colors": colors}, "judge": judge_evidence(draw, spec),
            "mplug": {"model": "fuzz", "questions": [{"question": q.question, "answer": draw(st.sampled_from(
                ["yes", "no", "Yes", "yes yes", ""])), "p_yes": draw(st.floats(0, 1))} for q in spec.questions]}}


def judge_evidence(draw, spec) -> dict:
    """The judge's record for the spec's questions: each variant's token with a random probability (the variants'
    tokens of one question never add up to more than 1 in a softmax), a random argmax."""
    from eclipse_bench.metrics.judge import answer_variants
    from eclipse_bench.prompts.questions import questions_for

    questions, source = questions_for(spec)
    rows = [("tifa", q.question, q.answer, q.skill) for q in questions] + [("vqascore", "p", "Yes", "prompt")]
    out = []
    for kind, question, answer, skill in rows:
        default, compat = answer_variants(question, answer), answer_variants(question, answer, True)
        variants = list(dict.fromkeys(default + compat))
        ids = {v: draw(st.integers(0, 9)) for v in variants}          # shared ids happen: counted twice
        share = draw(st.floats(0, 1)) / max(len(variants), 1)
        out.append({"kind": kind, "question": question, "answer": answer, "skill": skill, "text": question,
                    "variants": [[v, ids[v]] for v in default], "compat_variants": [[v, ids[v]] for v in compat],
                    "probs": {str(i): share for i in set(ids.values())},
                    "argmax": {"id": 0, "token": draw(st.sampled_from(variants + ["no", " No", "cat"])), "p": share}})
    return {"model": "fuzz", "source": source, "image_size": [64, 64], "questions": out}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_rule_scores_in_range_or_says_why_not(data):
    """Every one of the 300 examples is a valid spec (the strategy makes only those, and validation must take it)."""
    spec = check_spec(Path("fuzz.jsonl"), 1, data.draw(raw_specs()))
    ev = data.draw(evidence(spec))
    for name in METRICS.names():
        m = METRICS.get(name)
        rule = m.rule_fn()
        for compat in (False, True):
            v = rule({p: ev[p] for p in m.providers}, spec, reference_compat=compat)
            if v.score is None:
                assert v.reason, f"{name}: unscorable without a reason"
            else:
                lo = -1.0 if name in ("clip-score", "three-in-one") else 0.0  # a cosine can be negative
                assert lo <= v.score <= 1.0 + 1e-9 and not math.isnan(v.score), (name, v)


@pytest.mark.parametrize("name", sorted(m for m in METRICS.names()))
def test_an_empty_spec_is_never_a_perfect_score(name):
    from eclipse_bench.prompts.spec import Spec

    m = METRICS.get(name)
    ev = {"vqa": {"questions": []}, "depth": {"size": [64, 64], "means": {}},
          "detect": {"model": "t", "image_size": [64, 64], "detections": [], "classes": {}},
          "clip": {"cosine": 0.3, "cosine_no_adjectives": 0.3}, "color": {"colors": {}},
          "judge": {"source": "", "questions": [{"kind": "vqascore", "question": "p", "answer": "Yes", "skill": "prompt",
                                                 "text": "p", "variants": [["Yes", 1]], "probs": {"1": 0.9},
                                                 "argmax": {"id": 1, "token": "Yes", "p": 0.9}}]},
          "mplug": {"model": "t", "questions": []}}
    v = m.rule_fn()({p: ev[p] for p in m.providers}, Spec())
    # a CLIPScore and a VQAScore judge the prompt's text itself, whatever its spec
    assert v.score is None or name in ("clip-score", "vqascore"), (name, v)


def test_unknown_relation_is_refused_by_validation_and_unscorable_in_rules():
    from eclipse_bench.metrics.geneval import geneval
    from eclipse_bench.metrics.hrs_relations import hrs_relations
    from eclipse_bench.metrics.t2i_spatial import t2i_spatial
    from eclipse_bench.prompts.spec import ObjectSpec, Relation, Spec

    with pytest.raises(UserError, match="not a relation any metric checks"):
        check_spec(Path("s.jsonl"), 3, {"objects": [{"noun": "cat"}, {"noun": "dog"}],
                                         "relation": {"name": "inside", "subject": 0, "object": 1}})
    with pytest.raises(UserError, match="object2 must index"):
        check_spec(Path("s.jsonl"), 3, {"objects": [{"noun": "cat"}, {"noun": "dog"}],
                                         "relation": {"name": "between", "subject": 0, "object": 1}})
    spec = Spec(objects=(ObjectSpec("cat"), ObjectSpec("dog")), relation=Relation("inside", 0, 1))
    ev = {"detect": {"model": "t", "image_size": [64, 64], "detections": [], "classes": {"cat": "cat", "dog": "dog"}}}
    for rule in (t2i_spatial, hrs_relations, geneval):
        assert rule({**ev, "color": {"colors": {}}}, spec).score is None
