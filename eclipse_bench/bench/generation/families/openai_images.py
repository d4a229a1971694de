"""Image models behind the OpenAI images API (`POST /v1/images/generations`: gpt-image-1, DALL-E 3, and local
servers that implement it) as a pairing: `--prior openai-images:<model>@<base URL>`, e.g.
`openai-images:gpt-image-1@https://api.openai.com/v1`. The key is read from $ECLIPSE_BENCH_API_KEY (else
$OPENAI_API_KEY) and never stored.

Settings (`--set`): size (default 1024x1024), quality, n (images per request; DALL-E 3 takes 1), send_seed (false:
the API takes no seed, so seeds are "not controllable" and image n of a prompt is the n-th image received for it;
true: each request carries the image's seed as `seed`, for local servers that honour one). Sample keys name the
model, the settings (size, quality, n, send_seed), the prompt and the image number; not the URL (the same model
served elsewhere keeps its images) and not the key. Images are stored under their sha256 as they arrive and never
requested again (generation.stage.generate_served).
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any, Optional

import httpx
from PIL import Image, UnidentifiedImageError

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.core.served import ServedClient, check_base_url
from eclipse_bench.bench.generation.pairings import FamilyDef, PairingSpec, register_family

PREFIX = "openai-images:"
SETTINGS: dict[str, Any] = {"endpoint": None, "size": "1024x1024", "quality": None, "n": 1, "send_seed": False}


class ServedImages:
    """A served image model: `request(prompt, n, seed)` returns the PNG bytes of the images it sent back."""

    stages = ("requests",)

    def __init__(self, spec: PairingSpec, device: str = "cpu", dtype: Any = None, prior_only: bool = False,
                 revisions: Optional[dict] = None):
        if prior_only:
            raise UserError(f"pairing {spec.name!r} is a served image model without a separate prior; prior-eval "
                            f"judges the prior of an unCLIP pairing")
        self.spec, self.settings = spec, dict(spec.settings)
        self.client = ServedClient(self.settings["endpoint"], f"pairing {spec.name}")
        self.entry = self.client.model(spec.decoder_id)
        self.timings: dict = {}
        self.peak_memory_mb: dict = {}
        self.calls = 0

    def request(self, prompt: str, n: int, seed: Optional[int]) -> list[bytes]:
        s = self.settings
        body: dict[str, Any] = {"model": self.spec.decoder_id, "prompt": prompt, "n": n, "size": s["size"]}
        if s.get("quality"):
            body["quality"] = s["quality"]
        if s.get("send_seed"):
            body["seed"] = seed
        images = self.client.request("POST", "images/generations", body, check=lambda d: _images_ok(d, n),
                                     parse=lambda d: [_png(item) for item in d["data"][:n]])
        self.calls += 1
        return images

    def conv_modules(self) -> list:
        return []


def _images_ok(doc: dict, n: int) -> bool:
    data = doc["data"]
    return isinstance(data, list) and len(data) >= n and all(isinstance(d, dict) and (
        isinstance(d.get("b64_json"), str) or isinstance(d.get("url"), str)) for d in data[:n])


def _png(item: dict) -> bytes:
    """The image's bytes as PNG: kept as sent when it is a PNG, else decoded and saved as PNG. ValueError when it is
    not an image or its URL does not answer (the client retries the request as a malformed answer)."""
    if item.get("b64_json"):
        raw = base64.b64decode(item["b64_json"])   # binascii.Error is a ValueError
    else:
        try:
            raw = httpx.get(item["url"], timeout=300).raise_for_status().content
        except httpx.HTTPError as exc:
            raise ValueError(f"the image's URL did not answer ({exc})") from None
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()   # the whole file checked, also a PNG kept as sent
        if raw[:8] == b"\x89PNG\r\n\x1a\n":
            return raw
        with Image.open(io.BytesIO(raw)) as im:
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="PNG")
            return buf.getvalue()
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"not an image ({exc})") from None   # retried as a malformed answer


def checkpoints(spec: PairingSpec, prior_only: bool = False) -> list:
    return []   # nothing to download: the server holds the model


def pairing_for(name: str) -> Optional[PairingSpec]:
    """`openai-images:<model>@<base URL>`."""
    if not name.startswith(PREFIX):
        return None
    model, sep, url = name[len(PREFIX):].rpartition("@")
    if not sep or not model:
        raise UserError(f"--prior {name!r}: a served image model is openai-images:MODEL@URL, e.g. "
                        f"openai-images:gpt-image-1@https://api.openai.com/v1")
    return PairingSpec(name, "openai-images", "none", model, settings={**SETTINGS,
                                                                       "endpoint": check_base_url(url, "--prior")},
                       description="an image model behind the OpenAI images API")


def validate(spec: PairingSpec) -> None:
    s = spec.settings
    if not re.fullmatch(r"\d+x\d+|auto", str(s.get("size"))):
        raise UserError(f"pairing {spec.name!r}: setting size={s.get('size')!r} must be WIDTHxHEIGHT (e.g. 1024x1024) "
                        f"or auto")
    if not isinstance(s.get("n"), int) or isinstance(s.get("n"), bool) or not 1 <= s["n"] <= 10:
        raise UserError(f"pairing {spec.name!r}: setting n={s.get('n')!r} must be an integer from 1 to 10")
    if not isinstance(s.get("send_seed"), bool):
        raise UserError(f"pairing {spec.name!r}: setting send_seed must be true or false")


register_family(FamilyDef("openai-images", ServedImages, dict(SETTINGS), prior_checkpoint={}, checkpoints=checkpoints,
                          pairing_for=pairing_for, served=True, validate=validate))
