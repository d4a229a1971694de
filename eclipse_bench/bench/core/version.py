"""The eclipse-bench version: package metadata and the `version` field of every run file."""

__version__ = "0.2.0"
