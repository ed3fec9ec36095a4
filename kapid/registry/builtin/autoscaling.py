"""
autoscaling resources: horizontalpodautoscalers (+status), served as v2 (preferred, stored) and v1,
converted through kapid.registry.conversion.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, status
from kapid.registry.description import Version

HORIZONTAL_POD_AUTOSCALERS = resource(
    "autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
    (
        Version("v2", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", storage=True),
        Version("v1", "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"),
    ),
    short_names=("hpa",),
    categories=("all",),
    subresources=(status("HorizontalPodAutoscaler", "autoscaling", "v2"),),
    reset_status={"desiredReplicas": 0},
)

RESOURCES = [HORIZONTAL_POD_AUTOSCALERS]
