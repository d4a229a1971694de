"""GenEval's detector family (--detector mask2former): the instance path equals a computation written here from the
network's raw outputs, the test-time resize is mmdet's for GenEval's config, and the choice is in the evidence keys,
the results' labels and the colour crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from eclipse_bench.metrics.base import rle, unrle
from eclipse_bench.metrics.mask2former import MAX_PER_IMAGE, Mask2FormerDetector, preprocess, rescaled_size


@pytest.fixture(scope="session")
def m2f():
    return Mask2FormerDetector("tiny:mask2former")


def _image(seed: int, size=(80, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _ramp(size=(64, 64)) -> Image.Image:
    """A smooth image: the twin's masks cover part of it (on noise they cover it all), so boxes are tested."""
    w, h = size
    return Image.fromarray(np.tile(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (h, 1, 3)))


@pytest.mark.parametrize("w, h, expected", [
    (512, 512, (800, 800)),      # short side to 800
    (1024, 1024, (800, 800)),
    (768, 512, (1200, 800)),     # 1.5625 x; the long side stays under 1333
    (2000, 800, (1333, 533)),    # long side to 1333: 0.6665 x, 533.2 -> 533
    (512, 2048, (333, 1333)),    # portrait: 1333 / 2048 = 0.651 < 800 / 512
])
def test_test_time_resize_is_mmdets(w, h, expected):
    """mmdet's Resize(img_scale=(1333, 800), keep_ratio=True): factor = min(1333 / long side, 800 / short side),
    sizes rounded half up (hand-derived)."""
    assert rescaled_size(w, h) == expected


def test_preprocess_pads_with_128_then_normalises():
    pixels, (w, h) = preprocess(Image.new("RGB", (50, 30), (255, 0, 10)), scale=(100, 60))
    assert (w, h) == (100, 60) and tuple(pixels.shape) == (1, 3, 64, 128)   # padded to multiples of 32
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(pixels[0, :, 0, 0].numpy(), (np.array([255, 0, 10]) - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(pixels[0, :, 63, 127].numpy(), (128 - mean) / std, rtol=1e-6)   # the pad value


def _bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with half-pixel centres (align_corners=False), written out: for output row i the source row is
    (i + 0.5) * in / out - 0.5, clamped at 0, mixed with the next one."""
    def weights(n_in: int, n_out: int) -> torch.Tensor:
        m = torch.zeros(n_out, n_in, dtype=torch.float64)
        for i in range(n_out):
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
            lo = min(int(src), n_in - 1)
            hi = min(lo + 1, n_in - 1)
            frac = src - lo
            m[i, lo] += 1 - frac
            m[i, hi] += frac
        return m

    rows, cols = weights(x.shape[-2], size[0]), weights(x.shape[-1], size[1])
    return torch.einsum("ih,qhw,jw->qij", rows, x.double(), cols)


def test_instances_equal_a_computation_from_raw_outputs(m2f):
    """Labels, scores and boxes from the model's raw outputs, computed here the long way: masks resized to the padded
    input, cropped to the resized image and resized to the image; every (query, class) probability without the
    no-object class, the 100 best; mask = logit > 0; score = class probability x mean mask probability inside the
    mask; box = [x min, y min, x max + 1, y max + 1] of the mask."""
    boxes = set()
    for seed, image in ((0, _image(0, (80, 48))), (1, _ramp((64, 64))), (2, _ramp((90, 50)))):
        cls, masks, padded, resized = m2f.raw(image)
        dets = m2f.detect([image])[0]
        up = _bilinear(masks, padded)[:, :resized[1], :resized[0]]
        full = _bilinear(up.float(), (image.size[1], image.size[0]))
        probs = torch.softmax(cls.double(), dim=-1)[:, :-1]
        pairs = sorted(((float(probs[q, c]), q, c) for q in range(probs.shape[0]) for c in range(probs.shape[1])),
                       reverse=True)[:MAX_PER_IMAGE]
        expected = []
        for p, q, c in pairs:
            mask = full[q] > 0
            inside = torch.sigmoid(full[q])[mask]
            score = p * float(inside.sum()) / (float(mask.sum()) + 1e-6)
            ys, xs = torch.nonzero(mask, as_tuple=True)
            box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)] if len(xs) else [0.0] * 4
            expected.append((m2f.names[c], score, box))
        got = [(d["label"], d["score"], d["box"]) for d in dets]
        assert len(got) == len(expected) == MAX_PER_IMAGE
        # one to one: each detection has its computed twin with the same label and box, a score apart of rounding
        # (near-equal scores may come in another order)
        unmatched = list(expected)
        for label, score, box in got:
            twin = next((e for e in unmatched if e[0] == label and e[2] == box and abs(e[1] - score) < 2e-6), None)
            assert twin is not None, (seed, label, score, box)
            unmatched.remove(twin)
        assert len({g[0] for g in got}) > 1   # labels vary
        boxes |= {(image.size, tuple(g[2])) for g in got}
    # boxes vary too: some masks cover part of an image only (so the box computation is exercised)
    assert any(box != (0.0, 0.0, float(w), float(h)) for (w, h), box in boxes), boxes


def test_masks_survive_the_evidence_and_drive_the_colour_crop(m2f):
    from eclipse_bench.metrics.clip import ColorClassifier

    mask = np.zeros((5, 7), dtype=bool)
    mask[1:3, 2:6] = True
    mask[4, 0] = True
    assert np.array_equal(unrle(rle(mask)), mask) and np.array_equal(unrle(rle(~mask)), ~mask)
    image = Image.fromarray(np.full((5, 7, 3), 200, dtype=np.uint8))
    crop = ColorClassifier.masked_crop(image, {"box": [0, 0, 7, 5], "mask_rle": rle(mask)})
    arr = np.asarray(crop)
    assert (arr[mask] == 200).all() and (arr[~mask] == 153).all()   # outside the mask: GenEval's #999 grey
    (dets,) = m2f.detect([_image(3)])
    kept = [d for d in dets if d["score"] > 0.3]
    assert kept and all(unrle(d["mask_rle"]).shape == (48, 80) for d in kept)


def test_the_detector_is_in_keys_labels_and_results(tmp_path):
    from eclipse_bench.bench.app.cli import main
    from eclipse_bench.metrics.registry import METRICS, PROVIDERS
    from eclipse_bench.bench.core.keys import Identities

    detect = PROVIDERS.get("detect")
    ids = Identities()
    yolo, m2f = detect.identity("tiny", ids), detect.identity("tiny", ids, "mask2former")
    assert yolo != m2f and m2f["implementation"] == "mask2former" and "implementation" not in yolo
    assert detect.identity("tiny", ids, "yolo") == yolo
    geneval = METRICS.get("geneval")
    assert geneval.label({})["equivalence"] == "proxy"
    assert geneval.label({"detect": "mask2former"})["equivalence"] == "reference-family"
    out = tmp_path / "run"
    spec = {"objects": [{"noun": "cat", "attributes": [], "count": 1}], "subcategory": "single_object"}
    suite = tmp_path / "s.jsonl"
    suite.write_text("\n".join(json.dumps({"prompt": p, "category": "single_object", "spec": spec})
                               for p in ("a photo of a cat", "a cat")) + "\n")
    assert main(["run", "--prior", "tiny-eclipse-karlo", "--suite", str(suite), "--metric", "geneval",
                 "--detector", "mask2former", "--images-per-prompt", "1", "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["equivalence"] == "reference-family"
    assert results["evidence_models"]["detect"] == "tiny:mask2former"
    assert "reference-family" in (out / "report.html").read_text()
    records = [json.loads(line) for line in (out / "evidence" / "detect.jsonl").read_text().splitlines()]
    assert all(r["evidence"]["model"] == "tiny:mask2former" for r in records)


def test_a_detector_for_a_metric_without_detections_is_an_error(tmp_path, capsys):
    from eclipse_bench.bench.app.cli import main

    rc = main(["run", "--prior", "tiny-eclipse-karlo", "--suite", "builtin/color", "--limit", "1", "--detector",
               "mask2former", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--detector mask2former" in err[0] and "blip-vqa" in err[0]
    assert not (tmp_path / "r").exists()
