"""kapid: a Kubernetes API server written in Python on Twisted."""

from kapid._version import __version__

__all__ = ["__version__"]
