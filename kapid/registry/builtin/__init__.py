"""
The built-in resources: every module of this package defines C{RESOURCES} (a sequence of
L{kapid.registry.description.Resource}); L{builtin_registry} imports them all and collects them.
"""

from __future__ import annotations

import importlib
import pkgutil

from kapid.registry.description import Resource, ResourceRegistry


def builtin_resources() -> list[Resource]:
    """
    Every built-in resource, from every module in this package.
    """
    out: list[Resource] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        out.extend(getattr(module, "RESOURCES", ()))
    return out


def builtin_registry() -> ResourceRegistry:
    """
    A new L{ResourceRegistry} holding every built-in resource.
    """
    return ResourceRegistry(builtin_resources())
