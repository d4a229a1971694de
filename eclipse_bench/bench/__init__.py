"""The bench: the shared core (core/), generation (generation/) and the application on top (app/). The layers'
order is eclipse_bench.LAYERS."""

__all__ = ["app", "core", "generation"]
