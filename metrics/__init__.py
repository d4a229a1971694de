"""Metrics: evidence providers (model outputs, cached per image) and rules (pure functions)."""
