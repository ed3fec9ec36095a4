"""
coordination.k8s.io/v1 resources: leases.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, v1

LEASES = resource("coordination.k8s.io", "Lease", "leases", v1("io.k8s.api.coordination.v1.Lease"))

RESOURCES = [LEASES]
