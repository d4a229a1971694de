"""GenEval 2's judge: questions per second of eclipse-bench's judge (each image encoded once, its questions batched on
the shared key/value cache) against the reference protocol (one generate call per question, the image encoded again
each time: GenEval2 evaluation.py's send_message_with_image, written out below), on the same model, images and
questions, measured in one run; the two protocols' P(answer) are compared (they must agree).

    python scripts/bench_judge.py [--size reduced|full] [--images 6] [--device cpu|cuda] [--dtype fp32|bf16]

--size full is Qwen3-VL-8B-Instruct's architecture (scripts/full_size_configs.py) with random weights (17 GB in
bf16: a GPU); reduced keeps its vocabulary (151,936), head size, M-RoPE sections, deepstack and its image processor
(16 px patches, 512 px images = 256 image tokens) with fewer and narrower layers, so that a CPU runs it. The
questions are GenEval 2's (the first prompts of each atom count; $ECLIPSE_BENCH_DATA or ../shared/benchmarks), with
the VQAScore question per image as the judge asks it. Prints the device, seconds, questions/s of both, the ratio, the
largest |P difference| and peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
if "ECLIPSE_BENCH_DATA" not in os.environ and SHARED.is_dir():
    os.environ["ECLIPSE_BENCH_DATA"] = str(SHARED)


def reference_answer(model, processor, image, text: str, variants: list[str]) -> float:
    """The reference protocol for one question: chat template, generate one token greedily with scores, softmax, the
    first token of each variant summed."""
    import torch

    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]
    inputs = processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=1, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    probs = torch.nn.functional.softmax(out.scores[0], dim=-1)
    return sum(probs[0, processor.tokenizer.encode(v)[0]].item() for v in variants)


def build(size: str, folder: Path, dtype, corpus: list[str]) -> None:
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    sys.path.insert(0, str(Path(__file__).parent))
    import full_size_configs as C
    from eclipse_bench.metrics.judge import twin_corpus, qwen3_vl_config, qwen3_vl_processor, twin_tokenizer

    # Qwen's 151k-token BPE makes most English words one token; a BPE trained on the benchmark's own text to 8,000
    # tokens comes close (the tiny twin's 600-token BPE would make every question ~1.6x longer than Qwen's)
    tok = twin_tokenizer(corpus + twin_corpus(), vocab_size=8000)
    processor = qwen3_vl_processor(tok, **C.QWEN3_VL_PIXELS)
    text, vision = dict(C.QWEN3_VL_8B_TEXT), dict(C.QWEN3_VL_8B_VISION)
    if size == "reduced":
        text.update(hidden_size=1024, intermediate_size=3072, num_hidden_layers=8, num_attention_heads=8,
                    num_key_value_heads=2)
        vision.update(depth=6, hidden_size=384, intermediate_size=1536, num_heads=6, out_hidden_size=1024,
                      deepstack_visual_indexes=[1, 3, 5])
    vocab = text.pop("vocab_size")
    cfg = qwen3_vl_config(tok, text=text, vision=vision, vocab_size=vocab)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = Qwen3VLForConditionalGeneration(cfg).to(dtype).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    n = sum(p.numel() for p in model.parameters())
    print(f"model: Qwen3-VL-8B architecture, {size} size: {n / 1e6:.0f}M parameters, {dtype}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=("reduced", "full"), default="reduced")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--device", default="cuda" if __import__("torch").cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    import numpy as np
    import torch
    from PIL import Image

    from eclipse_bench.metrics.judge import QwenJudge, answer_variants, YES_VARIANTS
    from eclipse_bench.prompts.load import load_suite

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    suite = load_suite("geneval2").limit(args.images)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    images = []
    for _ in suite.items:
        a, b, c = rng.random(3)
        base = np.stack([np.sin(6 * xx * a + b), np.cos(5 * yy * b + c), np.sin(4 * (xx + yy) * c)], -1)
        images.append(Image.fromarray(((base * 0.35 + 0.5).clip(0, 1) * 255).astype(np.uint8)))
    full = load_suite("geneval2")
    corpus = [f"{q.question} Answer in one word." for i in full.items for q in i.spec.questions]
    corpus += [f'Does this image show "{i.prompt}"? Answer the question with Yes or No.' for i in full.items]
    with tempfile.TemporaryDirectory() as tmp:
        build(args.size, Path(tmp), dtype, corpus)
        judge = QwenJudge(tmp, device=args.device)
        n_questions = sum(len(i.spec.questions) + 1 for i in suite.items)
        cuda = args.device.startswith("cuda")

        def peak() -> str:
            if cuda:
                return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
            return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB process RSS (both protocols)"

        judge.evidence(images[:1], suite.items[:1])                           # warm-up, both paths
        reference_answer(judge.model, judge.processor, images[0], "Is it? Answer in one word.", list(YES_VARIANTS))
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        ours = judge.evidence(images, suite.items)
        if cuda:
            torch.cuda.synchronize()
        t_ours = time.perf_counter() - t0
        peak_ours = peak()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        worst = 0.0
        for im, rec in zip(images, ours):
            for q in rec["questions"]:
                variants = list(YES_VARIANTS) if q["kind"] == "vqascore" else answer_variants(q["question"], q["answer"])
                worst = max(worst, abs(reference_answer(judge.model, judge.processor, im, q["text"], variants) - q["p"]))
        if cuda:
            torch.cuda.synchronize()
        t_ref = time.perf_counter() - t0
        device = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()}, " \
                                                            f"{torch.get_num_threads()} threads)"
        lengths = [len(judge._tails(images[0], [q["text"]])[0]) for rec in ours for q in rec["questions"]]
        prefix = len(judge._inputs(images[0], "x")["input_ids"][0]) - len(judge._tails(images[0], ["x"])[0])
        print(f"device: {device}; {len(images)} images of 512 px ({prefix} tokens up to the image's end), "
              f"{n_questions} questions (GenEval 2's, + VQAScore; {sum(lengths) / len(lengths):.1f} tokens after the "
              f"image on average)")
        print(f"reference protocol: {t_ref:.2f} s, {n_questions / t_ref:.2f} questions/s")
        print(f"eclipse-bench:      {t_ours:.2f} s, {n_questions / t_ours:.2f} questions/s")
        print(f"ratio: {t_ref / t_ours:.1f}x; largest |P difference| {worst:.2e}")
        print(f"peak memory: eclipse-bench {peak_ours}; reference {peak()}")


if __name__ == "__main__":
    main()
