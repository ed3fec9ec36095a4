"""
The embedded store: L{EmbeddedKV}, etcd semantics over SQLite in a data dir (the default backend).
"""

from kapid.storage.embedded.store import EmbeddedKV

__all__ = ["EmbeddedKV"]
