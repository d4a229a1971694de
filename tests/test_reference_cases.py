"""Hand-derived cases from shared/reference/metrics.md (Nov 2026 edition), one table per corrected fact.

Each expected value is worked out from the text of the reference rules, not from our code.
"""

from __future__ import annotations

import pytest

from eclipse_bench.metrics.geneval import geneval
from eclipse_bench.metrics.hrs_color import hrs_color
from eclipse_bench.metrics.hrs_counting import hrs_counting
from eclipse_bench.metrics.hrs_relations import hrs_relation_holds, hrs_relations
from eclipse_bench.metrics.t2i_numeracy import t2i_numeracy
from eclipse_bench.metrics.t2i_spatial import t2i_spatial
from eclipse_bench.metrics.three_in_one import three_in_one
from eclipse_bench.metrics.aggregate import LEVEL_ACCURACY, LEVEL_F1, LEVEL_OBJECT_ACCURACY, summarise
from eclipse_bench.metrics.vocab import to_class
from eclipse_bench.prompts.spec import Exclusion, ObjectSpec, Relation, Spec


def D(label, score, box, **kw):
    return {"label": label, "score": score, "box": list(box), **kw}


def ev(dets, nouns, size=(479, 479)):
    for i, d in enumerate(dets):
        d.setdefault("id", i)
    return {"detect": {"model": "test", "image_size": list(size), "detections": dets,
                       "classes": {n: to_class(n) for n in nouns}}}


# -- T2I-CompBench: detector threshold 0.1 (score > 0.1) ---------------------------------------------------

CAT, DOG = (0, 100, 100, 200), (300, 100, 400, 200)   # cat left of dog, no overlap: relation score 1


@pytest.mark.parametrize("s_cat, s_dog, expected", [
    (0.9, 0.9, 0.25 * 0.9 + 0.25 * 0.9 + 0.5),   # both found
    (0.11, 0.11, 0.25 * 0.11 * 2 + 0.5),         # 0.555 >= 0.5: kept (was dropped under a 0.5 threshold)
    (0.1, 0.9, 0.0),                             # cat not > 0.1: only the dog, 0.225 < 0.5 -> 0
    (0.05, 0.05, 0.0),
])
def test_t2i_spatial_threshold(s_cat, s_dog, expected):
    spec = Spec(objects=(ObjectSpec("cat"), ObjectSpec("dog")), relation=Relation("on the left of", 0, 1))
    v = t2i_spatial(ev([D("cat", s_cat, CAT), D("dog", s_dog, DOG)], ["cat", "dog"]), spec)
    assert v.score == pytest.approx(expected)


@pytest.mark.parametrize("scores, expected", [
    ((0.2, 0.15), 1.0),       # two cats > 0.1, far apart: present + exact count
    ((0.2, 0.1), 0.5),        # the second is not > 0.1: present, count 1 != 2
    ((0.09, 0.05), 0.0),
])
def test_t2i_numeracy_threshold(scores, expected):
    spec = Spec(objects=(ObjectSpec("cat", count=2),))
    dets = [D("cat", scores[0], (0, 0, 50, 50)), D("cat", scores[1], (200, 0, 250, 50))]
    assert t2i_numeracy(ev(dets, ["cat"]), spec).score == pytest.approx(expected)


def test_t2i_numeracy_duplicates_use_plus_one_pixel():
    # boxes (0,0,9,9) and (1,0,10,9): with +1 px areas are 100 each, intersection 9*10 = 90, IoU 90/110 = 0.82;
    # covered share 90/100 = 0.9, not > 0.9: two cats. Shift by 0.5 px: intersection 95 -> share 0.95 > 0.9: one.
    spec = Spec(objects=(ObjectSpec("cat", count=2),))
    two = [D("cat", 0.9, (0, 0, 9, 9)), D("cat", 0.8, (1, 0, 10, 9))]
    assert t2i_numeracy(ev(two, ["cat"]), spec).score == 1.0
    one = [D("cat", 0.9, (0, 0, 9, 9)), D("cat", 0.8, (0.5, 0, 9.5, 9))]
    assert t2i_numeracy(ev(one, ["cat"]), spec).score == 0.5


def test_t2i_numeracy_hot_dog_quirk_only_in_compat():
    spec = Spec(objects=(ObjectSpec("dog", count=1),))
    dets = [D("hot dog", 0.9, (0, 0, 50, 50))]
    assert t2i_numeracy(ev(dets, ["dog"]), spec).score == 0.0
    assert t2i_numeracy(ev(dets, ["dog"]), spec, reference_compat=True).score == 1.0


def test_complex_without_two_objects_scores_zero_spatial_part():
    spec = Spec(phrases=("the bird",), subcategory="spatial")
    e = {"vqa": {"questions": [{"phrase": "the bird", "question": "the bird?", "p_yes": 0.8}]}, **ev([], [])}
    v = three_in_one(e, spec)
    assert v.score == pytest.approx((0.8 + 0.0) / 2)


# -- HRS-Bench ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("b1, b2, b3, holds", [
    # centres between, edges not: b1 (40..60) vs b2 (0..70): xmax1 60 > xmax2 70 fails, xmin1 40 < xmin2 0 fails;
    # vertically equal boxes: above/below fail -> not between (a centre rule would say yes)
    ((40, 0, 60, 10), (0, 0, 70, 10), (50, 0, 100, 10), False),
    # right of b2 (xmax 60 > 10) and left of b3 (xmin 40 < 90): between
    ((40, 0, 60, 10), (0, 0, 10, 10), (90, 0, 100, 10), True),
    # edges say between, centres do not: b1 centre x 75 is not between 5 and 55 ... but xmax1 100 > xmax2 10 and
    # xmin1 50 < xmin2 51
    ((50, 0, 100, 10), (0, 0, 10, 10), (51, 0, 59, 10), True),
    # below b2 (ymin 50 > 0) and above b3 (ymin 50 < 60): between vertically
    ((0, 50, 10, 60), (0, 0, 10, 10), (0, 60, 10, 70), True),
])
def test_hrs_between_from_edges(b1, b2, b3, holds):
    assert hrs_relation_holds("between", b1, b2, b3) is holds


def test_hrs_counting_class_named_twice():
    spec = Spec(objects=(ObjectSpec("potted plant", count=3), ObjectSpec("potted plant", count=2)))
    dets = [D("potted plant", 0.9, (i * 20, 0, i * 20 + 10, 10)) for i in range(5)]
    v = hrs_counting(ev(dets, ["potted plant"]), spec)
    assert v.details == {"tp": 5, "fp": 0, "fn": 0} and v.score == 1.0     # 3 + 2 = 5 wanted, 5 found
    compat = hrs_counting(ev(dets, ["potted plant"]), spec, reference_compat=True)
    assert compat.details == {"tp": 2, "fp": 3, "fn": 0}                     # the dict keeps the last count, 2


def test_hrs_threshold_and_merge():
    spec = Spec(objects=(ObjectSpec("cat", count=2),))
    dets = [D("cat", 0.5, (0, 0, 10, 10)),            # not > 0.5
            D("cat", 0.9, (20, 0, 30, 10)), D("dog", 0.8, (20.4, 0.3, 30.2, 10.1))]  # same integer box: dog dropped
    v = hrs_counting(ev(dets, ["cat"]), spec)
    assert v.details == {"tp": 1, "fp": 0, "fn": 1}


def test_hrs_color_mask_threshold_and_nan_hue():
    spec = Spec(objects=(ObjectSpec("cat", ("red",)),))
    at_threshold = [D("cat", 0.5, (0, 0, 10, 10), mean_hue=5.0)]           # masks: score >= 0.5 kept
    assert hrs_color(ev(at_threshold, ["cat"]), spec).score == 1.0
    no_hue = [D("cat", 0.9, (0, 0, 10, 10), mean_hue=None)]                 # NaN mean hue
    assert hrs_color(ev(no_hue, ["cat"]), spec).score == 0.0
    assert hrs_color(ev(no_hue, ["cat"]), spec, reference_compat=True).score == 1.0   # NaN falls to red


def test_hrs_size_hard_is_scored_in_compat_spatial_hard_is_not():
    objs = tuple(ObjectSpec(n) for n in ("cat", "dog", "horse", "cow"))
    dets = [D("cat", 0.9, (0, 0, 100, 100)), D("dog", 0.9, (200, 0, 210, 10)), D("horse", 0.9, (300, 0, 310, 10)),
            D("cow", 0.9, (400, 0, 500, 200))]
    size = Spec(objects=objs, relation=Relation("bigger", 0, 1),
                extra_relations=(Relation("bigger", 0, 2), Relation("smaller", 0, 3)))
    assert hrs_relations(ev(dets, ["cat", "dog", "horse", "cow"]), size, reference_compat=True).score == 1.0
    spatial = Spec(objects=objs, relation=Relation("left", 0, 2), extra_relations=(Relation("left", 1, 3),))
    assert hrs_relations(ev(dets, ["cat", "dog", "horse", "cow"]), spatial, reference_compat=True).score is None


def _rows(level_scores, stats):
    rows = []
    for level, values in level_scores.items():
        for i, v in enumerate(values):
            rows.append({"prompt_id": f"{level}-{i}", "level": level, "n": 0, "score": 1.0, "details": stats(v)})
    return rows


def test_hrs_headline_is_the_mean_of_level_values():
    # counting: easy TP 8 FN 2 (F1 = 16/18), medium TP 3 FN 7 (6/13), hard TP 0 FP 5 FN 10 (0)
    tpfpfn = lambda t: {"tp": t[0], "fp": t[1], "fn": t[2]}  # noqa: E731
    rows = _rows({"easy": [(4, 0, 1), (4, 0, 1)], "medium": [(3, 0, 7)], "hard": [(0, 5, 10)]}, tpfpfn)
    out = summarise(rows, LEVEL_F1, n_resamples=10)
    assert out["score"] == pytest.approx(100 * (16 / 18 + 6 / 13 + 0) / 3)
    assert out["pooled"] == pytest.approx(100 * 2 * 11 / (2 * 11 + 5 + 19))  # pooled: TP 11, FP 5, FN 19
    assert out["by_level"]["medium"] == pytest.approx(100 * 6 / 13)


def test_hrs_accuracy_mean_over_levels_and_image_sets():
    rows = [{"prompt_id": "a", "level": "easy", "n": 0, "score": 1.0, "details": {}},
            {"prompt_id": "a", "level": "easy", "n": 1, "score": 0.0, "details": {}},
            {"prompt_id": "b", "level": "easy", "n": 0, "score": 1.0, "details": {}},
            {"prompt_id": "b", "level": "easy", "n": 1, "score": 1.0, "details": {}},
            {"prompt_id": "c", "level": "hard", "n": 0, "score": 0.0, "details": {}}]
    # easy image set 0: 100, set 1: 50; hard set 0: 0 -> mean of the three cells
    assert summarise(rows, LEVEL_ACCURACY, n_resamples=10)["score"] == pytest.approx((100 + 50 + 0) / 3)
    obj = [dict(r, details={"correct": 1 if r["score"] else 0, "objects": 1}) for r in rows]
    assert summarise(obj, LEVEL_OBJECT_ACCURACY, n_resamples=10)["score"] == pytest.approx(50.0)


def test_hrs_reference_image_offset(official_data):
    from eclipse_bench.prompts.suites.hrs import reference_image

    # counting has 3000 prompts: thirds of 1000; medium local index i reads image i + int(1000 / 3) = i + 333
    assert reference_image("counting-0005", 2) == ("counting-0005", 2)
    assert reference_image("counting-1000", 0) == ("counting-0333", 0)
    assert reference_image("counting-2999", 1) == ("counting-1665", 1)     # hard: 999 + 2 * 333
    assert reference_image("spatial-0334", 0) == ("spatial-0111", 0)     # 1002 rows: thirds of 334, +111
    assert reference_image("color-0400", 0) == ("color-0400", 0)
    assert isinstance(reference_image("color-0400", 1), str)              # colour: image 00 only


# -- GenEval: thresholds > 0.3 and > 0.9 (counting), count 0 ------------------------------------------------

@pytest.mark.parametrize("tag, score, correct", [
    ("single_object", 0.3, False), ("single_object", 0.31, True),
    ("counting", 0.9, False), ("counting", 0.91, True),
])
def test_geneval_thresholds(tag, score, correct):
    spec = Spec(objects=(ObjectSpec("cat", count=1),), subcategory=tag)
    e = {**ev([D("cat", score, (0, 0, 10, 10))], ["cat"]), "color": {"colors": {}}}
    assert geneval(e, spec).score == (1.0 if correct else 0.0)


def test_geneval_exclude_count_is_honoured():
    spec = Spec(objects=(ObjectSpec("cat", count=2),), exclude=(Exclusion("cat", 3),), subcategory="counting")
    two = {**ev([D("cat", 0.95, (0, 0, 10, 10)), D("cat", 0.95, (50, 0, 60, 10))], ["cat"]), "color": {"colors": {}}}
    assert geneval(two, spec).score == 1.0
    three = {**ev([D("cat", 0.95, (i * 50, 0, i * 50 + 10, 10)) for i in range(3)], ["cat"]), "color": {"colors": {}}}
    assert geneval(three, spec).score == 0.0


def test_geneval_include_count_zero_means_absent():
    spec = Spec(objects=(ObjectSpec("cat", count=0),), subcategory="counting")
    none = {**ev([], ["cat"]), "color": {"colors": {}}}
    assert geneval(none, spec).score == 1.0
    one = {**ev([D("cat", 0.95, (0, 0, 10, 10))], ["cat"]), "color": {"colors": {}}}
    assert geneval(one, spec).score == 0.0


def test_score_run_applies_the_hrs_level_offset_only_in_compat(official_data, tmp_path):
    import json

    from eclipse_bench.bench.app.scoring import score_samples, summarise_rows
    from eclipse_bench.bench.core.keys import PlannedSample
    from eclipse_bench.metrics.registry import METRICS
    from eclipse_bench.prompts.spec import Item

    spec = Spec(objects=(ObjectSpec("cat", count=2),))
    two_cats = ev([D("cat", 0.9, (0, 0, 10, 10)), D("cat", 0.9, (50, 0, 60, 10))], ["cat"])["detect"]
    no_cat = ev([], ["cat"])["detect"]
    samples, records = [], []
    for pid, level, det in (("counting-0333", "easy", two_cats), ("counting-1000", "medium", no_cat)):
        samples.append(PlannedSample(pid, Item(pid, "two cats", "counting", spec, level), 0, 42, f"{pid}.png",
                                     evidence_keys={"detect": f"e-{pid}"}))
        records.append({"key": f"e-{pid}", "sample": pid, "evidence": det})
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "detect.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    from eclipse_bench.bench.core.schema import Manifest, MetricInfo, SuiteInfo

    manifest = Manifest(pairing={"name": "x"}, suite=SuiteInfo("hrs/counting", "test", "h", 2),
                        metric=MetricInfo("hrs-counting", "2", "tiny", {}), settings={"images_per_prompt": 1, "seed": 42})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest.to_json()))
    metric = METRICS.get("hrs-counting")
    hrs_images = "eclipse_bench.prompts.suites.hrs:reference_image"   # what the HRS suites name (Suite.reference_images)

    def by_level(compat, reference_images):
        rows = score_samples(tmp_path, samples, metric, compat, reference_images)
        return summarise_rows(rows, [s.item for s in samples], metric, manifest, compat, {}).by_level

    assert by_level(False, hrs_images) == {"easy": 100.0, "medium": 0.0}
    assert by_level(True, hrs_images) == {"easy": 100.0, "medium": 100.0}   # medium prompt 1000 reads image 0333
    # the same ids in a suite that is not HRS-Bench (a user file with ids like counting-1000): never remapped
    assert by_level(True, None) == {"easy": 100.0, "medium": 0.0}


def test_hrs_suites_name_their_reference_images_and_user_suites_do_not(official_data, tmp_path):
    import json

    from eclipse_bench.prompts.load import load_suite

    assert load_suite("hrs/counting").reference_images.endswith("hrs:reference_image")
    f = tmp_path / "mine.jsonl"
    f.write_text(json.dumps({"id": "counting-1000", "prompt": "two cats", "category": "counting"}) + "\n")
    assert load_suite(str(f)).reference_images == ""


def test_openai_clip_weights_get_quickgelu():
    """The reference's CLIP ViT-B/32 (and GenEval's ViT-L/14) use QuickGELU; open_clip's plain configs do not."""
    from eclipse_bench.metrics.clip import REAL_CLIPSCORE, REAL_COLOR_CLIP, model_kwargs

    for model_id in (REAL_CLIPSCORE, REAL_COLOR_CLIP):
        name, _, tag = model_id.partition("/")
        assert model_kwargs(name, tag) == {"force_quick_gelu": True}
    assert model_kwargs("ViT-B-32", None) == {}
