"""A small generic registry: named entries that may be lazy ("module:attr" strings).

The CLI can list names and describe entries without importing torch; an entry is
imported only when it is used. Unknown names raise a UserError with close matches.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from eclipse_bench.errors import unknown_name

T = TypeVar("T")


def import_string(path: str) -> Any:
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Any] = {}
        self._help: Dict[str, str] = {}

    def register(self, name: str, entry: Any = None, *, help: str = "") -> Any:
        """Register `entry` (an object or a lazy "module:attr" string) under `name`.

        Used without `entry` it is a decorator.
        """
        if entry is None:
            def deco(obj: Callable) -> Callable:
                self.register(name, obj, help=help)
                return obj
            return deco
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        self._help[name] = help
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_string(entry)
            self._entries[name] = entry
        return entry

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
