"""BLIP VQA evidence: P(yes) for one question per noun phrase, batched.

transformers 5's BlipForQuestionAnswering.forward() no longer returns decoder logits, so the first
answer token is scored through the submodules: vision_model -> text_encoder (the question,
cross-attending the image) -> text_decoder on the decoder start token. The decoder attends only the
question's real tokens, so a batched answer equals an unbatched one up to kernel rounding.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from eclipse_bench.metrics.rules import yes_probability

REAL_BLIP_VQA = "Salesforce/blip-vqa-capfilt-large"
MAX_WORDS = 35


def preprocess_question(text: str, max_words: int = MAX_WORDS) -> str:
    """Lowercase; strip . ! " ( ) * # : ; ~ (keep '?'); at most `max_words` words."""
    q = re.sub(r"[.!\"()*#:;~]", "", text.lower()).rstrip(" ")
    words = q.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else q


def question_for(phrase: str) -> str:
    return preprocess_question(phrase + "?")


class BlipVqa:
    """Answers yes/no questions about images with a BLIP VQA model."""

    def __init__(self, model_id: str = REAL_BLIP_VQA, device: str = "cpu", dtype: Any = None,
                 batch_size: int = 64, image_size: int | None = 480):
        import torch
        from transformers import BlipForQuestionAnswering, BlipProcessor

        from eclipse_bench.models.loaders import load

        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        kw = {"torch_dtype": dtype} if dtype is not None else {}
        self.model = load(BlipForQuestionAnswering, model_id, **kw).to(device).eval()
        self.processor = load(BlipProcessor, model_id)
        tok = self.processor.tokenizer
        self.yes_id, self.no_id = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
        self.bos_id = int(self.model.config.text_config.bos_token_id)
        native = self.model.config.vision_config.image_size
        # T2I-CompBench feeds 480x480 bicubic images; a twin uses its own native size.
        self.image_size = image_size if (image_size and model_id == REAL_BLIP_VQA) else native
        self.interpolate = self.image_size != native
        self.calls = 0
        self._torch = torch

    def _pixels(self, images: Sequence[Any]):
        px = self.processor.image_processor(
            [im.convert("RGB") for im in images], size={"height": self.image_size, "width": self.image_size},
            resample=3, return_tensors="pt").pixel_values
        return px.to(self.device, self.model.dtype)

    def p_yes(self, images: Sequence[Any], questions: Sequence[str]) -> list[float]:
        """P(yes) for each (image, question) pair; pairs are processed `batch_size` at a time."""
        out: list[float] = []
        for start in range(0, len(questions), self.batch_size):
            out += self._p_yes_batch(images[start:start + self.batch_size], questions[start:start + self.batch_size])
        return out

    def _p_yes_batch(self, images: Sequence[Any], questions: Sequence[str]) -> list[float]:
        torch = self._torch
        self.calls += 1
        # one vision pass per distinct image in the batch
        uniq: dict[int, int] = {}
        order = [uniq.setdefault(id(im), len(uniq)) for im in images]
        distinct = list({id(im): im for im in images}.values())
        with torch.no_grad():
            vis = self.model.vision_model(pixel_values=self._pixels(distinct),
                                          interpolate_pos_encoding=self.interpolate)[0]
            vis = vis[torch.tensor(order, device=vis.device)]
            tok = self.processor.tokenizer(list(questions), padding="longest", truncation=True,
                                           max_length=MAX_WORDS, return_tensors="pt").to(self.device)
            q = self.model.text_encoder(input_ids=tok.input_ids, attention_mask=tok.attention_mask,
                                        encoder_hidden_states=vis,
                                        encoder_attention_mask=torch.ones(vis.shape[:-1], dtype=torch.long,
                                                                          device=vis.device),
                                        return_dict=False)[0]
            # The decoder must not see the question's padding. transformers 5 drops the cross-attention
            # mask inside BlipTextAttention, so decode each question length as its own sub-batch, unpadded.
            lengths = tok.attention_mask.sum(dim=1).tolist()
            logits = torch.empty(len(questions), 2)
            for length in sorted(set(lengths)):
                rows = torch.tensor([i for i, n in enumerate(lengths) if n == length], device=q.device)
                bos = torch.full((len(rows), 1), self.bos_id, device=self.device, dtype=torch.long)
                out = self.model.text_decoder(input_ids=bos, encoder_hidden_states=q[rows, :length]).logits[:, 0, :]
                logits[rows.cpu()] = out[:, [self.yes_id, self.no_id]].float().cpu()
        return [yes_probability(a, b) for a, b in logits.tolist()]

    # -- evidence provider interface ------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return f"blip-vqa:{self.model_id}:{self.image_size}"

    def evidence(self, images: Sequence[Any], items: Sequence[Any],
                 previous: Sequence[dict] | None = None) -> list[dict[str, Any]]:
        """One record per image: each noun phrase's question and P(yes)."""
        pairs_img, pairs_q, owners = [], [], []
        for i, (im, item) in enumerate(zip(images, items)):
            for phrase in item.spec.phrases:
                pairs_img.append(im)
                pairs_q.append(question_for(phrase))
                owners.append((i, phrase))
        probs = self.p_yes(pairs_img, pairs_q) if pairs_q else []
        records: list[dict[str, Any]] = [{"questions": []} for _ in images]
        for (i, phrase), q, p in zip(owners, pairs_q, probs):
            records[i]["questions"].append({"phrase": phrase, "question": q, "p_yes": round(p, 6)})
        return records
