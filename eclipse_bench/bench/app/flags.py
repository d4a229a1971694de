"""The command line and --config files, derived from the option fields of eclipse_bench.bench.app.options: one
argparse argument per field, a YAML file keyed like the long flags, and the validated options from both."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import yaml

from eclipse_bench.bench.core.errors import UserError
from eclipse_bench.bench.app.options import parse_set, parse_shard
from eclipse_bench.metrics.registry import provider_option as provider_option_def


def add_arguments(parser: argparse.ArgumentParser, cls: type, config: bool = True) -> None:
    """One argument per field of `cls` (default None: unset, so a config file can fill it)."""
    if config:
        parser.add_argument("--config", type=Path, help="YAML file of these options (keys as the long flags, "
                                                        "'-' or '_'); flags override it")
    for f in fields(cls):
        meta = f.metadata
        if not meta["flags"][0].startswith("-"):   # a positional argument
            parser.add_argument(f.name, type=Path if meta["kind"] == "path" else str, help=meta["help"])
            continue
        kw: dict[str, Any] = {"dest": f.name, "help": meta["help"], "default": None}
        kind = meta["kind"]
        if meta.get("provider_option"):
            pdef = provider_option_def(meta["provider_option"])
            kw["help"] = pdef.option_help
            if pdef.option_choices():
                kw["choices"] = list(pdef.option_choices())
            else:
                kw["metavar"] = "ID"
        if kind == "bool":
            kw["action"] = "store_true"
        elif kind == "negated":
            kw["action"] = "store_false"
        elif kind == "set":
            kw.update(action="append", metavar=meta["metavar"] or None)
        elif kind == "int":
            kw["type"] = int
        elif kind == "path":
            kw["type"] = Path
        if meta["choices"]:
            kw["choices"] = [c for c in meta["choices"] if c is not None]
        parser.add_argument(*meta["flags"], **kw)


def _yaml_key(f) -> str:
    return f.metadata.get("yaml_key") or f.metadata["flags"][0].lstrip("-")


def load_config(path: Optional[Path], cls: type) -> dict:
    """`--config FILE`: options keyed like the long flags ('-' or '_'), each checked for its kind; field name ->
    value."""
    if path is None:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig")) or {}
    except FileNotFoundError:
        raise UserError(f"--config {path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"--config {path}: is a directory; pass a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--config {path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise UserError(f"--config {path}: expected a mapping of option: value")
    by_key = {}
    for f in fields(cls):
        for key in {_yaml_key(f), *(fl.lstrip("-") for fl in f.metadata["flags"]), f.name}:
            by_key[key.replace("-", "_")] = f
    out = {}
    for k, v in doc.items():
        f = by_key.get(str(k).replace("-", "_"))
        if f is None:
            raise UserError(f"--config {path}: unknown option {k!r}")
        kind = f.metadata["kind"]
        ok = {"int": isinstance(v, int) and not isinstance(v, bool), "bool": isinstance(v, bool),
              "negated": isinstance(v, bool), "batch": v == "auto" or (isinstance(v, int) and not isinstance(v, bool)),
              "set": isinstance(v, (dict, list, str)), "path": isinstance(v, str), "shard": isinstance(v, str),
              }.get(kind, isinstance(v, str)) or v is None
        if not ok:
            want = {"int": "an integer", "bool": "true or false", "negated": "true or false",
                    "batch": "an integer or 'auto'"}.get(kind, "a string")
            raise UserError(f"--config {path}: option {k!r} must be {want} (got {v!r})")
        if kind == "negated" and v is not None:
            v = not v   # no_progress: true -> progress False
        out[f.name] = v
    return out


def from_namespace(cls: type, a: argparse.Namespace) -> Any:
    """Options from parsed flags over the --config file over the defaults, converted and validated."""
    conf = load_config(getattr(a, "config", None), cls)
    values = {}
    for f in fields(cls):
        flag_value = getattr(a, f.name, None)
        value = flag_value if flag_value is not None else conf.get(f.name)
        kind = f.metadata["kind"]
        if kind == "set":
            value = {**parse_set(conf.get(f.name)), **parse_set(flag_value)}
        elif value is None:
            continue
        elif kind == "batch" and value != "auto":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise UserError(f"--batch-size {value!r}: expected a positive integer or 'auto'") from None
        elif kind == "shard":
            value = parse_shard(value)
        elif kind == "path":
            value = Path(value)
        values[f.name] = value
    opts = cls(**values)
    opts.validate()
    return opts
