"""Pairing families: one module each (generator, settings, checkpoint slots, pairings, tiny twins),
discovered by the pairing registry. See docs/extending.md."""
