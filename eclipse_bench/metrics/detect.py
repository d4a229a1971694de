"""Detection evidence with ultralytics YOLO: boxes, classes, confidences, and per-mask colour statistics.

Detections are stored down to a low confidence floor; each rule applies its own threshold (T2I-CompBench
> 0.1, HRS > 0.5, GenEval > 0.3/0.9), so rules re-run on stored evidence without the detector.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.paths import cache_dir, weights_path
from eclipse_bench.bench.core.tiny import register_tiny, resolve
from eclipse_bench.metrics.base import detection_records
from eclipse_bench.metrics.clip import OpenClip
from eclipse_bench.metrics.registry import ProviderDef, ProviderVariant, register_provider
from eclipse_bench.metrics.vocab import COCO80
from eclipse_bench.prompts.extract import singular

REAL_DETECTOR = "yolo11x-seg.pt|yolov8x-worldv2.pt"   # closed vocabulary (COCO, masks) | open vocabulary
POLYGON_MIN_SCORE = 0.3  # polygons are kept for detections a colour rule may look at


def weights_file(model_id: str) -> Path | None:
    """Where a detector's weights are taken from: a tiny twin, an explicit path, or the user cache's weights/
    folder (eclipse_bench.bench.core.paths.weights_path: never the working directory)."""
    if model_id.startswith("tiny:"):
        return Path(resolve(model_id)) / "model.pt"
    return weights_path(model_id)


def resolve_weights(model_id: str) -> str:
    """The weights file to load. Online, released weights named by file (yolo11x-seg.pt) are downloaded into the
    user cache's weights/ folder by path, so nothing is read from or written to the working directory."""
    found = weights_file(model_id)
    if found is not None:
        return str(found)
    explicit = Path(model_id).expanduser()
    if explicit.is_absolute() or len(explicit.parts) > 1:
        raise UserError(f"detector weights {model_id}: no such file; pass an existing .pt file")
    target = cache_dir() / "weights" / model_id
    if os.environ.get("YOLO_OFFLINE") or os.environ.get("HF_HUB_OFFLINE"):
        raise UserError(f"detector weights {model_id} not found (offline); download them on a connected machine "
                        f"(ultralytics' release assets) and put the file in {target.parent}")
    ultralytics()
    from ultralytics.utils.downloads import attempt_download_asset  # lazy: ultralytics

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        attempt_download_asset(str(target))   # a path with a folder: checked and written there only
    except Exception as exc:  # noqa: BLE001 - any download failure is the same one-line error
        raise UserError(f"detector weights {model_id}: download failed ({str(exc).splitlines()[0][:200]}); put the "
                        f"file in {target.parent}") from None
    if not target.is_file():
        raise UserError(f"detector weights {model_id}: not a released ultralytics asset; pass a .pt file path")
    return str(target)


def ultralytics():
    """The ultralytics package, imported without its process-wide side effects, each of which changed numbers or
    behaviour elsewhere: its import sets OMP_NUM_THREADS=1 in os.environ (inherited by every process started
    afterwards: a resumed or launched run then computed on one thread and rounded differently); it replaces
    PIL.Image.open with a wrapper that, on any unidentifiable file (a damaged PNG), pip-installs pi-heif; and its
    select_device() sets torch's intra-op threads to min(8, cpu_count - 1) whenever a predictor is set up (every
    later model ran slower and rounded differently: the first image a process generated differed from later ones).
    The process keeps its own settings here; we hand YOLO arrays, never files, so nothing of it is lost."""
    import torch  # lazy: torch

    before = os.environ.get("OMP_NUM_THREADS")
    import ultralytics as package  # lazy: ultralytics
    import ultralytics.utils.patches as yolo_patches  # lazy: ultralytics
    import ultralytics.utils.torch_utils as yolo_torch  # lazy: ultralytics

    if before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = before
    original_open = getattr(yolo_patches, "_image_open", None)
    if original_open is not None and Image.open is not original_open:
        Image.open = original_open
    yolo_torch.NUM_THREADS = torch.get_num_threads()
    return package


def _load_yolo(model_id: str):
    YOLO = ultralytics().YOLO
    path = resolve_weights(model_id)
    try:
        return YOLO(path)
    except (FileNotFoundError, OSError, ConnectionError) as exc:
        raise UserError(f"cannot load detector {model_id}: {str(exc).splitlines()[0]}") from None


def _text_model(open_id: str) -> str:
    """The CLIP text tower whose features name the open-vocabulary classes (YOLO-World's is OpenAI ViT-B/32)."""
    return "tiny:clip" if open_id.startswith("tiny:") else "ViT-B-32/openai"


class OpenVocabulary:
    """YOLO-World with the prompt's own nouns as classes; class embeddings from open_clip ViT-B/32 text features
    (the `clip` package YOLO-World would use is not installable here; open_clip gives the same features)."""

    def __init__(self, model_id: str, text_model: str, device: str, imgsz: int, conf_floor: float, max_det: int):
        self.model_id, self.text_model, self.device = model_id, text_model, device
        self.imgsz, self.conf_floor, self.max_det = imgsz, conf_floor, max_det
        self._yolo = None
        self._clip = None
        self._classes: tuple[str, ...] = ()

    def _set_classes(self, nouns: tuple[str, ...]) -> None:
        import torch  # lazy: torch

        if self._yolo is None:
            self._yolo = _load_yolo(self.model_id)
            self._clip = OpenClip(self.text_model, device=self.device)
        if nouns == self._classes:
            return
        feats = torch.tensor(self._clip.text_features([f"a photo of a {n}" for n in nouns]), dtype=torch.float32)
        world = self._yolo.model
        world.txt_feats = feats[None].to(next(world.parameters()).device)
        world.model[-1].nc = len(nouns)
        world.names = {i: n for i, n in enumerate(nouns)}
        self._yolo.predictor = None  # the predictor caches class names
        self._classes = nouns

    def detect(self, images_bgr: list, nouns: tuple[str, ...]) -> list[list[dict]]:
        """Detections of `nouns` in each image, one image per forward pass (see Detector.detect)."""
        self._set_classes(nouns)
        results = [self._yolo.predict([im], conf=self.conf_floor, imgsz=self.imgsz, device=self.device,
                                      max_det=self.max_det, verbose=False)[0] for im in images_bgr]
        out = []
        for res in results:
            b = res.boxes
            out.append([{"label": nouns[int(k)], "score": round(float(c), 6),
                         "box": [round(float(v), 3) for v in box], "source": "open-vocabulary"}
                        for box, c, k in zip(b.xyxy.cpu().numpy().tolist(), b.conf.cpu().numpy().tolist(),
                                             b.cls.cpu().numpy().astype(int).tolist())])
        return out


class Detector:
    """Batched YOLO detection; the noun -> class mapping is part of the evidence (the detector's vocabulary).

    Nouns the closed-vocabulary (COCO) detector lacks go to the open-vocabulary detector, when one is
    configured (model id "closed|open"); without it they stay unmapped and the rules mark them unscorable.
    """

    def __init__(self, model_id: str = REAL_DETECTOR, device: str = "cpu", batch_size: int = 16,
                 conf_floor: float | None = None, imgsz: int | None = None):
        self.model_id = model_id
        closed, _, open_id = model_id.partition("|")
        self.tiny = closed.startswith("tiny:")
        self.model = _load_yolo(closed)
        self.names = {int(k): v for k, v in self.model.names.items()}
        self.vocabulary = tuple(self.names[i] for i in sorted(self.names))
        self.device, self.batch_size = device, batch_size
        # random tiny heads give ~0 confidences: keep everything so the plumbing is exercised
        self.conf_floor = conf_floor if conf_floor is not None else (0.0 if self.tiny else 0.05)
        self.imgsz = imgsz or (64 if self.tiny else 640)
        self.max_det = 30 if self.tiny else 300
        self.calls = 0
        self.open = (OpenVocabulary(open_id, _text_model(open_id), device, self.imgsz, self.conf_floor, self.max_det)
                     if open_id else None)

    @staticmethod
    def checkpoints(model_id: str) -> list:
        """The closed- and open-vocabulary weights, and the CLIP text tower that names the open vocabulary."""
        closed, _, open_id = model_id.partition("|")
        out = [Checkpoint("detector weights", closed, "detector")]
        if open_id:
            out += [Checkpoint("open-vocabulary detector weights", open_id, "detector"),
                    Checkpoint("open-vocabulary text model", _text_model(open_id), "open_clip")]
        return out

    @staticmethod
    def settings_for(model_id: str) -> dict:
        """Every setting that changes this provider's output, known before loading it (evidence keys)."""
        tiny = model_id.startswith("tiny:")
        return {"conf_floor": 0.0 if tiny else 0.05, "imgsz": 64 if tiny else 640, "max_det": 30 if tiny else 300,
                "open_vocabulary": "each image's own nouns outside the closed vocabulary"}

    def detect(self, images: Sequence[Any]) -> list[list[dict]]:
        """Detections of each image, one image per forward pass: an image's boxes and scores never depend on the
        other images of a call (a batched pass rounds differently, and letterboxing pads to the batch's shape)."""
        out: list[list[dict]] = []
        for im in images:
            bgr = np.asarray(im.convert("RGB"))[:, :, ::-1]
            self.calls += 1
            res = self.model.predict([bgr], conf=self.conf_floor, imgsz=self.imgsz, device=self.device,
                                     max_det=self.max_det, verbose=False)[0]
            out.append(self._records(bgr, res))
        return out

    def _records(self, bgr: np.ndarray, res: Any) -> list[dict]:
        import cv2  # lazy: cv2

        boxes = res.boxes
        xyxy = boxes.xyxy.cpu().numpy().tolist()
        conf = boxes.conf.cpu().numpy().tolist()
        cls = boxes.cls.cpu().numpy().astype(int).tolist()
        polys = res.masks.xy if res.masks is not None else [None] * len(xyxy)
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV) if res.masks is not None else None
        recs = []
        for i, (box, c, k, poly) in enumerate(zip(xyxy, conf, cls, polys)):
            rec: dict[str, Any] = {"id": i, "label": self.names[k], "score": round(float(c), 6),
                                   "box": [round(float(v), 3) for v in box]}
            if poly is not None and len(poly) >= 3:
                mask = np.zeros(bgr.shape[:2], dtype=np.uint8)
                cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
                hue = hsv[:, :, 0][(mask > 0) & (hsv[:, :, 0] > 0)]
                rec["mean_hue"] = round(float(hue.mean()), 3) if hue.size else None
                if c >= POLYGON_MIN_SCORE:
                    rec["polygon"] = np.round(poly).astype(int).tolist()
            recs.append(rec)
        return recs

    def evidence(self, images: Sequence[Any], items: Sequence[Any], previous: Sequence[dict] | None = None) -> list[dict]:
        records = detection_records(self.model_id, self.vocabulary, images, items, self.detect(images))
        if self.open is not None:
            self._open_vocabulary(images, records)
        return records

    def _open_vocabulary(self, images: Sequence[Any], records: list[dict]) -> None:
        """Detect each image's nouns outside the closed vocabulary with the open-vocabulary model, its class list
        being exactly that image's own nouns (as a fixed label space is in the references: never the other prompts
        of a chunk). Images with the same noun set share one detector call."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, r in enumerate(records):
            nouns = tuple(sorted({singular(n) for n, c in r["classes"].items() if c is None}))
            if nouns:
                groups.setdefault(nouns, []).append(i)
        for nouns, rows in groups.items():
            found = self.open.detect([np.asarray(images[i].convert("RGB"))[:, :, ::-1] for i in rows], nouns)
            for i, dets in zip(rows, found):
                rec = records[i]
                start = len(rec["detections"])
                rec["detections"] += [{"id": start + k, **d} for k, d in enumerate(dets)]
                rec["open_vocabulary"] = list(nouns)
                for n, c in list(rec["classes"].items()):
                    if c is None:
                        rec["classes"][n] = singular(n)


# -- tiny twin (offline tests and tiny-* runs) ------------------------------------------------------------

def _listening(net, size: int = 64) -> None:
    """Make a random YOLO respond to its input. With PyTorch's default init every layer shrinks its activations
    (layer 21's are 1e-9 of the input's), so every image gives the same boxes and the scores are the head's bias
    (~1e-4): a deaf twin. Calibrate each BatchNorm to unit output on fixed random images (its running statistics
    taken from one training-mode pass), then open the class head (bias -1 instead of log(5/nc/(640/s)^2) ~ -11)
    and start box distances small, so scores, classes and boxes move with the image (tests/test_twins.py)."""
    import torch  # lazy: torch

    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = 1.0
    images = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(0))
    net.train()
    with torch.no_grad():
        net(images)
    net.eval()
    head = net.model[-1]
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.03
        for seq in head.cv2:   # box distances (DFL bins): favour the first bins
            seq[-1].bias.copy_((-0.6 * torch.arange(seq[-1].bias.numel() // 4, dtype=torch.float32)).repeat(4))
        if hasattr(head, "cv4") and hasattr(head.cv4[0], "logit_scale"):  # YOLO-World: contrastive class head
            for h in head.cv4:
                h.bias.fill_(-1.0)
                h.logit_scale.fill_(-2.0)
        else:
            for seq in head.cv3:
                seq[-1].weight.mul_(0.4)
                seq[-1].bias.fill_(-1.0)


def build_yolo_seg(out: Path) -> None:
    """Stands in for a COCO YOLO segmentation checkpoint (yolo11x-seg.pt): yolov8n-seg from its yaml."""
    import torch  # lazy: torch

    YOLO = ultralytics().YOLO
    torch.manual_seed(0)
    model = YOLO("yolov8n-seg.yaml")
    model.model.names = {i: n for i, n in enumerate(COCO80)}  # set before the first predict (names are cached)
    _listening(model.model)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.pt"))


def build_yolo_world(out: Path) -> None:
    """Stands in for YOLO-World v2 (yolov8x-worldv2.pt): the same architecture family, from its yaml."""
    import torch  # lazy: torch

    YOLO = ultralytics().YOLO
    torch.manual_seed(0)
    model = YOLO("yolov8s-worldv2.yaml")
    world = model.model
    # calibration needs class embeddings: 4 fixed random unit vectors (real ones are set per call)
    world.txt_feats = torch.nn.functional.normalize(torch.randn(1, 4, 512, generator=torch.Generator().manual_seed(0)),
                                                    dim=-1)
    world.model[-1].nc = 4
    _listening(world)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.pt"))


register_tiny("yolo-seg", build_yolo_seg, uses=("eclipse_bench.metrics.vocab",))
register_tiny("yolo-world", build_yolo_world, uses=("eclipse_bench.metrics.vocab",))

SHOW_DETECTIONS = 8          # boxes drawn per image


def report_view(record: dict, metric) -> dict:
    """The drill-down's view of detections: the boxes the rule can keep, drawn over the image, and the
    noun -> class mapping."""
    thr = metric.display_threshold if metric is not None else 0.3
    wanted = {c for c in record.get("classes", {}).values() if c}
    kept = sorted((d for d in record["detections"] if d["score"] > thr), key=lambda d: -d["score"])
    shown = [d for d in kept if d["label"] in wanted][:SHOW_DETECTIONS] or kept[:SHOW_DETECTIONS]
    w, h = record.get("image_size") or (1, 1)
    view = {"boxes": [{"x": d["box"][0], "y": d["box"][1], "w": d["box"][2] - d["box"][0],
                       "h": d["box"][3] - d["box"][1], "label": f"{d['label']} {d['score']:.2f}",
                       "color": "#1a7f37" if d["label"] in wanted else "#9a6700"} for d in shown],
            "viewbox": f"0 0 {w} {h}", "font": max(w, h) / 18, "threshold": thr, "n_detections": len(kept),
            "classes": ", ".join(f"{n} -> {c or 'not in vocabulary'}" for n, c in record.get("classes", {}).items())}
    missing = sorted(n for n, c in record.get("classes", {}).items() if c is None)
    if missing:
        view["missing"] = missing
    return view


def reads(item) -> dict:
    """The nouns the detector maps to classes (and detects with the open vocabulary): objects, then exclusions."""
    return {"nouns": [o.noun for o in item.spec.objects] + [e.noun for e in item.spec.exclude]}


MASK2FORMER = ProviderVariant(
    "eclipse_bench.metrics.mask2former:Mask2FormerDetector", "facebook/mask2former-swin-small-coco-instance",
    "tiny:mask2former", equivalence="reference-family",
    reference_models="GenEval's Mask2Former Swin-S (mmdet) as transformers' Mask2Former Swin-S COCO instance weights "
                     "(another training run) + OpenAI CLIP ViT-L/14",
    help="Mask2Former Swin-S, COCO instance (GenEval's architecture), mmdet's test pipeline")
register_provider(ProviderDef("detect", "eclipse_bench.metrics.detect:Detector", REAL_DETECTOR,
                              "tiny:yolo-seg|tiny:yolo-world",
                              "YOLO boxes, classes, confidences, mask hues; YOLO-World for nouns outside COCO "
                              "(--detector mask2former: GenEval's Mask2Former family)",
                              view=report_view, reads=reads, option="detector", default_variant="yolo",
                              option_help="the detector family of detection metrics: yolo (default) or mask2former "
                                          "(GenEval's architecture, Mask2Former Swin-S COCO instance weights)",
                              variants={"mask2former": MASK2FORMER},
                              record_fields=(("detections", list), ("classes", dict), ("image_size", list))))
