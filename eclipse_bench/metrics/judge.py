"""VQA-judge evidence with Qwen3-VL, as GenEval 2 scores (Soft-TIFA, TIFA, VQAScore): per image, every question of
the prompt asked with its text as sent, the answer variants with their first-token ids, P(answer) and the argmax
token, so every judge metric is a rule over stored evidence.

The reference protocol (facebookresearch/GenEval2 evaluation.py) asks each question in its own generate call: the
chat template with the image and the text, one new token, greedy, softmax over the whole vocabulary of that
token's scores; P(answer) sums the probabilities of the first token of each answer variant. The image is encoded
again for every question.

Here the image is encoded once per image: the tokens up to the end of the image (the same in every question's
sequence) run once and their key/value cache is shared by all of the image's questions, whose remaining tokens run
as one batch with the positions (M-RoPE) they have in the full sequence. Same model, same tokens, same positions:
the probabilities equal the reference's up to float rounding (tests/test_judge.py compares them with a
one-question-per-generate oracle). Questions are batched within an image, never across images: an image's
answers never depend on the other images of a chunk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.loaders import load, quiet
from eclipse_bench.bench.core.tiny import register_tiny
from eclipse_bench.metrics.registry import ProviderDef, register_provider
from eclipse_bench.prompts.questions import NUMBER_WORDS, questions_for

REAL_JUDGE = "Qwen/Qwen3-VL-8B-Instruct"
TIFA_TEXT = "{question} Answer in one word."
VQASCORE_TEXT = 'Does this image show "{prompt}"? Answer the question with Yes or No.'
YES_VARIANTS = ("Yes", "yes", " yes", " Yes")
# the reference's digit for a count answer: one..ten, anything else "other" (its quirk, kept for --reference-compat)
REFERENCE_DIGITS = {w: str(i) for i, w in enumerate(NUMBER_WORDS[1:11], 1)}
# generation settings that change the scores of the first new token in greedy mode, which this judge does not apply
# (repetition_penalty it applies, as generate does)
UNSUPPORTED_GREEDY = ("sequence_bias", "no_repeat_ngram_size", "bad_words_ids", "min_new_tokens", "forced_bos_token_id",
                      "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens", "exponential_decay_length_penalty",
                      "watermarking_config", "remove_invalid_values")


def is_count(question: str) -> bool:
    """GenEval 2's counting questions: those that start with "How many"."""
    return question.startswith("How many")


def count_digit(answer: str, reference_compat: bool = False) -> Optional[str]:
    """The digits of a count answer. The reference maps one..ten and gives "other" for anything else (so P("other")
    is added to such an answer's probability); by default every number word and numeral maps to its digits, and a
    non-number has no digit variants."""
    if reference_compat:
        return REFERENCE_DIGITS.get(answer, "other")
    a = answer.strip().lower()
    if a in NUMBER_WORDS:
        return str(NUMBER_WORDS.index(a))
    return a if a.isdigit() else None


def answer_variants(question: str, answer: str, reference_compat: bool = False) -> list[str]:
    """The strings whose first token counts as the answer: for counts the word as given, capitalised, each with a
    leading space, and the digits likewise; for every other question Yes, yes, " yes", " Yes"."""
    if not is_count(question):
        return list(YES_VARIANTS)
    out = [answer, answer.capitalize(), " " + answer, " " + answer.capitalize()]
    digit = count_digit(answer, reference_compat)
    return out + ([digit, " " + digit] if digit is not None else [])


def probability(q: dict, reference_compat: bool = False) -> float:
    """P(answer) of one stored question: the sum over its variants of the first token's probability, in variant
    order (a token two variants share counts twice, as in the reference)."""
    variants = q.get("compat_variants", q["variants"]) if reference_compat else q["variants"]
    p = 0.0
    for _, token_id in variants:
        p += float(q["probs"][str(token_id)])
    return p


def answered(q: dict, reference_compat: bool = False) -> bool:
    """TIFA's hard answer: the argmax token, decoded and lower-cased, is one of the variants."""
    variants = q.get("compat_variants", q["variants"]) if reference_compat else q["variants"]
    return q["argmax"]["token"].lower() in [v for v, _ in variants]


class QwenJudge:
    """Qwen3-VL as GenEval 2's judge; `evidence` asks each image all its questions and the VQAScore question."""

    def __init__(self, model_id: str = REAL_JUDGE, device: str = "cpu", batch_size: int = 64,
                 revision: Optional[str] = None):
        import torch  # lazy: torch
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration  # lazy: transformers

        self.model_id, self.device = model_id, device
        # dtype "auto" as the reference: the checkpoint's own precision (bfloat16 for Qwen3-VL-8B-Instruct)
        self.model = load(Qwen3VLForConditionalGeneration, model_id, revision=revision, dtype="auto").to(device).eval()
        self.processor = load(AutoProcessor, model_id, revision=revision)
        self.tokenizer = self.processor.tokenizer
        self.vision_end = int(self.model.config.vision_end_token_id)
        self.penalty = self._greedy_processors(model_id)
        self.calls = 0
        self._torch = torch

    def _greedy_processors(self, model_id: str) -> Optional[float]:
        """The checkpoint's generation settings that act on the first new token in greedy mode: repetition_penalty is
        applied as generate applies it; any other is refused (the scores would not be the reference's)."""
        gc = self.model.generation_config
        for name in UNSUPPORTED_GREEDY:
            value = getattr(gc, name, None)
            if value not in (None, False, 0, [], ()):
                raise UserError(f"judge {model_id}: its generation_config sets {name}={value!r}, which changes the "
                                f"scores of the answer token; eclipse-bench's judge does not apply it (use a "
                                f"checkpoint without it, or remove it from generation_config.json)")
        if getattr(gc, "guidance_scale", None) not in (None, 1, 1.0):
            raise UserError(f"judge {model_id}: its generation_config sets guidance_scale={gc.guidance_scale}, which "
                            f"eclipse-bench's judge does not apply")
        penalty = getattr(gc, "repetition_penalty", None)
        return float(penalty) if penalty not in (None, 1, 1.0) else None

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("VQA judge", model_id, expect=("config.json",))]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        """Every setting that changes this provider's output, known before loading it (evidence keys)."""
        return {"dtype": "auto (the checkpoint's)", "tifa_text": TIFA_TEXT, "vqascore_text": VQASCORE_TEXT,
                "protocol": "chat template with the image first, one new token, greedy, softmax over the vocabulary",
                "variants": "first token of each answer variant; default and reference-compat digit sets"}

    # -- the batched protocol ---------------------------------------------------------------------------------

    def _messages(self, image: Any, text: str) -> list:
        return [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]

    def _inputs(self, image: Any, text: str):
        """The reference's inputs for one question: the chat template, tokenized, with the image processed."""
        return self.processor.apply_chat_template(self._messages(image, text), tokenize=True, add_generation_prompt=True,
                                                  return_dict=True, return_tensors="pt")

    def _tails(self, image: Any, texts: Sequence[str]) -> list:
        """Each text's tokens after the image, from the rendered chat template (the image is processed once, not once
        per question). Special tokens split the text before BPE, so the tokens after <|vision_end|> are the same in
        the whole sequence; `answer` checks that on the first question and otherwise processes each in full."""
        torch = self._torch
        marker = self.processor.vision_end_token
        tails = []
        for t in texts:
            rendered = self.processor.apply_chat_template(self._messages(image, t), tokenize=False,
                                                          add_generation_prompt=True)
            rest = rendered[rendered.rfind(marker) + len(marker):]
            tails.append(torch.tensor(self.tokenizer(rest, add_special_tokens=False)["input_ids"], dtype=torch.long))
        return tails

    def answer(self, image: Any, texts: Sequence[str]):
        """(probabilities [len(texts), vocabulary] float32 on the CPU, each text's token ids) for one image: the tokens
        up to the end of the image run once, the texts' remaining tokens as one batch on that cache."""
        torch = self._torch
        from transformers import DynamicCache  # lazy: transformers

        x0 = self._inputs(image, texts[0])
        first = x0["input_ids"][0]
        ends = (first == self.vision_end).nonzero()
        split = int(ends[-1]) + 1 if len(ends) else 0
        if split == 0 or split >= len(first):
            raise UserError(f"judge {self.model_id}: its chat template does not put the image before the question "
                            f"text, which the shared image encoding needs; use a Qwen3-VL chat checkpoint")
        tails = self._tails(image, texts)
        if not torch.equal(tails[0], first[split:]):   # a template or tokenizer where text after the image differs
            full = [self._inputs(image, t) for t in texts]
            if any(not torch.equal(x["input_ids"][0][:split], first[:split]) for x in full):
                raise UserError(f"judge {self.model_id}: its questions do not share the tokens up to the end of the "
                                f"image; use a Qwen3-VL chat checkpoint")
            tails = [x["input_ids"][0][split:] for x in full]
        ids = [torch.cat([first[:split], t]) for t in tails]
        types = [torch.cat([x0["mm_token_type_ids"][0][:split], torch.zeros(len(t), dtype=x0["mm_token_type_ids"].dtype)])
                 for t in tails]
        model, dev = self.model, self.device
        self.calls += 1
        with torch.no_grad():
            model.model.rope_deltas = None
            pre = model.model(input_ids=first[None, :split].to(dev),
                              attention_mask=torch.ones(1, split, dtype=torch.long, device=dev),
                              pixel_values=x0["pixel_values"].to(dev), image_grid_thw=x0["image_grid_thw"].to(dev),
                              mm_token_type_ids=x0["mm_token_type_ids"][:, :split].to(dev),
                              cache=DynamicCache(config=model.config.text_config), use_cache=True)
            cache = pre.cache
            q = len(texts)
            if q > 1:
                cache.batch_repeat_interleave(q)
            width = max(len(t) for t in tails)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            batch = torch.full((q, width), pad, dtype=torch.long)
            # position ids as generate gives them: row 0 the text positions (for the causal mask), rows 1-3 M-RoPE's
            # temporal/height/width positions of each token in its full sequence
            pos = torch.zeros(4, q, width, dtype=torch.long)
            mask = torch.zeros(q, split + width, dtype=torch.long)
            for i, (full_ids, t) in enumerate(zip(ids, tails)):
                batch[i, :len(t)] = t
                rope, _ = model.model.get_rope_index(full_ids[None], types[i][None], x0["image_grid_thw"])
                pos[1:, i, :len(t)] = rope[:, 0, split:]
                pos[1:, i, len(t):] = rope[:, 0, -1:] + torch.arange(1, width - len(t) + 1)   # padding: never attended
                pos[0, i] = torch.arange(split, split + width)
                mask[i, :split + len(t)] = 1
            hidden = model.model.language_model(input_ids=batch.to(dev), position_ids=pos.to(dev),
                                                attention_mask=mask.to(dev), cache=cache,
                                                use_cache=True).last_hidden_state
            last = torch.tensor([len(t) - 1 for t in tails], device=hidden.device)
            logits = model.lm_head(hidden[torch.arange(q, device=hidden.device), last]).float().cpu()
            model.model.rope_deltas = None
        if self.penalty is not None:
            from transformers import RepetitionPenaltyLogitsProcessor  # lazy: transformers

            rp = RepetitionPenaltyLogitsProcessor(self.penalty)
            logits = torch.cat([rp(x[None], logits[i:i + 1]) for i, x in enumerate(ids)])
        return torch.softmax(logits, dim=-1), ids

    def first_token(self, variant: str) -> int:
        """The reference's answer token: the first id of tokenizer.encode(variant)."""
        return int(self.tokenizer.encode(variant)[0])

    # -- evidence provider interface ---------------------------------------------------------------------------

    def evidence(self, images: Sequence[Any], items: Sequence[Any],
                 previous: Sequence[dict] | None = None) -> list[dict[str, Any]]:
        """One record per image: its questions (the benchmark's, else generated from the spec) and the VQAScore
        question, each with the text sent, the answer variants (default and reference-compat) with their token
        ids, the probability of every such token and the argmax token."""
        records = []
        for im, item in zip(images, items):
            questions, source = questions_for(item.spec)
            asked = [("tifa", q.question, q.answer, q.skill, TIFA_TEXT.format(question=q.question)) for q in questions]
            asked.append(("vqascore", item.prompt, "Yes", "prompt", VQASCORE_TEXT.format(prompt=item.prompt)))
            probs, _ = self.answer(im, [a[-1] for a in asked])
            rows = []
            for (kind, question, answer, skill, text), p in zip(asked, probs):
                if kind == "vqascore":
                    default = compat = list(YES_VARIANTS)
                else:
                    default, compat = answer_variants(question, answer), answer_variants(question, answer, True)
                ids = {v: self.first_token(v) for v in dict.fromkeys(default + compat)}
                top = int(p.argmax())
                row = {"kind": kind, "question": question, "answer": answer, "skill": skill, "text": text,
                       "variants": [[v, ids[v]] for v in default],
                       "probs": {str(t): float(p[t]) for t in sorted(set(ids.values()))},
                       "argmax": {"id": top, "token": self.tokenizer.decode([top]), "p": float(p[top])}}
                if compat != default:
                    row["compat_variants"] = [[v, ids[v]] for v in compat]
                row["p"] = probability(row)
                rows.append(row)
            records.append({"model": self.model_id, "source": source, "image_size": list(im.size), "questions": rows})
        return records


# -- tiny twin (offline tests and tiny-* runs) ------------------------------------------------------------

QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                       "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                       "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
# Qwen3-VL-Instruct's chat template for what the judge sends (one user turn: the image, then the text; no system turn)
TWIN_CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{- message['content'] }}{%- else %}"
    "{%- for item in message['content'] %}{%- if item['type'] == 'image' or 'image' in item %}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' }}{%- elif 'text' in item %}{{- item['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def twin_corpus() -> list[str]:
    """What the twin's BPE is trained on: GenEval 2-style questions and every answer variant (so, as in Qwen's
    vocabulary, "Yes", " yes", "three", " 3" are single tokens)."""
    nouns = ("cat dog pig backpack croissant toy raccoon rabbit sheep monkey zebra penguin truck cow flamingo bagel "
             "trumpet candle turtle lion elephant violin bear clock car bench book cup bowl chair table apple banana "
             "bird horse person man woman bottle vase phone laptop ball box hat bag shoe suitcase cake orange").split()
    attrs = "red orange yellow green blue purple pink brown black white metal stone wooden plastic glass".split()
    rels = ("to the left of", "to the right of", "in front of", "behind", "on top of", "next to", "near", "above",
            "below", "playing with", "chasing", "jumping over")
    words = list(NUMBER_WORDS[:11])
    answers = [v for w in words[1:] for v in answer_variants("How many", w)] + list(YES_VARIANTS) + ["No", "no", "other"]
    lines = []
    for i, n in enumerate(nouns):
        a, b, r = attrs[i % len(attrs)], nouns[(i * 7 + 3) % len(nouns)], rels[i % len(rels)]
        lines += [f"How many {n}s are in the image? Answer in one word.", f"Are there any {n}s in the image?",
                  f"Is the {n} {a}? Are the {n}s {a}?", f"Is the {n} {r} the {b}?",
                  f'Does this image show "a {a} {n} {r} {words[i % 10 + 1]} {b}s"? Answer the question with Yes or No.']
    return lines + [" ".join(answers)] * 20


def twin_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = 600):
    """A Qwen2Tokenizer (byte-level BPE with Qwen's pre-tokenizer, trained here on `corpus`, default twin_corpus)
    with Qwen's special tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers  # lazy: tokenizers
    from transformers import Qwen2Tokenizer  # lazy: transformers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX  # lazy: transformers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.train_from_iterator(list(corpus) if corpus is not None else twin_corpus(), trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    trained = json.loads(bpe.to_str())["model"]
    vocab = dict(trained["vocab"])
    for s in QWEN_SPECIAL_TOKENS:
        vocab[s] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[tuple(m) for m in trained["merges"]], unk_token=None,
                         eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_tokens([AddedToken(s, special=True, normalized=False) for s in QWEN_SPECIAL_TOKENS], special_tokens=True)
    return tok


def qwen3_vl_processor(tok, patch_size: int, min_pixels: int, max_pixels: int):
    """Qwen3VLProcessor (Qwen2VL image processor, merge 2, mean/std 0.5 as Qwen3-VL's) with the judge's chat template."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor  # lazy: transformers
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor  # lazy: transformers

    image_processor = Qwen2VLImageProcessor(patch_size=patch_size, merge_size=2, temporal_patch_size=2,
                                            size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                                            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    video_processor = Qwen3VLVideoProcessor(patch_size=patch_size, merge_size=2, temporal_patch_size=2)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tok, video_processor=video_processor,
                            chat_template=TWIN_CHAT_TEMPLATE)


def qwen3_vl_config(tok, text: dict, vision: dict, vocab_size: int | None = None):
    """A Qwen3VLConfig whose special token ids are the tokenizer's."""
    from transformers import Qwen3VLConfig  # lazy: transformers

    special = {s: tok.convert_tokens_to_ids(s) for s in QWEN_SPECIAL_TOKENS}
    return Qwen3VLConfig(
        text_config=dict(vocab_size=vocab_size or len(tok), pad_token_id=special["<|endoftext|>"], **text),
        vision_config=dict(vision), image_token_id=special["<|image_pad|>"], video_token_id=special["<|video_pad|>"],
        vision_start_token_id=special["<|vision_start|>"], vision_end_token_id=special["<|vision_end|>"],
        tie_word_embeddings=False)


def build_qwen3_vl(out: Path) -> None:
    """Stands in for Qwen/Qwen3-VL-8B-Instruct: Qwen3VLForConditionalGeneration (deepstack and interleaved M-RoPE
    included) with a Qwen2Tokenizer, a Qwen2VL image processor and Qwen3VLProcessor with Qwen3-VL's chat template, all
    from configs; 8 px patches (the real 16), so a 64 px image is 16 image tokens.

    It listens: its output head is widened (x2) and the rows of the answer tokens (every first token of an answer
    variant) more (x3), so P(answer) ranges over 0..1 and moves with the image and the question
    (tests/test_twins.py); with the default init every probability is ~1/vocabulary and no answer depends on
    anything."""
    import torch  # lazy: torch
    from transformers import Qwen3VLForConditionalGeneration  # lazy: transformers

    quiet()
    tok = twin_tokenizer()
    processor = qwen3_vl_processor(tok, patch_size=8, min_pixels=16 * 16, max_pixels=128 * 128)
    cfg = qwen3_vl_config(
        tok, text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=8, max_position_embeddings=2048, initializer_range=0.2,
                       rope_parameters={"rope_type": "default", "rope_theta": 5e5, "mrope_section": [2, 1, 1],
                                        "mrope_interleaved": True}),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, patch_size=8, spatial_merge_size=2,
                    temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64, deepstack_visual_indexes=[0],
                    initializer_range=0.2))
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(cfg).eval()
    answer_tokens = {tok.encode(v)[0] for w in NUMBER_WORDS[1:11]
                     for v in answer_variants("How many", w) + answer_variants("How many", w, True)}
    answer_tokens |= {tok.encode(v)[0] for v in (*YES_VARIANTS, "No", "no")}
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)
        model.lm_head.weight[sorted(answer_tokens)] *= 3.0
    model.save_pretrained(out)
    processor.save_pretrained(out)


register_tiny("qwen3-vl", build_qwen3_vl)


def report_view(record: dict, metric) -> dict:
    """The drill-down's lines for judge evidence: each question with its answer, skill, P(answer) and the argmax."""
    compat = False
    rows = []
    for q in record.get("questions", []):
        rows.append({"q": q["question"] if q["kind"] == "tifa" else q["text"], "a": q["answer"], "skill": q["skill"],
                     "p": f"{probability(q, compat):.4f}", "top": q["argmax"]["token"], "kind": q["kind"]})
    return {"judge": rows, "judge_source": record.get("source", "")}


def reads(item) -> dict:
    """What the judge is asked: the prompt (VQAScore) and the questions (the benchmark's, or generated)."""
    questions, source = questions_for(item.spec)
    return {"prompt": item.prompt, "questions": [q.to_json() for q in questions], "source": source}


register_provider(ProviderDef("judge", "eclipse_bench.metrics.judge:QwenJudge", REAL_JUDGE, "tiny:qwen3-vl",
                              "Qwen3-VL judge: P(answer) of each question (GenEval 2's protocol), batched per image",
                              view=report_view, reads=reads, option="judge", any_model=True,
                              served_cls="eclipse_bench.metrics.served_judge:ServedJudge",
                              option_help="the VQA judge of the soft-tifa, tifa and vqascore metrics: another Qwen3-VL "
                                          "checkpoint (hub id or directory) in place of Qwen/Qwen3-VL-8B-Instruct; "
                                          "recorded in the evidence keys",
                              record_fields=(("questions", list), ("source", str))))
