"""The core every layer may use, importing nothing else of ours: errors, the registry type, content keys and
checkpoint identities, the run store and its schema, paths, model loading, the client of served models and the
tiny-twin mechanism."""

__all__ = ["errors", "keys", "loaders", "paths", "record", "registry", "schema", "served", "state", "store", "tiny",
           "tokenizers", "version"]
