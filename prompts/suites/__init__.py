"""Suite families: one module each (loader, official files with pinned sources and sha256, default metric per
category, images-per-prompt protocol), discovered by the suite registry. See docs/extending.md."""
