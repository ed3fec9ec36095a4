"""
Tests for L{kapid.controllers.apiserver_identity}: kube-apiserver's identity Lease.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from kapid.controllers.apiserver_identity import IdentityLease, lease_name
from tests.controllers.helpers import World


class IdentityLeaseTests(TestCase):
    """
    The Lease is written, renewed, taken over by a namesake and collected once expired.
    """

    async def test_lifecycle(self) -> None:
        """
        The Lease has kube's name, labels, holder and duration; it is renewed every 10 s; a new
        process with the same hostname takes it over; another server's expired Lease is deleted
        at the next collection.
        """
        w = World(custom=False)
        await w.start()
        leases = w.store("coordination.k8s.io", "leases")
        one = IdentityLease(leases, w.clock, hostname="host-a")
        self.addCleanup(one.stop)
        await one.start()
        lease = await leases.get("kube-system", lease_name("host-a"), "v1")
        self.assertTrue(lease["metadata"]["name"].startswith("apiserver-"))
        self.assertEqual(lease["metadata"]["labels"],
                         {"apiserver.kubernetes.io/identity": "kube-apiserver", "kubernetes.io/hostname": "host-a"})
        self.assertEqual(lease["spec"]["holderIdentity"], one.identity)
        self.assertTrue(one.identity.startswith(lease["metadata"]["name"] + "_"))
        self.assertEqual(lease["spec"]["leaseDurationSeconds"], 3600)
        first = lease["spec"]["renewTime"]
        await w.settle(rounds=2, step=5)
        renewed = (await leases.get("kube-system", lease_name("host-a"), "v1"))["spec"]["renewTime"]
        self.assertNotEqual(first, renewed)
        other = IdentityLease(leases, w.clock, hostname="host-b")
        await other.start()
        other.stop()
        again = IdentityLease(leases, w.clock, hostname="host-a")
        self.addCleanup(again.stop)
        await again.start()
        lease = await leases.get("kube-system", lease_name("host-a"), "v1")
        self.assertEqual(lease["spec"]["holderIdentity"], again.identity)
        await w.settle(rounds=1, step=3600)
        await w.settle()
        names = await w.names("coordination.k8s.io", "leases", "kube-system")
        self.assertEqual(names, [lease_name("host-a")])


class EventTTLTests(TestCase):
    """
    C{--event-ttl} sets the storage lease of Events.
    """

    async def test_events_expire(self) -> None:
        """
        Both Event resources take the TTL; an Event created then is gone once it has passed.
        """
        from kapid.controllers.manager import apply_event_ttl

        w = World(custom=False)
        await w.start()
        apply_event_ttl(w.registry, 120)
        self.assertEqual([w.registry.get(g, "events").ttl for g in ("", "events.k8s.io")], [120, 120])
        events = w.store("", "events")
        await events.create("default", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "R", "message": "m", "type": "Normal",
        }, "v1")
        self.assertEqual(await w.names("", "events", "default"), ["e1"])
        await w.settle(rounds=2, step=61)
        self.assertEqual(await w.names("", "events", "default"), [])
