"""T2I-CompBench++ 3D spatial: the suite, the depth provider against a computation written here, the rule on
hand-derived cases (metrics.md, 3D spatial section), and a run end to end with the depth map in the drill-down."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from eclipse_bench.bench.app.cli import main
from eclipse_bench.metrics.depth import DepthEstimator, box_means
from eclipse_bench.metrics.t2i_spatial_3d import t2i_3d_spatial
from eclipse_bench.prompts.spec import ObjectSpec, Relation, Spec


def test_suite_has_300_val_prompts_with_objects_and_relation(official_data, capsys):
    from eclipse_bench.prompts.load import load_suite

    items = load_suite("3d_spatial").items
    assert len(items) == 300
    assert all(i.spec.relation and i.spec.relation.name in ("in front of", "behind", "hidden") for i in items)
    assert all(len(i.spec.objects) == 2 for i in items)
    assert main(["suites", "show", "3d_spatial", "--limit", "2"]) == 0
    assert "in front of(0,1)" in capsys.readouterr().out


@pytest.mark.parametrize("image_size", [None, 64])
def test_depth_maps_equal_the_reference_computation(image_size):
    import torch

    est = DepthEstimator("tiny:dpt-hybrid", image_size=image_size)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)) for _ in range(2)]
    ours = est.depth_maps(images)
    size = est.size
    for im, got in zip(images, ours):
        # 3D_spatial_eval.py's transform and post-processing, written out
        x = np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
        x = torch.tensor((x - 0.5) / 0.5).permute(2, 0, 1)[None]
        with torch.no_grad():
            d = est.model(pixel_values=x).predicted_depth[0]
        d = (d - d.min()) / (d.max() - d.min())
        d = torch.nn.functional.interpolate(d[None, None], size=(40, 56), mode="bilinear", align_corners=True)
        ref = np.asarray(Image.fromarray(255 * d[0, 0].numpy()).convert("L"))
        # batched vs one image at a time: kernels round differently, at most one grey level
        assert got.shape == (40, 56) and np.abs(got.astype(int) - ref).max() <= 1
        assert np.mean(got != ref) < 0.05 and got.std() > 0


def test_box_means_in_both_indexings():
    depth = np.zeros((100, 100), dtype=np.uint8)
    depth[10:20, 50:70] = 200      # rows 10-20 (y), columns 50-70 (x)
    yx, xy = box_means(depth, (50, 10, 70, 20))
    assert yx == 200.0 and xy == 0.0    # the reference's [x, y] slice looks at rows 50-70, columns 10-20
    assert box_means(depth, (150, 150, 160, 160)) == [None, None]


def _ev(s1, s2, box1, box2, m1, m2, nouns=("dog", "desk"), labels=("dog", "dining table")):
    return {"detect": {"model": "t", "image_size": [100, 100], "classes": {"dog": "dog", "desk": "dining table"},
                       "detections": [{"id": 0, "label": labels[0], "score": s1, "box": list(box1)},
                                      {"id": 1, "label": labels[1], "score": s2, "box": list(box2)}]},
            "depth": {"size": [100, 100], "means": {"0": m1, "1": m2}}}


SPEC = lambda rel: Spec(objects=(ObjectSpec("dog"), ObjectSpec("desk")), relation=Relation(rel, 0, 1))  # noqa: E731


@pytest.mark.parametrize("rel, box2, m1, m2, expected_rel", [
    ("in front of", (0, 0, 10, 10), [200, 0], [100, 0], 1.0),          # same box: IoU 1 > 0.5, dog nearer
    ("in front of", (0, 0, 10, 10), [100, 0], [200, 0], 0.0),          # dog farther
    ("in front of", (5, 0, 15, 10), [200, 0], [100, 0], (50 / 150) / 0.5),  # IoU 1/3 < 0.5 -> IoU / 0.5
    ("in front of", (20, 20, 30, 30), [200, 0], [100, 0], 0.0),        # no overlap: 0
    ("behind", (0, 0, 10, 10), [100, 0], [200, 0], 1.0),               # dog farther: behind
    ("hidden", (5, 0, 15, 10), [100, 0], [200, 0], (50 / 150) / 0.5),
])
def test_3d_rule_hand_derived(rel, box2, m1, m2, expected_rel):
    v = t2i_3d_spatial(_ev(0.8, 0.6, (0, 0, 10, 10), box2, m1, m2), SPEC(rel))
    assert v.score == pytest.approx(0.25 * 0.8 + 0.25 * 0.6 + expected_rel / 2)


def test_3d_rule_thresholds_compat_and_one_object():
    # the reference's [x, y] means only behind --reference-compat
    ev = _ev(0.8, 0.6, (0, 0, 10, 10), (0, 0, 10, 10), [200, 50], [100, 150])
    assert t2i_3d_spatial(ev, SPEC("in front of")).score == pytest.approx(0.35 + 0.5)
    assert t2i_3d_spatial(ev, SPEC("in front of"), reference_compat=True).score == pytest.approx(0.35)
    one = _ev(0.8, 0.1, (0, 0, 10, 10), (0, 0, 10, 10), [200, 0], [100, 0])     # desk not > 0.1
    assert t2i_3d_spatial(one, SPEC("in front of")).score == pytest.approx(0.25 * 0.8)  # no "< 0.5 -> 0" step
    hot = _ev(0.8, 0.6, (0, 0, 10, 10), (0, 0, 10, 10), [200, 0], [100, 0], labels=("hot dog", "dining table"))
    assert t2i_3d_spatial(hot, SPEC("in front of")).score == pytest.approx(0.35 + 0.5)  # 'dog' in 'hot dog'
    assert t2i_3d_spatial(ev, SPEC("next to")).score is None


def test_3d_spatial_end_to_end_with_the_depth_map_in_the_report(official_data, session_tmp):
    out = session_tmp / "3d"
    assert main(["run", "--prior", "tiny-eclipse-kandinsky", "--suite", "3d_spatial", "--limit", "3",
                 "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "t2i-3d-spatial" and results["n_images"] == 3 and results["n_unscorable"] == 0
    rec = json.loads((out / "evidence" / "depth.jsonl").read_text().splitlines()[0])["evidence"]
    assert rec["size"] == [64, 64] and rec["thumb"].startswith("data:image/png;base64,")
    html = (out / "report.html").read_text()
    assert "depth (DPT-Hybrid; brighter = nearer)" in html and html.count('class="overlay"') == 3
