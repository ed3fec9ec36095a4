"""
node.k8s.io/v1 resources: runtimeclasses.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, v1

RUNTIME_CLASSES = resource(
    "node.k8s.io", "RuntimeClass", "runtimeclasses", v1("io.k8s.api.node.v1.RuntimeClass"),
    namespaced=False,
)

RESOURCES = [RUNTIME_CLASSES]
