"""What every pairing family's generator shares: seeded batches, stage timings, CLIP text encoding, the
embedding-size check, PIL conversion. The families themselves live in eclipse_bench.bench.generation.families.

Every image has its own CPU torch.Generator seeded with its seed; all of that image's noise (prior
noise, decoder latents, scheduler noise, super-res latents) is drawn from it in a fixed order, so an
image does not depend on the batch it was generated in. Stage times are accumulated in `timings`.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from PIL import Image
import torch

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.loaders import default_device, load
from eclipse_bench.bench.generation.pairings import FAMILIES, PairingSpec

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class TextEncoding:
    embeds: torch.Tensor   # (B, D) projected text embedding
    hidden: torch.Tensor   # (B, T, H) last hidden state
    mask: torch.Tensor     # (B, T) bool, True = real token

    def index(self, idx: torch.Tensor) -> "TextEncoding":
        return TextEncoding(self.embeds[idx], self.hidden[idx], self.mask[idx])

    @staticmethod
    def cat(a: "TextEncoding", b: "TextEncoding") -> "TextEncoding":
        return TextEncoding(torch.cat([a.embeds, b.embeds]), torch.cat([a.hidden, b.hidden]),
                            torch.cat([a.mask, b.mask]))


class ClipTextEncoder:
    def __init__(self, tokenizer: Any, model: Any, device: str):
        self.tokenizer, self.model, self.device = tokenizer, model, device
        if getattr(tokenizer, "model_max_length", 0) > 10_000:
            tokenizer.model_max_length = 77

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str], compact: bool = False) -> TextEncoding:
        """compact: padded to the longest prompt, not to 77 tokens (for the ECLIPSE prior, whose result does not
        depend on padding; several times less work)."""
        pad = {"padding": "longest"} if compact else {"padding": "max_length"}
        tok = self.tokenizer(list(prompts), max_length=self.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt", **pad)
        out = self.model(tok.input_ids.to(self.device))
        return TextEncoding(out.text_embeds, out.last_hidden_state, tok.attention_mask.bool().to(self.device))

    @torch.no_grad()
    def embeds_only(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Projected text embeddings only, padded to the longest text of each batch: CLIP's causal mask and EOS
        pooling make them equal to the 77-token padded ones, at a fraction of the compute."""
        out = []
        for start in range(0, len(texts), batch_size):
            tok = self.tokenizer(list(texts[start:start + batch_size]), padding="longest", truncation=True,
                                 max_length=self.tokenizer.model_max_length, return_tensors="pt")
            out.append(self.model(tok.input_ids.to(self.device)).text_embeds)
        return torch.cat(out)

    def encode_batch(self, prompts: Sequence[str], compact: bool = False) -> TextEncoding:
        """Encode each distinct prompt once, then index back to the batch order."""
        unique = list(dict.fromkeys(prompts))
        enc = self(unique, compact)
        pos = {p: i for i, p in enumerate(unique)}
        return enc.index(torch.tensor([pos[p] for p in prompts], device=enc.embeds.device))

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)


def seeded_randn(shape: tuple[int, ...], gens: list[torch.Generator], device: str, dtype: torch.dtype) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor  # lazy: diffusers

    return randn_tensor(shape, generator=gens, device=torch.device(device), dtype=dtype)


def prior_out_dim(prior: Any) -> int:
    cfg = prior.config
    return int(cfg.get("clip_embed_dim") or cfg["embedding_dim"])


def prior_in_dim(prior: Any) -> int:
    cfg = prior.config
    return int(cfg.get("embedding_proj_dim") or cfg["embedding_dim"])


class Generator:
    """Base: stage timings, a seeded batch API and the embedding-size check."""

    stages: tuple[str, ...] = ()

    def __init__(self, spec: PairingSpec, device: str, dtype: torch.dtype, prior_only: bool = False,
                 revisions: Optional[dict] = None):
        self.spec, self.device, self.dtype = spec, device, dtype
        self.revisions = dict(revisions or {})   # hub id -> the commit its keys name: loads are pinned to it
        self.prior_only = prior_only   # load the text encoder and the prior only (prior-eval): no decoder
        self.settings = dict(spec.settings)
        self.timings: dict[str, float] = {}
        self.peak_memory_mb: dict[str, float] = {}   # per stage, CUDA only
        self.calls = 0  # batches run (tests count model work with it)

    def load(self, cls: Any, model_id: str, subfolder: Optional[str] = None, **kwargs: Any) -> Any:
        """One component, from the commit the run's keys name (eclipse_bench.bench.core.loaders.load)."""
        return load(cls, model_id, subfolder, revision=self.revisions.get(model_id), **kwargs)

    @contextlib.contextmanager
    def stage(self, name: str):
        cuda = self.device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        yield
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
            self.peak_memory_mb[name] = round(max(peak, self.peak_memory_mb.get(name, 0.0)), 1)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def check_dims(self, what: str, produced: int, expected: int) -> None:
        if produced != expected:
            raise UserError(
                f"pairing {self.spec.name!r}: {what} ({produced} vs {expected}); the prior and the decoder must "
                f"share one CLIP embedding space: use a prior checkpoint trained for this decoder"
            )

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seeds: Sequence[int]) -> list:
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        self.calls += 1
        return self._generate(list(prompts), gens)

    def _generate(self, prompts: list[str], gens: list[torch.Generator]) -> list:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, prompts: Sequence[str], seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(text embeddings, predicted image embeddings) of the prompts: the prior stage alone, with the same
        seeded noise the images of `generate` start from."""
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        self.calls += 1
        return self._embed(list(prompts), gens)

    def _embed(self, prompts: list[str], gens: list[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """Projected text embeddings in the decoder's CLIP space (the text tower that defines it)."""
        raise NotImplementedError

    def conv_modules(self) -> list:
        """The convolutional models (UNets, VQ decoder) that --channels-last converts."""
        return []


def environment(device: str) -> str:
    """Where an image was made, as far as it changes the rounding of its bytes: the device (a CPU's vector
    instruction set, a GPU's name), torch and the CPU thread count (measured: 1 and 2 threads round every image of
    every tiny pairing differently; docs/performance.md)."""
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    if device.startswith("mps"):
        return f"mps, torch {torch.__version__}"
    return f"cpu {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def release_memory() -> None:
    """Give memory held by dropped models back (Python's cycles, then CUDA's cache where there is one)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def to_pil(images: torch.Tensor) -> list:
    """(B, 3, H, W) in [0, 1] -> PIL images, quantised like diffusers' numpy_to_pil."""
    arr = images.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
    return [Image.fromarray((a * 255).round().astype("uint8")) for a in arr]


def load_generator(spec: PairingSpec, device: Optional[str] = None, dtype: str = "fp32",
                   prior_only: bool = False, channels_last: bool = False, revisions: Optional[dict] = None) -> Generator:
    from diffusers.utils import logging as diffusers_logging  # lazy: diffusers

    diffusers_logging.disable_progress_bar()
    device = device or default_device()
    if dtype not in DTYPES:
        raise UserError(f"unknown --dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")

    gen = FAMILIES.get(spec.family).generator(spec, device, DTYPES[dtype], prior_only=prior_only, revisions=revisions)
    if channels_last:  # measured: 1-15% faster decoders on CPU (README, performance); outputs within rounding
        for module in gen.conv_modules():
            module.to(memory_format=torch.channels_last)
    return gen
