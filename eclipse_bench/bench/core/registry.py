"""A small generic registry: named entries that may be lazy ("module:attr" strings).

The CLI can list names and describe entries without importing torch; an entry is
imported only when it is used. Unknown names raise a UserError with close matches.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from eclipse_bench.bench.core.errors import unknown_name

T = TypeVar("T")


def import_string(path: str) -> Any:
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def discover(package: str) -> None:
    """Import every module of `package` once: each registers its own definitions where it is written."""
    if package in _DISCOVERED:
        return
    _DISCOVERED.add(package)
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


_DISCOVERED: set = set()


class Registry(Generic[T]):
    """Named entries; `packages` are imported (once, lazily) the first time the registry is read, so a
    definition registers itself in its own module and nothing else has to name it."""

    def __init__(self, kind: str, packages: tuple[str, ...] = ()):
        self.kind = kind
        self.packages = packages
        self._entries: Dict[str, Any] = {}
        self._help: Dict[str, str] = {}

    def _discover(self) -> None:
        for package in self.packages:
            discover(package)

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
        self._discover()
        if name not in self._entries:
            raise unknown_name(self.kind, name, self._entries)
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_string(entry)
            self._entries[name] = entry
        return entry

    def help(self, name: str) -> str:
        self._discover()
        return self._help.get(name, "")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
