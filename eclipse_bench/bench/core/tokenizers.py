"""Tokenizers that can be built offline.

- The real CLIP BPE tokenizer (49,408 tokens), from the vocabulary file that open_clip ships
  in its wheel: the ids equal open_clip's and the hub's CLIP tokenizers'.
- A small BERT WordPiece tokenizer for tiny BLIP twins, built in memory.
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile


@functools.lru_cache(maxsize=1)
def _byte_symbols() -> list[str]:
    """The 256 stand-ins byte-level BPE uses for raw bytes, in CLIP's vocabulary order:
    the printable bytes as themselves first, then the rest mapped to code points from 256 up."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(rest))]


@functools.lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from open_clip.tokenizer import default_bpe  # lazy: open_clip

    with gzip.open(default_bpe(), "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    # 48,894 merges: the file's first line is a header; CLIP keeps 49152 - 256 - 2 of them.
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_clip_tokenizer(model_max_length: int = 77):
    """The real CLIP tokenizer, without a download."""
    from transformers import CLIPTokenizer  # lazy: transformers

    vocab, merges = clip_vocab_and_merges()
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges))
    tok.model_max_length = model_max_length  # unset, it is 1e30 and max_length padding breaks
    return tok


TINY_BERT_WORDS = (
    "yes no a an the of and with on in to at near next left right top bottom side under above below "
    "red orange yellow green blue purple pink brown black white gray grey gold silver "
    "round square oval triangular rectangular circular cubic spherical cylindrical "
    "wooden metallic plastic glass fabric leather rubber fluffy furry smooth rough "
    "cat dog car bench book cup bowl chair table apple banana bird horse sheep cow bear "
    "person man woman boy girl bottle vase clock phone laptop ball box hat bag shoe "
    "is are there what color shape how many one two three four five six seven eight"
).split()


def build_tiny_bert_tokenizer():
    """A BERT WordPiece tokenizer with a small vocabulary, for tiny BLIP twins.

    The BLIP answer ids of the real vocabulary (yes = 2748, no = 2053, [DEC] = 30522) do not fit a
    tiny vocabulary; the VQA code looks ids up through the tokenizer, so any vocabulary works.
    """
    from transformers import BertTokenizer  # lazy: transformers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789?.,'-")
    pieces = ["##" + c for c in chars]
    words = list(dict.fromkeys(TINY_BERT_WORDS))
    vocab = specials + words + [c for c in chars if c not in words] + pieces
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(vocab) + "\n")
        tok = BertTokenizer(path, bos_token="[DEC]", do_lower_case=True)
    tok.model_max_length = 512
    return tok
