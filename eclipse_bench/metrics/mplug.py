"""DPG-Bench's judge: ModelScope's mPLUG-large VQA model (damo/mplug_visual-question-answering_coco_large_en), run as
DPG-Bench runs it through modelscope's pipeline, with modelscope's own model classes:

- the image: bicubic resize to the config's image_res (504), CLIP mean/std (modelscope's MPlugPreprocessor);
- the question: lowercased, BERT tokenizer, padded and truncated to 25 tokens;
- CLIP ViT-L/14 without its last layer, then linear + LayerNorm, the text encoder, the fusion encoder;
- beam search (the config's beam size 5, min 1, max 10 tokens, length penalty 0.6, [CLS] start, [SEP] end), the top
  beam decoded without special tokens; the answer counts when it is exactly "yes".

What is ours: each image is encoded once and all its questions go through the text and fusion encoders and the beam
search together (the reference makes one pipeline call, image encoding included, per question); the answers are the
reference's (tests/test_mplug.py compares them with modelscope's per-question path on a twin built from
modelscope's classes). Stored per question: the answer text and P("yes") at the first decoding step (for a soft
variant), so every rule is a pure function of evidence.

Why modelscope's classes and not a module of ours: measured here, the classes run under transformers 5 with three
small compatibility shims (below; transformers 5 dropped get_head_mask and invert_attention_mask from
PreTrainedModel and expects all_tied_weights_keys), and importing them costs 0.8 s; a module of ours would repeat
~2,800 lines of modelscope's mPLUG code. modelscope is an optional extra (`pip install "eclipse-bench[dpg]"`).
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.keys import MODELSCOPE_FILES, Checkpoint, modelscope_cache
from eclipse_bench.bench.core.tiny import register_tiny, resolve
from eclipse_bench.metrics.registry import ProviderDef, register_provider

REAL_MPLUG = "damo/mplug_visual-question-answering_coco_large_en"
MAX_QUESTION_TOKENS = 25
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
FILES = MODELSCOPE_FILES


@functools.cache
def modelscope_mplug():
    """modelscope's mPLUG module, made to run under transformers 5 (idempotent shims on its own classes only)."""
    try:
        from modelscope.models.multi_modal.mplug import modeling_mplug as mm  # lazy: modelscope
    except ImportError as exc:
        raise UserError(f"the DPG-Bench judge (mPLUG-large) needs modelscope: pip install 'eclipse-bench[dpg]' "
                        f"({exc})") from None
    import torch  # lazy: torch

    def get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
        return [None] * num_hidden_layers if head_mask is None else head_mask

    def invert_attention_mask(self, mask):
        ext = mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]
        ext = ext.to(dtype=self.dtype)
        return (1.0 - ext) * torch.finfo(self.dtype).min

    base = mm.BertPreTrainedModel
    if not hasattr(base, "get_head_mask"):
        base.get_head_mask = get_head_mask
    if not hasattr(base, "invert_attention_mask"):
        base.invert_attention_mask = invert_attention_mask
    if "all_tied_weights_keys" not in base.__dict__:
        original = base.init_weights

        def init_weights(self):
            if not hasattr(self, "all_tied_weights_keys"):
                self.all_tied_weights_keys = {}
            return original(self)

        base.init_weights = init_weights
        base.all_tied_weights_keys = {}
    return mm


def model_dir(model_id: str) -> Path:
    """A local directory of the checkpoint: a twin, a folder, or the ModelScope hub's cache (downloaded online)."""
    if model_id.startswith("tiny:"):
        return resolve(model_id)
    path = Path(model_id).expanduser()
    if path.is_dir():
        return path
    cached = modelscope_cache(model_id)
    if cached is not None:
        return cached
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("MODELSCOPE_OFFLINE") == "1":
        raise UserError(f"mPLUG checkpoint {model_id} is not in the ModelScope cache and downloads are off; on a "
                        f"connected machine run `modelscope download --model {model_id}` and copy "
                        f"~/.cache/modelscope here, or pass the folder")
    try:
        from modelscope.hub.snapshot_download import snapshot_download  # lazy: modelscope
    except ImportError as exc:
        raise UserError(f"mPLUG checkpoint {model_id}: needs modelscope to download: pip install "
                        f"'eclipse-bench[dpg]' ({exc})") from None
    return Path(snapshot_download(model_id))


def load_mplug(folder: Path, device: str = "cpu"):
    """modelscope's MPlugForVisualQuestionAnswering from a checkpoint folder (config.yaml, config_bert.json,
    vocab.txt, pytorch_model.bin), without the momentum copies training uses; the weights loaded as modelscope
    loads them ('model.' prefixes stripped)."""
    import torch  # lazy: torch

    mm = modelscope_mplug()
    from modelscope.models.multi_modal.mplug import MPlugConfig  # lazy: modelscope

    folder = Path(folder)
    cfg = MPlugConfig.from_yaml_file(str(folder / "config.yaml"))
    cfg.model_dir, cfg.distill = str(folder), False
    model = mm.MPlugForVisualQuestionAnswering(cfg)
    state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    state = state.get("model", state.get("module", state))
    state = {k.replace("model.", ""): v for k, v in state.items() if not k.split(".")[0].endswith("_m")}
    missing, _ = model.load_state_dict(state, strict=False)
    for module in model.modules():   # CLIP's blocks run through gradient checkpointing, a training device: off for
        if hasattr(module, "use_grad_ckp"):   # inference (the same values, without its warnings)
            module.use_grad_ckp = False
    if missing:
        raise UserError(f"mPLUG checkpoint {folder}: {len(missing)} weights missing (e.g. {missing[0]}); is it "
                        f"{REAL_MPLUG}?")
    return model.to(device).eval(), cfg


class MplugJudge:
    """DPG-Bench's questions answered by mPLUG-large, each image encoded once and its questions batched."""

    def __init__(self, model_id: str = REAL_MPLUG, device: str = "cpu", batch_size: int = 64,
                 revision: Optional[str] = None):
        import torch  # lazy: torch
        from torchvision import transforms  # lazy: torchvision
        from torchvision.transforms import InterpolationMode  # lazy: torchvision

        self.torch = torch
        self.model_id, self.device = model_id, device
        self.model, self.cfg = load_mplug(model_dir(model_id), device)
        self.tokenizer = self.model.tokenizer
        self.transform = transforms.Compose([
            transforms.Resize((self.cfg.image_res, self.cfg.image_res), interpolation=InterpolationMode.BICUBIC),
            transforms.ToTensor(), transforms.Normalize(mean=CLIP_MEAN, std=CLIP_STD)])
        self.yes_id = self.tokenizer.convert_tokens_to_ids("yes")
        self.calls = 0
        self.timings: dict[str, float] = {}   # seconds in encoding images, questions, decoding (benchmarks)

    @staticmethod
    def checkpoints(model_id: str) -> list:
        return [Checkpoint("DPG-Bench VQA judge (mPLUG-large)", model_id, kind="modelscope", expect=FILES)]

    @staticmethod
    def settings_for(model_id: str) -> dict:
        return {"protocol": "mPLUG VQA as modelscope's pipeline runs it: bicubic resize to image_res, CLIP "
                            "normalisation, lowercased question padded to 25 BERT tokens, beam search with the "
                            "config's beam size, min and max length, length penalty 0.6; the top beam, special "
                            "tokens skipped; P(yes) at the first decoding step; questions of an image batched"}

    def answer(self, image: Any, questions: Sequence[str]) -> list[dict]:
        """[{answer, p_yes}] of one image's questions, in order."""
        torch, model = self.torch, self.model
        clock = time.perf_counter()
        pixels = self.transform(image.convert("RGB")).unsqueeze(0).to(self.device)
        tok = self.tokenizer([q.lower() for q in questions], padding="max_length", truncation=True,
                             max_length=MAX_QUESTION_TOKENS, return_tensors="pt").to(self.device)
        with torch.no_grad():
            pixels = pixels.to(dtype=next(model.parameters()).dtype)
            image_embeds = model.visual_encoder.visual(pixels, skip_last_layer=True)
            if model.large:
                image_embeds = model.dropout(model.visn_layer_norm(model.visn_fc(image_embeds)))
            self.timings["image"] = self.timings.get("image", 0.0) + time.perf_counter() - clock
            clock = time.perf_counter()
            # the image encoded once; each question its own copy (the fusion encoder adds to it in place)
            image_embeds = image_embeds.expand(len(questions), -1, -1).contiguous()
            image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=self.device)
            text = model.text_encoder(tok.input_ids, attention_mask=tok.attention_mask, return_dict=True)
            image_out, question_out = model.fusion_encoder(
                encoder_embeds=text.last_hidden_state, attention_mask=tok.attention_mask,
                encoder_hidden_states=image_embeds, encoder_attention_mask=image_atts, return_dict=False)
            states = torch.cat([image_out, question_out], 1)
            atts = torch.cat([image_atts, tok.attention_mask], 1)
            self.timings["questions"] = self.timings.get("questions", 0.0) + time.perf_counter() - clock
            clock = time.perf_counter()
            best, first = self.beam_search(states, atts)
            # P(yes) at the first decoding step: every beam of a question starts alike, the first one is read
            p_yes = torch.softmax(first.float(), dim=-1)[:, self.yes_id]
            self.timings["decoding"] = self.timings.get("decoding", 0.0) + time.perf_counter() - clock
        return [{"answer": self.tokenizer.decode(best[i], skip_special_tokens=True), "p_yes": float(p_yes[i])}
                for i in range(len(questions))]

    def beam_search(self, states: Any, atts: Any) -> tuple[list, Any]:
        """The top beam of each question: the search modelscope's TextGenerator runs (beam size, min and max length
        from the config, length penalty ((5 + step + 1) / 6) ** 0.6, the end token banned before min length, a
        question done when its best beam ends, its finished beams ranked by penalised score), for all the
        questions at once, with each decoder layer's cross-attention keys and values computed once per question
        (the search would project the same image-and-question states again for every beam at every step). Also
        returns the first step's logits of each question."""
        torch, gen = self.torch, self.model.beam_generator
        beam, end, alpha = gen.beam_size, gen.end_token, gen.alpha
        n = states.size(0)
        open_q = torch.arange(n, device=states.device)             # questions still searching
        seqs = torch.full((n * beam, 1), gen.start_token, dtype=torch.long, device=states.device)
        score = torch.tensor([0.0] + [float("-inf")] * (beam - 1), device=states.device).repeat(n)
        hyps: list[list] = [[] for _ in range(n)]
        best: list = [None] * n
        with _cached_cross_attention(self.model.text_decoder, states) as rows:
            for step in range(gen.max_length):
                owner = open_q.repeat_interleave(beam)
                rows.index = owner
                logits = self.model.text_decoder(
                    seqs, encoder_hidden_states=states[:1].expand(len(owner), -1, -1),
                    encoder_attention_mask=atts.index_select(0, owner), return_dict=True, reduction="none"
                ).logits[:, -1, :]
                if step == 0:
                    first = logits.view(n, beam, -1)[:, 0].clone()
                logp = torch.log(torch.softmax(logits, dim=-1))
                if step < gen.min_length:
                    logp[:, end] = -1e20
                vocab_rows = logp.size(-1)
                penalty = ((5.0 + (step + 1)) / 6.0) ** alpha
                top, flat = ((logp + score.unsqueeze(1)) / penalty).reshape(-1, beam * vocab_rows).topk(beam, dim=-1)
                score = (top * penalty).view(-1)
                parent = torch.div(flat, vocab_rows, rounding_mode="floor")
                token = flat.fmod(vocab_rows)
                rows_of = (parent + torch.arange(0, len(open_q) * beam, beam, device=states.device).unsqueeze(1))
                seqs = torch.cat([seqs.index_select(0, rows_of.view(-1)), token.view(-1, 1)], -1)
                ended = token.eq(end)
                if step + 1 == gen.max_length:
                    ended.fill_(True)
                done = ended[:, 0]
                grouped = seqs.view(-1, beam, seqs.size(-1))
                for i in range(len(open_q)):
                    q = int(open_q[i])
                    for j in (range(beam) if done[i] else ended[i].nonzero().view(-1).tolist()):
                        hyps[q].append((top[i, j], grouped[i, j]))
                    if done[i]:   # ranked by penalised score; equal scores keep the order they finished in
                        best[q] = sorted(hyps[q], key=lambda h: h[0], reverse=True)[0][1]
                keep = (~done).nonzero().view(-1)
                if len(keep) == 0:
                    break
                open_q = open_q.index_select(0, keep)
                score = score.view(-1, beam).index_select(0, keep).view(-1)
                seqs = grouped.index_select(0, keep).view(-1, seqs.size(-1))
        # decoded as the reference decodes its top beam: special tokens skipped
        return [b.tolist() for b in best], first

    def evidence(self, images: Sequence[Any], items: Sequence[Any],
                 previous: Sequence[dict] | None = None) -> list[dict[str, Any]]:
        records = []
        for im, item in zip(images, items):
            questions = [q.question for q in item.spec.questions]
            got = self.answer(im, questions) if questions else []
            self.calls += 1
            records.append({"model": self.model_id, "image_size": list(im.size), "questions": [
                {"question": q, **a} for q, a in zip(questions, got)]})
        return records


class _Rows:
    """The question each decoded sequence belongs to, set by the search at every step."""
    index: Any = None


class _CachedProjection:
    """A cross-attention key or value projection whose output for each question's states is computed once; a call
    returns the rows of the sequences alive (their questions: `rows.index`)."""

    def __init__(self, linear: Any, states: Any, rows: _Rows):
        self.out, self.rows = linear(states), rows

    def __call__(self, x: Any) -> Any:
        return self.out.index_select(0, self.rows.index)


class _cached_cross_attention:
    """Within the block, every cross-attention layer of the decoder projects the encoder states once per question."""

    def __init__(self, decoder: Any, states: Any):
        self.layers = [layer.crossattention.self for layer in decoder.bert.encoder.layer
                       if getattr(layer, "has_cross_attention", False)]
        self.states, self.rows, self.saved = states, _Rows(), []

    def __enter__(self) -> _Rows:
        for att in self.layers:
            self.saved.append((att, att.key, att.value))
            key, value = _CachedProjection(att.key, self.states, self.rows), \
                _CachedProjection(att.value, self.states, self.rows)
            object.__setattr__(att, "key", key)      # plain attributes, not submodules: restored on exit
            object.__setattr__(att, "value", value)
        return self.rows

    def __exit__(self, *exc: Any) -> None:
        for att, _, _ in self.saved:   # the registered projections show through again
            del att.__dict__["key"], att.__dict__["value"]


def build_mplug(out: Path) -> None:
    """Stands in for mPLUG-large: modelscope's MPlugForVisualQuestionAnswering from its own configs, tiny (CLIP
    ViT-L/14's 1024-wide vision tower, which modelscope's position-embedding code assumes, with 2 layers on 56 px
    images; 32-wide BERT: an encoder and a decoder layer, two fusion layers, the second of the joint image-text kind), a word vocabulary (BERT's special tokens at
    their ids: [CLS] 101 starts a beam, [SEP] 102 ends it) and the checkpoint files of the released model. It
    listens: its output head is scaled so that answers and P(yes) move with the image and the question."""
    import torch  # lazy: torch

    words = ["yes", "no", "a", "the", "is", "are", "there", "red", "blue", "green", "car", "dog", "cat", "field",
             "table", "two", "three", "eight", "one", "in", "on", "of", "left", "right", "image", "photo", "truck",
             "cabbages", "eggplants", "purple", "white", "black", "sky", "tree", "man", "woman", "it", "dusk"]
    fill = words + [f"w{i}" for i in range(99 - len(words))]
    vocab = ["[PAD]"] + fill[:99] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"x{i}" for i in range(24)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    bert = dict(architectures=["BertForMaskedLM"], attention_probs_dropout_prob=0.0, hidden_act="gelu",
                hidden_dropout_prob=0.0, hidden_size=32, initializer_range=0.3, intermediate_size=64,
                layer_norm_eps=1e-12, max_position_embeddings=64, model_type="bert", num_attention_heads=2,
                num_hidden_layers=2, pad_token_id=0, type_vocab_size=2, vocab_size=len(vocab), encoder_width=32,
                text_encoder_layers=1, fusion_layers=2, text_decode_layers=1, stride_layer=1)
    (out / "config_bert.json").write_text(json.dumps(bert, indent=1))
    cfg = dict(task="visual-question-answering", bert_config="config_bert.json", image_res=56, vision_width=1024,
               distill=False, clip_name="ViT-L-14", min_length=1, max_length=10, beam_size=5,
               text_encoder="bert-base-uncased", text_decoder="bert-base-uncased", clip_embed_dim=32,
               clip_image_resolution=56, clip_vision_layers=2, clip_vision_width=1024, clip_vision_patch_size=14,
               clip_context_length=16, clip_vocab_size=64, clip_transformer_width=32, clip_transformer_heads=2,
               clip_transformer_layers=1)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    (out / "configuration.json").write_text(json.dumps({"framework": "pytorch", "task": "visual-question-answering",
                                                        "model": {"type": "mplug"},
                                                        "pipeline": {"type": "visual-question-answering"}}))
    mm = modelscope_mplug()
    from modelscope.models.multi_modal.mplug import MPlugConfig  # lazy: modelscope

    config = MPlugConfig.from_yaml_file(str(out / "config.yaml"))
    config.model_dir = str(out)
    torch.manual_seed(0)
    model = mm.MPlugForVisualQuestionAnswering(config).eval()
    with torch.no_grad():
        pos = model.visual_encoder.visual.positional_embedding   # modelscope leaves it zero until a checkpoint loads
        pos.copy_(torch.randn(pos.shape) * 0.5)
        head = model.text_decoder.cls.predictions.decoder.weight   # answers "yes" / "no", then [SEP], move
        rows = [vocab.index(w) for w in ("yes", "no", "[SEP]")]
        head[rows] *= 6.0
    torch.save(model.state_dict(), out / "pytorch_model.bin")


register_tiny("mplug", build_mplug)


def report_view(record: dict, metric) -> dict:
    return {"lines": [f"{q['question']} -> {q['answer']!r} (P(yes) {q['p_yes']:.3f})"
                      for q in record.get("questions", [])]}


def reads(item) -> dict:
    return {"questions": [q.question for q in item.spec.questions]}


register_provider(ProviderDef("mplug", "eclipse_bench.metrics.mplug:MplugJudge", REAL_MPLUG, "tiny:mplug",
                              "DPG-Bench's VQA judge: mPLUG-large's answer to each question (beam search), batched "
                              "per image", view=report_view, reads=reads, record_fields=(("questions", list),)))
