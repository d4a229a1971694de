"""Typed records: dataclasses that check every field of a JSON document against its annotation when read (nested
records built), keep what a newer writer added, and name the field and the file when something does not match."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from eclipse_bench.bench.core.errors import UserError


class SchemaError(UserError):
    """A run file that does not match the schema."""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_describe(inner[0])} or null"
    if origin in (list, tuple):
        return "a list"
    if origin is dict or tp is dict:
        return "an object"
    if dataclasses.is_dataclass(tp):
        return "an object"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` checked against the annotation `tp` (nested records built); SchemaError naming `where` otherwise."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    bad = SchemaError(f"{where} must be {_describe(tp)} (got {json.dumps(value)[:60]})")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad
        return tp.from_json(value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list):
            raise bad
        args = typing.get_args(tp)
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad
        args = typing.get_args(tp)
        if args:
            return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise bad
        return float(value) if isinstance(value, int) else value
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported annotation {tp!r}")   # pragma: no cover - a schema bug, not a data error


class Record:
    """A typed record: from_json checks every field against its annotation; unknown keys are kept in `extra` (a
    newer writer's additions survive a read-modify-write by an older reader of the same version)."""

    def to_json(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _plain(v)
        return {**getattr(self, "extra", {}), **out}

    @classmethod
    def from_json(cls, d: Any, where: str = "record") -> Any:
        if not isinstance(d, dict):
            raise SchemaError(f"{where or 'the record'} must be a JSON object (got {json.dumps(d)[:60]})")
        hints = typing.get_type_hints(cls)
        values, known = {}, set()
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            known.add(f.name)
            if f.name in d:
                values[f.name] = _coerce(d[f.name], hints[f.name], f"{where}.{f.name}" if where else f.name)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"{where + '.' if where else ''}{f.name} is missing")
        rec = cls(**values)
        if "extra" in {f.name for f in dataclasses.fields(cls)}:
            rec.extra = {k: v for k, v in d.items() if k not in known}
        return rec


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_json()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v
