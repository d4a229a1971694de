"""Model code: the ECLIPSE prior, loaders for the real hub ids and their tiny offline twins."""
