"""BLIP VQA evidence: P(yes) for one question per noun phrase, batched.

As T2I-CompBench (BLIPvqa_eval, configs/vqa.yaml): PIL bicubic resize to 480 px, the question's first token
replaced by [ENC], P(yes) / (P(yes) + P(no)) from the first decoder token after [DEC].

transformers 5's BlipForQuestionAnswering.forward() no longer returns decoder logits, so the first
answer token is scored through the submodules: vision_model -> text_encoder (the question,
cross-attending the image) -> text_decoder on the decoder start token. The decoder attends only the
question's real tokens, so a batched answer equals an unbatched one up to kernel rounding.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import Checkpoint
from eclipse_bench.bench.core.loaders import load
from eclipse_bench.bench.core.tiny import HIDDEN, register_tiny
from eclipse_bench.bench.core.tokenizers import build_tiny_bert_tokenizer
from eclipse_bench.metrics.base import yes_probability
from eclipse_bench.metrics.registry import ProviderDef, register_provider

REAL_BLIP_VQA = "Salesforce/blip-vqa-capfilt-large"
MAX_WORDS = 50        # pre_question's word limit
MAX_TOKENS = 35       # the question tokenizer's max_length
REFERENCE_IMAGE_SIZE = 480  # T2I-CompBench's configs/vqa.yaml


def preprocess_question(text: str, max_words: int = MAX_WORDS) -> str:
    """Lowercase; strip . ! " ( ) * # : ; ~ (keep '?'); at most `max_words` words."""
    q = re.sub(r"[.!\"()*#:;~]", "", text.lower()).rstrip(" ")
    words = q.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else q


def question_for(phrase: str) -> str:
    return preprocess_question(phrase + "?")


def reference_image_size(vision_config: Any) -> int:
    """The input size the reference protocol uses for a checkpoint, decided by its architecture: BLIP's
    ViT-B/16 VQA (hidden 768, patch 16; the hub conversion stores 384 px) runs at 480 px as in
    T2I-CompBench; any other checkpoint (a tiny twin) at its own size."""
    if int(vision_config.hidden_size) == 768 and int(vision_config.patch_size) == 16:
        return REFERENCE_IMAGE_SIZE
    return int(vision_config.image_size)


def pil_bicubic_pixels(images: Sequence[Any], size: int, mean: Sequence[float], std: Sequence[float]):
    """The reference's test transform: PIL bicubic resize to size x size, to [0, 1], normalise."""
    import torch  # lazy: torch

    arr = np.stack([np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
                    for im in images])
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class BlipVqa:
    """Answers yes/no questions about images with a BLIP VQA model, as T2I-CompBench's BLIP-VQA does."""

    def __init__(self, model_id: str = REAL_BLIP_VQA, device: str = "cpu", dtype: Any = None,
                 batch_size: int = 64, image_size: int | None = None, revision: str | None = None):
        import torch  # lazy: torch
        from transformers import BlipForQuestionAnswering, BlipProcessor  # lazy: transformers

        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        kw = {"torch_dtype": dtype} if dtype is not None else {}
        self.model = load(BlipForQuestionAnswering, model_id, revision=revision, **kw).to(device).eval()
        self.processor = load(BlipProcessor, model_id, revision=revision)
        tok = self.tokenizer = self.processor.tokenizer
        self.yes_id, self.no_id = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
        self.bos_id = int(self.model.config.text_config.bos_token_id)
        # The reference replaces the question's first token ([CLS]) by [ENC]; transformers keeps [CLS].
        self.enc_id = tok.convert_tokens_to_ids("[ENC]")
        if self.enc_id is None or self.enc_id == tok.unk_token_id:
            raise UserError(f"BLIP checkpoint {model_id}: its tokenizer has no [ENC] token, which the reference "
                            f"puts first in every question; use a BLIP VQA checkpoint converted with [ENC]")
        vision = self.model.config.vision_config
        native = int(vision.image_size)
        self.image_size = int(image_size) if image_size else reference_image_size(vision)
        self.interpolate = self.image_size != native
        ip = self.processor.image_processor
        self.mean, self.std = list(ip.image_mean), list(ip.image_std)
        self.calls = 0
        self._torch = torch

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("vqa model", model_id)]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        """Every setting that changes this provider's output, known before loading it (evidence keys)."""
        return {"image_size": "reference (480 for BLIP ViT-B/16)", "resize": "pil-bicubic", "first_token": "[ENC]",
                "max_words": MAX_WORDS, "max_tokens": MAX_TOKENS}

    def _pixels(self, images: Sequence[Any]):
        return pil_bicubic_pixels(images, self.image_size, self.mean, self.std).to(self.device, self.model.dtype)

    def encode_questions(self, questions: Sequence[str]):
        """Tokenised questions (padded to the longest) with [ENC] as the first token."""
        tok = self.tokenizer(list(questions), padding="longest", truncation=True, max_length=MAX_TOKENS,
                             return_tensors="pt")
        tok.input_ids[:, 0] = self.enc_id
        return tok.to(self.device)

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
            tok = self.encode_questions(questions)
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

    def evidence(self, images: Sequence[Any], items: Sequence[Any],
                 previous: Sequence[dict] | None = None) -> list[dict[str, Any]]:
        """One record per image: each noun phrase's question and P(yes). Each image is answered in passes of its
        own (one vision pass, its questions batched together), so its record never depends on the other images
        of a chunk: not even through the rounding of a batched kernel."""
        records: list[dict[str, Any]] = []
        for im, item in zip(images, items):
            phrases = list(item.spec.phrases)
            qs = [question_for(p) for p in phrases]
            probs = self.p_yes([im] * len(qs), qs) if qs else []
            rec: dict[str, Any] = {"questions": [], "image_size": self.image_size}
            for phrase, q, p in zip(phrases, qs, probs):
                ids = self.encode_questions([q]).input_ids[0].cpu()
                rec["questions"].append({"phrase": phrase, "question": q, "p_yes": p,
                                         "input": self.tokenizer.decode(ids[ids != self.tokenizer.pad_token_id])})
            records.append(rec)
        return records


# -- tiny twin (offline tests and tiny-* runs) ------------------------------------------------------------

def build_blip_vqa(out: Path) -> None:
    """Stands in for Salesforce/blip-vqa-capfilt-large (BlipForQuestionAnswering + BlipProcessor)."""
    import torch  # lazy: torch
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor  # lazy: transformers

    tok = build_tiny_bert_tokenizer()
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, max_position_embeddings=64, bos_token_id=tok.bos_token_id,
                         pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id, initializer_range=0.2),
        # wider than the default init (vision: 1e-10!) so answers depend on the image and the question
        vision_config=dict(hidden_size=HIDDEN, image_size=32, patch_size=8, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37, initializer_range=0.2),
        projection_dim=HIDDEN,
    )
    torch.manual_seed(0)
    model = BlipForQuestionAnswering(cfg).eval()
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32}, resample=3,
                                         image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711])
    model.save_pretrained(out)
    BlipProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(out)


register_tiny("blip-vqa", build_blip_vqa)


def report_view(record: dict, metric) -> dict:
    """The drill-down's lines for VQA evidence: each question (as the model saw it) with its P(yes)."""
    return {"questions": [{"q": q["question"], "p": f"{float(q['p_yes']):.4f}", "input": q.get("input", "")}
                          for q in record.get("questions", [])]}


def reads(item) -> dict:
    """The spec fields the VQA evidence depends on: one question per noun phrase."""
    return {"phrases": list(item.spec.phrases)}


register_provider(ProviderDef("vqa", "eclipse_bench.metrics.vqa:BlipVqa", REAL_BLIP_VQA, "tiny:blip-vqa",
                              "BLIP VQA P(yes) per noun phrase", view=report_view, reads=reads,
                              record_fields=(("questions", list),)))
