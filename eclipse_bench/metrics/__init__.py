"""Metrics: evidence providers (model outputs per image, cached under content keys), the evidence stage, rules
(pure functions of evidence and spec) and aggregates; one module each, registering itself where it is written."""

import pkgutil as _pkgutil

# the modules of this folder: each registers what it defines (discovered by the registries), so adding one is a file
__all__ = sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
