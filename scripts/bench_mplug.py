"""DPG-Bench's judge: questions/s of eclipse-bench's mPLUG path (each image encoded once, its questions batched
through the text and fusion encoders and one beam search) against the reference protocol (one modelscope pipeline
call per question: the image preprocessed and encoded again for every question), at mPLUG-large's full size with
random weights (scripts/full_size_configs.py), on the same images and questions, in one run; the answers of the two
are compared (they must agree).

    python scripts/bench_mplug.py [--images 1] [--questions 8] [--device cpu|cuda] [--size full|tiny]

Prints the device, seconds and questions/s of both, the ratio and how many answers agree. Needs modelscope
(pip install "eclipse-bench[dpg]").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

QUESTIONS = ["Are there cabbages?", "Are there eight cabbages?", "Are the cabbages green?", "Is there a field?",
             "Are the cabbages in the field?", "Is it morning?", "Is there mist?", "Are the leaves crinkled?",
             "Is there soil?", "Are there rows of soil?", "Is there dew?", "Are the heads round?"]


def build_full(folder: Path) -> None:
    import torch
    import yaml

    import full_size_configs as C
    from eclipse_bench.metrics.mplug import modelscope_mplug

    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["yes", "no"] + sorted({w.strip("?").lower() for q in QUESTIONS for w in q.split()})
    vocab = specials + words + [f"t{i}" for i in range(C.MPLUG_LARGE_BERT["vocab_size"] - len(specials) - len(words))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    bert = dict(architectures=["BertForMaskedLM"], attention_probs_dropout_prob=0.1, hidden_act="gelu",
                hidden_dropout_prob=0.1, initializer_range=0.02, layer_norm_eps=1e-12, model_type="bert",
                num_hidden_layers=12, pad_token_id=0, type_vocab_size=2, encoder_width=768,
                **C.MPLUG_LARGE_BERT)
    (folder / "config_bert.json").write_text(json.dumps(bert))
    (folder / "config.yaml").write_text(yaml.safe_dump(dict(task="visual-question-answering",
                                                            bert_config="config_bert.json", distill=False,
                                                            **C.MPLUG_LARGE)))
    mm = modelscope_mplug()
    from modelscope.models.multi_modal.mplug import MPlugConfig

    cfg = MPlugConfig.from_yaml_file(str(folder / "config.yaml"))
    cfg.model_dir = str(folder)
    torch.manual_seed(0)
    model = mm.MPlugForVisualQuestionAnswering(cfg)
    with torch.no_grad():
        pos = model.visual_encoder.visual.positional_embedding
        pos.copy_(torch.randn(pos.shape) * 0.02)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="full", choices=("full", "tiny"))
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from eclipse_bench.bench.core.tiny import resolve
    from eclipse_bench.metrics.mplug import MplugJudge, load_mplug
    from test_mplug import reference_answer

    with tempfile.TemporaryDirectory() as tmp:
        if args.size == "full":
            t0 = time.perf_counter()
            build_full(Path(tmp))
            folder, built = Path(tmp), time.perf_counter() - t0
        else:
            folder, built = resolve("tiny:mplug"), 0.0
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)) for _ in range(args.images)]
        questions = QUESTIONS[:args.questions]
        ours = MplugJudge(str(folder), device=args.device)
        ref_model, cfg = load_mplug(folder, args.device)
        n = len(images) * len(questions)
        print(f"# mPLUG-large ({args.size}, random weights, built in {built:.0f} s) on {args.device} "
              f"({platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads): {len(images)} image(s) x {len(questions)} questions")
        t0 = time.perf_counter()
        got = [a["answer"] for im in images for a in ours.answer(im, questions)]
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = []
        for im in images:
            for q in questions:
                pixels_im = im   # the pipeline receives the image and preprocesses it again for every question
                ref.append(reference_answer(ref_model, ref_model.tokenizer, cfg.image_res, pixels_im, q)[0])
        ref_s = time.perf_counter() - t0
        agree = sum(a == b for a, b in zip(got, ref))
        print(f"reference protocol (one call per question): {ref_s:.1f} s, {n / ref_s:.3f} questions/s")
        print(f"eclipse-bench (image once, questions batched): {ours_s:.1f} s, {n / ours_s:.3f} questions/s")
        print(f"ratio: {ref_s / ours_s:.1f}x; answers agree: {agree}/{n}; ours spent "
              + ", ".join(f"{k} {v:.1f} s" for k, v in ours.timings.items()))


if __name__ == "__main__":
    main()
