"""
Audit annotations that admission plugins add reach the request's audit event, through the real
handler chain.
"""

from __future__ import annotations

from typing import Any

import orjson
from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.chain import AdmissionChain
from kapid.admission.interfaces import Attributes
from kapid.endpoints.link import ResourceLink
from kapid.registry.builtin import builtin_registry
from kapid.testing.server import InMemoryServer
from tests.admission.helpers import Recorder
from tests.server.test_chain import fetch

POLICY = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
          "rules": [{"level": "Metadata"}]}


class AuditAnnotationTests(SynchronousTestCase):
    """
    Plugin annotations in audit events.
    """

    def test_annotations_in_event(self) -> None:
        """
        An annotation a plugin adds during a create is in the ResponseComplete event, next to
        the authorization ones; its warning is a Warning header.
        """
        def note(a: Attributes) -> None:
            a.add_annotation("example.com/checked", "yes")
            a.add_warning("noted")

        from twisted.internet.task import Clock

        from kapid.storage.memory import MemoryKV
        from kapid.storage.store import Store

        clock = Clock()
        kv = MemoryKV(clock)

        def factory(delegate: Any) -> ResourceLink:
            link = ResourceLink(delegate, builtin_registry(), Store(kv, clock), clock)
            link.admission = AdmissionChain([Recorder(on_validate=note)])
            return link

        server = InMemoryServer(resource_link_factory=factory, audit_policy=POLICY, kv=kv)
        body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
        code, headers, out = fetch(server, "/api/v1/namespaces/default/configmaps", "POST", data=body,
                                   headers={"Content-Type": ["application/json"]})
        self.assertEqual(code, 201, out)
        self.assertEqual(headers["warning"], '299 - "noted"')
        events = [e for e in server.audit_events if e.get("verb") == "create"]
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["annotations"]["example.com/checked"], "yes")
        self.assertEqual(events[0]["annotations"]["authorization.k8s.io/decision"], "allow")
