"""eclipse-bench: compositional text-to-image evaluation for prior + decoder pairings.

Data flows one way: prompts (suites -> items with specs) -> bench (pairing -> images)
-> metrics (evidence, then rules) -> reports (aggregates, HTML, compare).
"""

__version__ = "0.1.0"
