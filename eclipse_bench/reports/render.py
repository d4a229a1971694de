"""What every HTML page shares: the jinja2 environment (autoescaping, strict), the Content-Security-Policy that lets
only our own script run, thumbnails as data URIs, and number formatting."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any, Optional

import jinja2
from PIL import Image

THUMB = 160


def csp(script: str = "") -> str:
    policy = "default-src 'none'; img-src data: file: 'self'; style-src 'unsafe-inline'"
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        policy += f"; script-src 'sha256-{digest}'"
    return policy


def template_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("eclipse_bench.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    return env


def image_uri(path: Path, size: Optional[int] = THUMB, link: bool = False, base: Optional[Path] = None) -> str:
    """A JPEG thumbnail as a data URI, or (link=True) a relative link to the full-size image."""
    if link:
        try:
            return str(Path(path).resolve().relative_to(Path(base).resolve())) if base else str(path)
        except ValueError:
            return Path(path).resolve().as_uri()
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size:
                im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=82)
    except (OSError, ValueError):
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, (int, float)) and abs(x) >= 10:
        return f"{x:.2f}"
    return f"{x:.{digits}f}"
