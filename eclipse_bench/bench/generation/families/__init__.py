"""Pairing families: one module each (generator, settings, checkpoint slots, pairings, tiny twins),
discovered by the pairing registry. See docs/extending.md."""

import pkgutil as _pkgutil

# the modules of this folder: each registers what it defines (discovered by the registries), so adding one is a file
__all__ = sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
