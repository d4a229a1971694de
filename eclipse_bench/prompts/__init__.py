"""Prompt suites: each item carries a structured spec (objects, attributes, relation, counts)."""

from eclipse_bench.prompts.spec import Item, ObjectSpec, Question, Relation, Spec, Suite

__all__ = ["Item", "ObjectSpec", "Question", "Relation", "Spec", "Suite", "counterfactuals", "extract", "fetch",
           "load", "questions", "registry", "spacy_specs", "spec", "suites", "user", "vocab"]
