"""
kapid.testing: kapid as a test fixture, and the fakes and contract suites kapid's own tests use.

L{KapidProcess} (from L{kapid.testing.process}) runs a real C{twistd kapid} on free loopback
ports, as a context manager::

    with KapidProcess() as kapid:
        api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kapid.client_configuration()))

or, under Twisted, with Deferreds (C{await kapid.start()}, C{await kapid.stop()}) or as a
L{KapidProcessService}. The pytest plugin (L{kapid.testing.pytest_plugin}) offers the same as the
C{kapid} and C{kapid_namespace} fixtures. The names below are imported when first used, so
importing a fake does not import the process machinery.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Faults",
    "KapidExitError",
    "KapidProcess",
    "KapidProcessService",
    "KapidStartError",
    "RunningKapid",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kapid.testing import process

        return getattr(process, name)
    raise AttributeError(f"module 'kapid.testing' has no attribute {name!r}")
