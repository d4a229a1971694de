"""Every rule on hand-computed evidence, branch by branch (no models)."""

from __future__ import annotations

import pytest

import importlib
from types import SimpleNamespace

# every rule and helper by name, from the metric modules that define them
rules = SimpleNamespace(**{k: v for m in ("base", "blip_vqa", "t2i_spatial", "t2i_numeracy", "clip_score",
                                          "three_in_one", "hrs_counting", "hrs_relations", "hrs_color", "geneval")
                           for k, v in vars(importlib.import_module(f"eclipse_bench.metrics.{m}")).items()
                           if not k.startswith("__")})
from eclipse_bench.metrics.vocab import to_class
from eclipse_bench.prompts.spec import Exclusion, ObjectSpec, Relation, Spec


def D(label, score, box, **kw):
    return {"label": label, "score": score, "box": list(box), **kw}


def detect(dets, nouns, size=(479, 479)):
    """Detection evidence; the default image size makes the T2I resize a no-op (scale 1)."""
    for i, d in enumerate(dets):
        d.setdefault("id", i)
    return {"detect": {"model": "test", "image_size": list(size), "detections": dets,
                       "classes": {n: to_class(n) for n in nouns}}}


def spatial_spec(a, b, rel):
    return Spec(objects=(ObjectSpec(a), ObjectSpec(b)), relation=Relation(rel, 0, 1))


# -- T2I-CompBench spatial ---------------------------------------------------------------------------

LEFT_BOX, RIGHT_BOX = (0, 100, 100, 200), (300, 100, 400, 200)   # far apart horizontally, no overlap
TOP_BOX, BOTTOM_BOX = (100, 0, 200, 100), (100, 300, 200, 400)


@pytest.mark.parametrize("rel, b1, b2, expected_rel", [
    ("on the left of", LEFT_BOX, RIGHT_BOX, 1.0),
    ("on the left of", RIGHT_BOX, LEFT_BOX, 0.0),
    ("on the right of", RIGHT_BOX, LEFT_BOX, 1.0),
    ("on the right of", LEFT_BOX, RIGHT_BOX, 0.0),
    ("on the top of", TOP_BOX, BOTTOM_BOX, 1.0),
    ("on the top of", BOTTOM_BOX, TOP_BOX, 0.0),
    ("on the bottom of", BOTTOM_BOX, TOP_BOX, 1.0),
    ("on the bottom of", TOP_BOX, BOTTOM_BOX, 0.0),
    ("on top of", TOP_BOX, BOTTOM_BOX, 1.0),               # intended: like 'on the top of'
    ("on the left of", (0, 0, 100, 100), (50, 250, 150, 350), 0.0),  # dx 50 > 0 but |dy| 250 > |dx|: fails
])
def test_t2i_spatial_directions(rel, b1, b2, expected_rel):
    ev = detect([D("cat", 0.9, b1), D("dog", 0.8, b2)], ["cat", "dog"])
    v = rules.t2i_spatial(ev, spatial_spec("cat", "dog", rel))
    expected = 0.25 * 0.9 + 0.25 * 0.8 + 0.5 * expected_rel
    assert v.score == pytest.approx(expected if expected >= 0.5 else 0.0)


def test_on_top_of_is_zero_in_reference_compat():
    ev = detect([D("cat", 0.9, TOP_BOX), D("dog", 0.8, BOTTOM_BOX)], ["cat", "dog"])
    spec = spatial_spec("cat", "dog", "on top of")
    assert rules.t2i_spatial(ev, spec).score == pytest.approx(0.925)
    compat = rules.t2i_spatial(ev, spec, reference_compat=True)
    assert compat.score == 0.0 and "no branch in the reference" in compat.reason


def test_iou_penalty():
    b1, b2 = (0, 0, 200, 100), (100, 0, 300, 100)  # dx = 100 > 0, dy = 0; IoU = 100*100 / 30000 = 1/3
    ev = detect([D("cat", 1.0, b1), D("dog", 1.0, b2)], ["cat", "dog"])
    v = rules.t2i_spatial(ev, spatial_spec("cat", "dog", "on the left of"))
    assert v.score == pytest.approx(0.5 + 0.5 * (0.1 / (1 / 3)))
    rel, _ = rules.spatial_relation_score("on the left of", b1, b2)
    assert rel == pytest.approx(0.3)


@pytest.mark.parametrize("rel", ["next to", "near", "on side of"])
def test_near_relations(rel):
    close = detect([D("cat", 1.0, (0, 0, 10, 10)), D("dog", 1.0, (100, 300, 110, 310))], ["cat", "dog"])
    assert rules.t2i_spatial(close, spatial_spec("cat", "dog", rel)).score == pytest.approx(1.0)  # |dx| = 100 < 150
    far = detect([D("cat", 1.0, (0, 0, 10, 10)), D("dog", 1.0, (300, 200, 310, 210))], ["cat", "dog"])
    # dx = 300, dy = 200: both >= 150 -> 150 / 300
    assert rules.t2i_spatial(far, spatial_spec("cat", "dog", rel)).score == pytest.approx(0.5 + 0.5 * 0.5)


def test_floor_at_half_and_one_object_found():
    one = detect([D("cat", 0.9, LEFT_BOX)], ["cat", "dog"])
    v = rules.t2i_spatial(one, spatial_spec("cat", "dog", "on the left of"))
    assert v.score == 0.0 and "only cat found" in v.reason and "< 0.5 -> 0" in v.reason
    wrong_way = detect([D("cat", 0.9, RIGHT_BOX), D("dog", 0.9, LEFT_BOX)], ["cat", "dog"])
    assert rules.t2i_spatial(wrong_way, spatial_spec("cat", "dog", "on the left of")).score == 0.0  # 0.45 < 0.5
    none = detect([], ["cat", "dog"])
    assert rules.t2i_spatial(none, spatial_spec("cat", "dog", "on the left of")).score == 0.0


def test_detection_threshold_and_best_box():
    ev = detect([D("cat", 0.49, LEFT_BOX), D("cat", 0.7, RIGHT_BOX), D("cat", 0.6, LEFT_BOX),
                 D("dog", 0.9, (600, 100, 700, 200))], ["cat", "dog"], size=(800, 479))
    # the most confident cat (0.7, at x 300-400) is used; it is left of the dog
    v = rules.t2i_spatial(ev, spatial_spec("cat", "dog", "on the left of"))
    assert v.score == pytest.approx(0.25 * 0.7 + 0.25 * 0.9 + 0.5)


def test_geometry_uses_the_479_480_resize():
    assert rules._resize_scale(512, 512) == pytest.approx(479 / 512)
    assert rules._resize_scale(1024, 512) == pytest.approx(480 / 1024)  # long side capped at 480
    # the 150 px of 'near' are resized pixels: centres 280 px apart in a 958 px image are 140 px apart
    ev = detect([D("cat", 1.0, (0, 0, 10, 10)), D("dog", 1.0, (280, 280, 290, 290))], ["cat", "dog"], size=(958, 958))
    assert rules.t2i_spatial(ev, spatial_spec("cat", "dog", "near")).score == pytest.approx(1.0)
    ev = detect([D("cat", 1.0, (0, 0, 10, 10)), D("dog", 1.0, (320, 320, 330, 330))], ["cat", "dog"], size=(958, 958))
    assert rules.t2i_spatial(ev, spatial_spec("cat", "dog", "near")).score == pytest.approx(0.5 + 0.5 * 150 / 160)


@pytest.mark.parametrize("noun", ["girl", "boy", "man", "woman"])
def test_person_aliases(noun):
    ev = detect([D("person", 0.9, LEFT_BOX), D("dog", 0.9, RIGHT_BOX)], [noun, "dog"])
    assert rules.t2i_spatial(ev, spatial_spec(noun, "dog", "on the left of")).score == pytest.approx(0.95)


def test_object_outside_the_vocabulary_is_unscorable_not_zero():
    ev = detect([D("cat", 0.9, LEFT_BOX)], ["cat", "pig"])
    v = rules.t2i_spatial(ev, spatial_spec("cat", "pig", "on the left of"))
    assert v.score is None and "'pig' is not in the detector's vocabulary" in v.reason


# -- numeracy ------------------------------------------------------------------------------------------

def test_numeracy_counts_and_duplicates():
    spec = Spec(objects=(ObjectSpec("cats", count=2), ObjectSpec("dog", count=1)))
    dets = [D("cat", 0.9, (0, 0, 100, 100)), D("cat", 0.8, (1, 1, 100, 100)),  # duplicate: IoU > 0.9
            D("cat", 0.8, (200, 0, 300, 100)), D("dog", 0.1, (0, 200, 50, 250))]  # dog not > 0.1
    v = rules.t2i_numeracy(detect(dets, ["cats", "dog"]), spec)
    assert v.score == pytest.approx(0.5)  # cats: present + exact (0.5); dog: absent (0)
    too_many = [D("cat", 0.9, (i * 110, 0, i * 110 + 100, 100)) for i in range(3)] + [D("dog", 0.9, (0, 200, 50, 250))]
    assert rules.t2i_numeracy(detect(too_many, ["cats", "dog"]), spec).score == pytest.approx(0.25 + 0.5)
    contained = [D("cat", 0.9, (0, 0, 100, 100)), D("cat", 0.8, (10, 10, 60, 60))]  # containment 1.0 > 0.9
    one = Spec(objects=(ObjectSpec("cat", count=1),))
    assert rules.t2i_numeracy(detect(contained, ["cat"]), one).score == 1.0


# -- CLIPScore, 3-in-1 ---------------------------------------------------------------------------------

def test_clip_score_is_raw_cosine():
    assert rules.clip_score({"clip": {"cosine": 0.3123, "cosine_no_adjectives": 0.3}}, Spec()).score == 0.3123


@pytest.mark.parametrize("part, expected", [
    ("spatial", (0.5 + 0.95) / 2), ("action", (0.5 + 0.3) / 2), ("spatialaction", (0.5 + 0.95 + 0.3) / 3)])
def test_three_in_one_by_subcategory(part, expected):
    ev = detect([D("cat", 0.9, LEFT_BOX), D("dog", 0.9, RIGHT_BOX)], ["cat", "dog"])
    ev["vqa"] = {"questions": [{"phrase": "a cat", "question": "a cat?", "p_yes": 0.5}]}
    ev["clip"] = {"cosine": 0.9, "cosine_no_adjectives": 0.3}
    spec = Spec(phrases=("a cat",), objects=(ObjectSpec("cat"), ObjectSpec("dog")),
                relation=Relation("on the left of", 0, 1), subcategory=part)
    assert rules.three_in_one(ev, spec).score == pytest.approx(expected)


# -- HRS-Bench -----------------------------------------------------------------------------------------

def test_hrs_counting_both_ways_and_merging():
    spec = Spec(objects=(ObjectSpec("cat", count=2), ObjectSpec("dog", count=3)))
    dets = [D("cat", 0.9, (0, 0, 10, 10)), D("cat", 0.9, (0.4, 0.2, 10.3, 10.1)),  # same integer box: merged
            D("cat", 0.9, (20, 0, 30, 10)), D("cat", 0.6, (40, 0, 50, 10)),  # 3 cats: one too many
            D("dog", 0.9, (0, 20, 10, 30)), D("dog", 0.4, (20, 20, 30, 30))]  # 1 dog over 0.5: two missing
    v = rules.hrs_counting(detect(dets, ["cat", "dog"]), spec)
    assert v.details == {"tp": 3, "fp": 1, "fn": 2}
    assert v.score == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))


@pytest.mark.parametrize("name, b1, b2, holds", [
    ("right", (50, 0, 100, 10), (0, 0, 90, 10), True), ("right", (0, 0, 90, 10), (50, 0, 100, 10), False),
    ("left", (0, 0, 90, 10), (50, 0, 100, 10), True), ("left", (50, 0, 100, 10), (0, 0, 90, 10), False),
    ("above", (0, 0, 10, 50), (0, 10, 10, 40), True),    # ymin1 < ymin2
    ("above", (0, 20, 10, 30), (0, 10, 10, 40), True),   # ymax1 < ymax2 only
    ("above", (0, 20, 10, 50), (0, 10, 10, 40), False),
    ("below", (0, 20, 10, 50), (0, 10, 10, 40), True), ("below", (0, 0, 10, 10), (0, 10, 10, 40), False),
    ("bigger", (0, 0, 20, 20), (0, 0, 10, 10), True), ("bigger", (0, 0, 10, 10), (0, 0, 20, 20), False),
    ("smaller", (0, 0, 10, 10), (0, 0, 20, 20), True), ("smaller", (0, 0, 20, 20), (0, 0, 10, 10), False),
])
def test_hrs_relations(name, b1, b2, holds):
    assert rules.hrs_relation_holds(name, b1, b2) is holds


def test_hrs_between_and_all_relations_must_hold():
    b_mid, b_l, b_r = (40, 0, 60, 10), (0, 0, 10, 10), (90, 0, 100, 10)
    assert rules.hrs_relation_holds("between", b_mid, b_l, b_r)
    assert rules.hrs_relation_holds("between", (40, 40, 60, 60), (0, 0, 10, 10), (0, 90, 10, 100))  # vertically
    assert not rules.hrs_relation_holds("between", (200, 200, 210, 210), b_l, b_r)
    spec = Spec(objects=(ObjectSpec("cat"), ObjectSpec("dog"), ObjectSpec("horse")),
                relation=Relation("left", 0, 1), extra_relations=(Relation("above", 0, 2),))
    ok = detect([D("cat", 0.9, (0, 0, 10, 10)), D("dog", 0.9, (50, 0, 60, 10)), D("horse", 0.9, (0, 50, 10, 60))],
                ["cat", "dog", "horse"])
    assert rules.hrs_relations(ok, spec).score == 1.0
    bad = detect([D("cat", 0.9, (0, 0, 10, 10)), D("dog", 0.9, (50, 0, 60, 10)), D("horse", 0.9, (0, 0, 10, 5))],
                 ["cat", "dog", "horse"])
    assert rules.hrs_relations(bad, spec).score == 0.0
    missing = detect([D("cat", 0.9, (0, 0, 10, 10))], ["cat", "dog", "horse"])
    assert rules.hrs_relations(missing, spec).reason.startswith("not found: dog, horse")


def test_hrs_hard_level_in_reference_compat():
    spec = Spec(objects=tuple(ObjectSpec(n) for n in ("cat", "dog", "horse", "cow")),
                relation=Relation("left", 0, 2), extra_relations=(Relation("left", 1, 2),))
    dets = [D("cat", 0.9, (0, 0, 10, 10)), D("dog", 0.9, (0, 20, 10, 30)), D("horse", 0.9, (50, 0, 60, 10)),
            D("cow", 0.9, (50, 50, 60, 60))]
    ev = detect(dets, ["cat", "dog", "horse", "cow"])
    assert rules.hrs_relations(ev, spec).score == 1.0
    assert rules.hrs_relations(ev, spec, reference_compat=True).score is None


def test_hrs_uses_the_last_detection_of_a_class():
    spec = Spec(objects=(ObjectSpec("cat"), ObjectSpec("dog")), relation=Relation("left", 0, 1))
    dets = [D("cat", 0.9, (80, 0, 90, 10)), D("cat", 0.6, (0, 0, 10, 10)), D("dog", 0.9, (50, 0, 60, 10))]
    assert rules.hrs_relations(detect(dets, ["cat", "dog"]), spec).score == 1.0


@pytest.mark.parametrize("hue, color", [(0, "red"), (14.99, "red"), (15, "orange"), (21.9, "orange"), (22, "yellow"),
                                        (38.9, "yellow"), (39, "green"), (77.9, "green"), (78, "blue"),
                                        (130.9, "blue"), (131, "red"), (179, "red")])
def test_hue_bin_edges(hue, color):
    assert rules.hue_color(hue) == color


def test_hrs_color_any_mask_of_the_class():
    spec = Spec(objects=(ObjectSpec("cat", ("red",)), ObjectSpec("dog", ("blue",))))
    dets = [D("cat", 0.9, (0, 0, 1, 1), mean_hue=60.0), D("cat", 0.8, (2, 2, 3, 3), mean_hue=5.0),
            D("dog", 0.9, (4, 4, 5, 5), mean_hue=60.0)]
    v = rules.hrs_color(detect(dets, ["cat", "dog"]), spec)
    assert v.score == 0.5 and v.details == {"correct": 1, "objects": 2}


# -- GenEval -------------------------------------------------------------------------------------------

def test_geneval_position_shrinkage():
    # A's centre is 15 px right of B's; summed widths 100 -> shrink 10: revised dx 5, normalised 5/15 < 0.5
    assert rules.geneval_relations((65, 0, 115, 50), (50, 0, 100, 50)) == set()
    # 60 px right: revised 50, /60 = 0.83 > 0.5
    assert rules.geneval_relations((110, 0, 160, 50), (50, 0, 100, 50)) == {"right of"}
    assert rules.geneval_relations((0, 0, 50, 50), (100, 0, 150, 50)) == {"left of"}
    assert rules.geneval_relations((0, 0, 50, 50), (0, 100, 50, 150)) == {"above"}
    assert rules.geneval_relations((0, 100, 50, 150), (0, 0, 50, 50)) == {"below"}
    assert rules.geneval_relations((0, 0, 50, 50), (0, 0, 50, 50)) == set()  # identical: no relation
    assert rules.geneval_relations((0, 0, 10, 10), (100, 100, 110, 110)) == {"left of", "above"}  # diagonal


def _geneval_spec(tag, objects, relation=None, exclude=()):
    return Spec(objects=tuple(objects), relation=relation, exclude=tuple(exclude), subcategory=tag)


def test_geneval_counting_thresholds_and_exclude():
    spec = _geneval_spec("counting", [ObjectSpec("clock", count=2)], exclude=[Exclusion("clock", 3)])
    two = detect([D("clock", 0.95, (0, 0, 1, 1)), D("clock", 0.92, (2, 2, 3, 3)), D("clock", 0.5, (4, 4, 5, 5))],
                 ["clock"])
    assert rules.geneval(two, spec).score == 1.0  # the 0.5 one is under the counting threshold 0.9
    three = detect([D("clock", 0.95, (0, 0, 1, 1)), D("clock", 0.92, (2, 2, 3, 3)), D("clock", 0.91, (4, 4, 5, 5))],
                   ["clock"])
    v = rules.geneval(three, spec)
    assert v.score == 0.0 and "expected clock < 3, found 3" in v.reason
    one = detect([D("clock", 0.95, (0, 0, 1, 1))], ["clock"])
    assert "expected clock >= 2, found 1" in rules.geneval(one, spec).reason
    # other tags use 0.3
    single = _geneval_spec("single_object", [ObjectSpec("clock", count=1)])
    assert rules.geneval(detect([D("clock", 0.31, (0, 0, 1, 1))], ["clock"]), single).score == 1.0
    assert rules.geneval(detect([D("clock", 0.29, (0, 0, 1, 1))], ["clock"]), single).score == 0.0


def test_geneval_color_and_position():
    color = _geneval_spec("colors", [ObjectSpec("car", ("blue",), 1)])
    ev = detect([D("car", 0.9, (0, 0, 1, 1))], ["car"])
    ev["color"] = {"colors": {"0": "blue"}}
    assert rules.geneval(ev, color).score == 1.0
    ev["color"] = {"colors": {"0": "red"}}
    assert rules.geneval(ev, color).score == 0.0
    pos = _geneval_spec("position", [ObjectSpec("teddy bear", count=1), ObjectSpec("dog", count=1)],
                        relation=Relation("right of", 1, 0))
    right = detect([D("teddy bear", 0.9, (0, 0, 50, 50)), D("dog", 0.9, (200, 0, 250, 50))], ["teddy bear", "dog"])
    assert rules.geneval(right, pos).score == 1.0
    left = detect([D("teddy bear", 0.9, (200, 0, 250, 50)), D("dog", 0.9, (0, 0, 50, 50))], ["teddy bear", "dog"])
    assert rules.geneval(left, pos).score == 0.0
    no_target = detect([D("dog", 0.9, (0, 0, 50, 50))], ["teddy bear", "dog"])
    assert "no target" in rules.geneval(no_target, pos).reason
