"""Prompt suites: each item carries a structured spec (objects, attributes, relation, counts)."""

from eclipse_bench.prompts.spec import Item, ObjectSpec, Relation, Spec, Suite

__all__ = ["Item", "ObjectSpec", "Relation", "Spec", "Suite", "counterfactuals", "extract", "fetch", "registry",
           "spacy_specs", "spec", "suites", "user", "vocab"]
