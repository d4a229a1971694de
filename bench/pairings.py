"""Pairings: a prior and a decoder that share a CLIP image-embedding space.

Each pairing is a declarative entry (hub ids + generation settings); loading happens in
eclipse_bench.models.loaders, only when a run needs the models. Tiny twins use `tiny:` ids that are
materialised once into the user cache and then loaded through the same loader as hub ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from eclipse_bench.registry import Registry

KARLO = "kakaobrain/karlo-v1-alpha"
KANDINSKY_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
KANDINSKY_DECODER = "kandinsky-community/kandinsky-2-2-decoder"
ECLIPSE_KARLO = "ECLIPSE-Community/ECLIPSE_Karlo_Prior"
ECLIPSE_KANDINSKY = "ECLIPSE-Community/ECLIPSE_KandinskyV22_Prior"
CLIP_BIGG = "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"

# Defaults from the reference pipelines (shared/reference/eclipse-and-decoders.md).
KARLO_SETTINGS = {"prior_steps": 25, "prior_guidance": 4.0, "decoder_steps": 25, "decoder_guidance": 8.0,
                  "super_res_steps": 7}
KANDINSKY_SETTINGS = {"prior_steps": 25, "prior_guidance": 4.0, "decoder_steps": 50, "decoder_guidance": 4.0,
                      "height": 512, "width": 512}
TINY_KARLO_SETTINGS = {**KARLO_SETTINGS, "prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2}
TINY_KANDINSKY_SETTINGS = {**KANDINSKY_SETTINGS, "prior_steps": 2, "decoder_steps": 2, "height": 64, "width": 64}


@dataclass(frozen=True)
class PairingSpec:
    name: str
    family: str                         # decoder family: "karlo" | "kandinsky"
    prior: str                          # "eclipse" (one forward pass) | "diffusion"
    decoder_id: str                     # Karlo: the UnCLIP repo; Kandinsky: the 2.2 decoder repo
    prior_id: Optional[str] = None      # ECLIPSE prior checkpoint
    prior_pipeline_id: Optional[str] = None  # Kandinsky 2.2 prior repo (diffusion prior, image encoder)
    text_encoder_id: Optional[str] = None    # ECLIPSE-Kandinsky's CLIP bigG text encoder repo
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def with_overrides(self, **kw: Any) -> "PairingSpec":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "prior": self.prior, "decoder_id": self.decoder_id,
                "prior_id": self.prior_id, "prior_pipeline_id": self.prior_pipeline_id,
                "text_encoder_id": self.text_encoder_id, "settings": dict(self.settings)}

    @property
    def is_tiny(self) -> bool:
        return self.decoder_id.startswith("tiny:")


PAIRINGS: Registry[PairingSpec] = Registry("pairing")


def _add(spec: PairingSpec) -> None:
    PAIRINGS.register(spec.name, spec, help=spec.description)


_add(PairingSpec("eclipse-karlo", "karlo", "eclipse", KARLO, prior_id=ECLIPSE_KARLO, settings=KARLO_SETTINGS,
                 description="ECLIPSE prior (33M, ViT-L/14) + Karlo decoder and super-res"))
_add(PairingSpec("karlo", "karlo", "diffusion", KARLO, settings=KARLO_SETTINGS,
                 description="Karlo v1 alpha: its diffusion prior + decoder and super-res"))
_add(PairingSpec("eclipse-kandinsky", "kandinsky", "eclipse", KANDINSKY_DECODER, prior_id=ECLIPSE_KANDINSKY,
                 prior_pipeline_id=KANDINSKY_PRIOR, text_encoder_id=CLIP_BIGG, settings=KANDINSKY_SETTINGS,
                 description="ECLIPSE prior (34M, ViT-bigG/14) + Kandinsky 2.2 decoder"))
_add(PairingSpec("kandinsky", "kandinsky", "diffusion", KANDINSKY_DECODER, prior_pipeline_id=KANDINSKY_PRIOR,
                 settings=KANDINSKY_SETTINGS, description="Kandinsky 2.2: its diffusion prior + decoder"))

_add(PairingSpec("tiny-eclipse-karlo", "karlo", "eclipse", "tiny:karlo", prior_id="tiny:eclipse-karlo-prior",
                 settings=TINY_KARLO_SETTINGS, description="offline twin of eclipse-karlo (tiny random weights)"))
_add(PairingSpec("tiny-karlo", "karlo", "diffusion", "tiny:karlo", settings=TINY_KARLO_SETTINGS,
                 description="offline twin of karlo (tiny random weights)"))
_add(PairingSpec("tiny-eclipse-kandinsky", "kandinsky", "eclipse", "tiny:kandinsky-decoder",
                 prior_id="tiny:eclipse-kandinsky-prior", prior_pipeline_id="tiny:kandinsky-prior",
                 text_encoder_id="tiny:clip-text", settings=TINY_KANDINSKY_SETTINGS,
                 description="offline twin of eclipse-kandinsky (tiny random weights)"))
_add(PairingSpec("tiny-kandinsky", "kandinsky", "diffusion", "tiny:kandinsky-decoder",
                 prior_pipeline_id="tiny:kandinsky-prior", settings=TINY_KANDINSKY_SETTINGS,
                 description="offline twin of kandinsky (tiny random weights)"))
