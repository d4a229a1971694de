"""Generation: pairings (a prior and a decoder sharing a CLIP space), their families' generators, the ECLIPSE prior
module and the generation stage that writes a run's images."""

__all__ = ["eclipse_prior", "families", "generator", "pairings", "stage"]
