"""Pairings: a prior and a decoder that share a CLIP image-embedding space.

Each pairing is a declarative entry (hub ids + generation settings) registered by its family's module in
eclipse_bench.bench.generation.families; loading happens only when a run needs the models. Tiny twins use `tiny:` ids that are
materialised once into the user cache and then loaded through the same loader as hub ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.registry import Registry
from eclipse_bench.prompts.spec import check_name

@dataclass(frozen=True)
class FamilyDef:
    """A decoder family: its generator class, default settings, constraints and checkpoint slots."""
    name: str
    generator: Any                                    # Generator subclass, constructed with (spec, device, dtype)
    defaults: dict[str, Any]                          # generation settings of the real pairings
    min_steps: int = 1                                # the least steps its schedulers can run
    prior_checkpoint: dict[str, Optional[str]] = field(default_factory=dict)  # prior kind -> field --prior-checkpoint sets
    # (spec, prior_only) -> the checkpoints (eclipse_bench.bench.core.keys.Checkpoint) its generator loads (prior_only:
    # what prior-eval loads)
    checkpoints: Any = None
    # name -> a PairingSpec made on the fly for names the registry does not hold (diffusers:<id>), or None
    pairing_for: Any = None
    # a model behind an API (openai-images): requests instead of batches, no checkpoints, no batch plan
    served: bool = False
    validate: Any = None                              # (spec) -> None, the family's own setting checks


@dataclass(frozen=True)
class PairingSpec:
    name: str
    family: str                         # decoder family: "karlo" | "kandinsky"
    prior: str                          # "eclipse" (one forward pass) | "diffusion"
    decoder_id: str                     # Karlo: the UnCLIP repo; Kandinsky: the 2.2 decoder repo
    prior_id: Optional[str] = None      # ECLIPSE prior checkpoint
    prior_pipeline_id: Optional[str] = None  # Kandinsky 2.2 prior repo (diffusion prior, image encoder)
    text_encoder_id: Optional[str] = None    # ECLIPSE-Kandinsky's CLIP bigG text encoder repo
    text_projection_dim: Optional[int] = None  # loaded explicitly: laion's bigG config lacks it (default 512)
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def with_checkpoints(self, prior: Optional[str] = None, decoder: Optional[str] = None) -> "PairingSpec":
        """The same pairing with another prior and/or decoder checkpoint (a path or a hub id)."""
        spec = self
        if prior:
            slot = FAMILIES.get(self.family).prior_checkpoint.get(self.prior)
            if slot is None and self.prior == "none":
                raise UserError(f"--prior-checkpoint: pairing {self.name!r} has no separate prior; pass another "
                                f"pipeline with --decoder-checkpoint")
            if slot is None:
                raise UserError(f"--prior-checkpoint: pairing {self.name!r} takes its {self.prior} prior from the "
                                f"decoder repository; use --decoder-checkpoint for a whole {self.family} checkpoint")
            spec = replace(spec, **{slot: prior})
        if decoder:
            spec = replace(spec, decoder_id=decoder)
        return spec

    def with_overrides(self, **kw: Any) -> "PairingSpec":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "prior": self.prior, "decoder_id": self.decoder_id,
                "prior_id": self.prior_id, "prior_pipeline_id": self.prior_pipeline_id,
                "text_encoder_id": self.text_encoder_id, "text_projection_dim": self.text_projection_dim,
                "settings": dict(self.settings)}

    @property
    def served(self) -> bool:
        return FAMILIES.get(self.family).served

    @property
    def checkpoint_fields(self) -> tuple:
        """The fields naming checkpoints whose identities key its images (none for a served model: the server
        holds it)."""
        return () if self.served else ("decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id")

    def validate_settings(self) -> None:
        """Setting values a pipeline can run with; Karlo's UnCLIP scheduler needs at least 2 steps."""
        fam = FAMILIES.get(self.family)
        if fam.validate is not None:
            fam.validate(self)
            return
        min_steps = fam.min_steps
        for key, value in self.settings.items():
            if value is None and key in ("steps", "guidance", "height", "width", "negative_prompt"):
                continue   # the pipeline's own default (diffusers pairings)
            if key == "negative_prompt":
                if not isinstance(value, str):
                    raise UserError(f"pairing {self.name!r}: setting negative_prompt must be a string")
            elif key == "steps" or key.endswith("_steps"):
                if not isinstance(value, int) or isinstance(value, bool) or value < min_steps:
                    raise UserError(f"pairing {self.name!r}: setting {key}={value!r} must be an integer >= {min_steps} "
                                    f"({self.family} schedulers); change it with --set {key}=N")
            elif key == "guidance" or key.endswith("_guidance"):
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                        or value < 0:
                    raise UserError(f"pairing {self.name!r}: setting {key}={value!r} must be a finite number >= 0")
            elif key in ("height", "width"):
                if not isinstance(value, int) or value < 64 or value % 64:
                    raise UserError(f"pairing {self.name!r}: setting {key}={value!r} must be a multiple of 64")

    @property
    def is_tiny(self) -> bool:
        return self.decoder_id.startswith("tiny:")


# Families and pairings register themselves in their own modules (eclipse_bench.bench.generation.families.*), found lazily.
FAMILIES: Registry[FamilyDef] = Registry("pairing family", packages=("eclipse_bench.bench.generation.families",))
PAIRINGS: Registry[PairingSpec] = Registry("pairing", packages=("eclipse_bench.bench.generation.families",))


def get_pairing(name: str) -> PairingSpec:
    """A registered pairing, or one a family makes for the name (diffusers:<hub id or directory>); else an error
    listing the close matches."""
    if name not in PAIRINGS:
        for fam in FAMILIES.names():
            make = FAMILIES.get(fam).pairing_for
            spec = make(name) if make is not None else None
            if spec is not None:
                return spec
    return PAIRINGS.get(name)


def register_family(fam: FamilyDef) -> FamilyDef:
    FAMILIES.register(fam.name, fam, help=fam.generator.__doc__ or "")
    return fam


def register_pairing(spec: PairingSpec) -> PairingSpec:
    PAIRINGS.register(spec.name, spec, help=spec.description)
    return spec


_FIELDS = ("family", "prior", "decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id",
           "text_projection_dim", "settings", "description")


def load_pairings_file(path: str) -> list[str]:
    """Register the pairings declared in a YAML file; returns their names.

    pairings:
      - name: my-prior-step-5000
        base: eclipse-karlo            # start from a registered pairing (optional)
        prior_id: /checkpoints/step-5000
        settings: {decoder_steps: 50}  # merged into the base's settings
    """
    p = Path(path).expanduser()
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--pairings {p}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"--pairings {p}: is a directory; pass a YAML file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"--pairings {p}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--pairings {p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    entries = doc.get("pairings") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserError(f"--pairings {p}: expected a top-level 'pairings:' list")
    names = []
    for i, e in enumerate(entries):
        where = f"--pairings {p}: pairings[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"].strip():
            raise UserError(f"{where}: each entry needs a 'name'")
        check_name(e["name"], f"{where}: name")
        unknown = sorted(set(e) - {"name", "base", *_FIELDS})
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: name, base, {', '.join(_FIELDS)}")
        if e.get("settings") is not None and not isinstance(e["settings"], dict):
            raise UserError(f"{where}: 'settings' must be a mapping")
        for k in ("family", "prior", "decoder_id", "prior_id", "prior_pipeline_id", "text_encoder_id", "description",
                  "base"):
            if e.get(k) is not None and not isinstance(e[k], str):
                raise UserError(f"{where}: {k!r} must be a string (got {e[k]!r})")
        if e.get("text_projection_dim") is not None and (not isinstance(e["text_projection_dim"], int)
                                                         or isinstance(e["text_projection_dim"], bool)):
            raise UserError(f"{where}: 'text_projection_dim' must be an integer")
        if e.get("base"):
            base = PAIRINGS.get(e["base"])
            fields = {k: e[k] for k in _FIELDS if k in e and k != "settings"}
            spec = replace(base, name=e["name"], settings={**base.settings, **(e.get("settings") or {})}, **fields)
        else:
            missing = [k for k in ("family", "prior", "decoder_id") if not e.get(k)]
            if missing:
                raise UserError(f"{where}: without 'base', {', '.join(missing)} must be given")
            if e["family"] not in FAMILIES:
                raise UserError(f"{where}: unknown family {e['family']!r}; families: {', '.join(FAMILIES.names())}")
            defaults = FAMILIES.get(e["family"]).defaults
            spec = PairingSpec(name=e["name"], **{k: e[k] for k in _FIELDS if k in e and k != "settings"},
                               settings={**defaults, **(e.get("settings") or {})})
        if spec.family not in FAMILIES or spec.prior not in FAMILIES.get(spec.family).prior_checkpoint:
            raise UserError(f"{where}: family must be one of {', '.join(FAMILIES.names())} and prior one of "
                            f"eclipse|diffusion")
        known = set(FAMILIES.get(spec.family).defaults)
        unknown_settings = sorted(set(e.get("settings") or {}) - known)
        if unknown_settings:
            raise UserError(f"{where}: unknown setting {unknown_settings[0]!r} for a {spec.family} pairing; allowed: "
                            f"{', '.join(sorted(known))}")
        try:
            spec.validate_settings()
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        if spec.prior == "eclipse" and not spec.prior_id:
            raise UserError(f"{where}: an eclipse prior needs 'prior_id'")
        if spec.name in PAIRINGS:
            raise UserError(f"{where}: pairing {spec.name!r} already exists; choose another name")
        PAIRINGS.register(spec.name, spec, help=spec.description or f"from {p.name}")
        names.append(spec.name)
    return names
