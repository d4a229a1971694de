"""eclipse-bench: compositional text-to-image evaluation for prior + decoder pairings.

Data flows one way: prompts (suites -> items with specs) -> bench (pairing -> images)
-> metrics (evidence, then rules) -> reports (aggregates, HTML, compare).
"""

__version__ = "0.1.0"


def prior_eval(prior, text_encoder, tokenizer, suite: str = "color", **kwargs):
    """Prior-only metrics of an in-memory prior, for a training loop (see eclipse_bench.prior_eval.prior_eval)."""
    from eclipse_bench.prior_run import prior_eval as _prior_eval

    return _prior_eval(prior, text_encoder, tokenizer, suite=suite, **kwargs)
