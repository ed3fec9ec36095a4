"""
policy/v1 resources: poddisruptionbudgets (+status).
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, status, v1

POD_DISRUPTION_BUDGETS = resource(
    "policy", "PodDisruptionBudget", "poddisruptionbudgets",
    v1("io.k8s.api.policy.v1.PodDisruptionBudget"),
    short_names=("pdb",),
    subresources=(status("PodDisruptionBudget", "policy"),),
    tracks_generation=True,
    reset_status={"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
)

RESOURCES = [POD_DISRUPTION_BUDGETS]
