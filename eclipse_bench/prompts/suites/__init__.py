"""Suite families: one module each (loader, official files with pinned sources and sha256, default metric per
category, images-per-prompt protocol), discovered by the suite registry. See docs/extending.md."""

import pkgutil as _pkgutil

# the modules of this folder: each registers what it defines (discovered by the registries), so adding one is a file
__all__ = sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
