"""
scheduling.k8s.io/v1 resources: priorityclasses.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, v1

PRIORITY_CLASSES = resource(
    "scheduling.k8s.io", "PriorityClass", "priorityclasses",
    v1("io.k8s.api.scheduling.v1.PriorityClass"),
    namespaced=False,
    short_names=("pc",),
)

RESOURCES = [PRIORITY_CLASSES]
