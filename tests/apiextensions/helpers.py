"""
An in-memory API with CRDs for apiextensions tests: discovery -> built-in resource link ->
apiextensions link -> not-found over one shared registry and C{Store(MemoryKV(clock))}, driven with
L{StubTreq}; the CRD controller running.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from treq.testing import StubTreq

from kapid.apiextensions.link import APIExtensionsLink, serves_builtin
from kapid.endpoints.link import ResourceLink, register_cache_prefixes
from kapid.kubeapi.discovery import DiscoveryLink
from kapid.server.link import NotFoundResource
from tests.endpoints.helpers import API

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class CRDAPI(API):
    """
    L{API} with the apiextensions link behind the built-in one, and discovery in front.
    """

    def __init__(self, testcase: Any, storage: Any = None, kv: Any = None, clock: Any = None) -> None:
        from kapid.registry.builtin import builtin_registry
        from kapid.storage.memory import MemoryKV
        from kapid.storage.store import Store
        from twisted.internet.task import Clock

        self.testcase = testcase
        if clock is None:
            clock = Clock()
            clock.advance(1_700_000_000)
        self.clock = clock
        self.kv = kv if kv is not None else MemoryKV(self.clock)
        self.storage = storage if storage is not None else Store(self.kv, self.clock)
        self.registry = builtin_registry()
        register_cache_prefixes(self.storage, self.registry, "/registry")
        self.apiext = APIExtensionsLink(NotFoundResource(), self.registry, self.storage, self.clock)
        self.link = ResourceLink(self.apiext.resource(), self.registry, self.storage, self.clock, serves=serves_builtin)
        self.discovery = DiscoveryLink(self.link.resource(), self.registry)
        self.treq = StubTreq(self.discovery.resource())
        self.run(self.link.ensure_system_namespaces())
        self.run(self.apiext.controller.start())
        testcase.addCleanup(self.apiext.controller.stop)

    def settle(self) -> None:
        """
        Let the controller finish what it has queued (watch events are delivered in the reactor
        turn they happen in; the clock runs the timers that are due).
        """
        for _ in range(5):
            self.treq.flush()
            self.clock.advance(0)
        self.run(self.apiext.controller.idle())

    def create_crd(self, crd: dict, established: bool = True) -> dict:
        """
        POST a CRD and let the controller act; the stored CRD.
        """
        code, body, _ = self.post(CRDS, crd)
        self.testcase.assertEqual(code, 201, body)
        self.settle()
        code, body, _ = self.get(f"{CRDS}/{crd['metadata']['name']}")
        self.testcase.assertEqual(code, 200, body)
        return body


def widget_crd(
    group: str = "stable.example.com",
    plural: str = "widgets",
    kind: str = "Widget",
    scope: str = "Namespaced",
    versions: Optional[list] = None,
    **names: Any,
) -> dict:
    """
    A CRD for a kind with a small schema: C{spec.size} (integer 1..10, default 1), C{spec.color}
    (enum), C{spec.tags} (set list), C{status.replicas}, status and scale subresources, two
    printer columns and a selectable field.
    """
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "replicas": {"type": "integer"},
                    "color": {"type": "string", "enum": ["red", "green", "blue"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "selector": {"type": "string"},
                },
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }
    v1 = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        "selectableFields": [{"jsonPath": ".spec.color"}],
    }
    n = {"plural": plural, "singular": kind.lower(), "kind": kind}
    n.update(names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": n,
            "versions": versions if versions is not None else [v1],
        },
    }


def widget(name: str, group: str = "stable.example.com", version: str = "v1", **spec: Any) -> dict:
    """
    A Widget body.
    """
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": copy.deepcopy(spec),
    }
