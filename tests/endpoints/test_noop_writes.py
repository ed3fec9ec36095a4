"""
Tests for writes that change nothing (issue 18, item 4): kube decodes the body, finds the object
equal to the stored one and answers it with the same resourceVersion, writing no revision (so no
watcher sees an event). Equality is after decoding: times sent back as C{+00:00} (as the official
Python client re-serialises them) equal the stored C{Z} ones.
"""

from __future__ import annotations

from typing import Any

import orjson
from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API, cm, deployment

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"

MERGE = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def offsets(obj: Any) -> Any:
    """
    C{obj} with every C{Z} time written with a C{+00:00} offset and its keys sorted, as the
    official Python client sends an object it read back.
    """
    text = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).replace(b'Z"', b'+00:00"')
    return orjson.loads(text)


def pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


class NoOpWriteTests(SynchronousTestCase):
    """
    Update, patch, apply and status writes of an unchanged object keep the revision.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def revision(self) -> int:
        return int(self.api.run(self.api.storage.current_resource_version()))

    def created(self, path: str, body: dict) -> dict:
        code, obj, _ = self.api.post(path, body, headers={"User-Agent": "OpenAPI-Generator/1.0"})
        self.assertEqual(code, 201, obj)
        self.api.clock.advance(7)  # a write now would carry a later managedFields time
        return obj

    def assertUnchanged(self, before: dict, revision: int, result: tuple) -> None:
        code, out, _ = result
        self.assertEqual(code, 200, out)
        self.assertEqual(out, before)
        self.assertEqual(self.revision(), revision)

    def test_put_back_with_offsets(self) -> None:
        """
        Every kind read and PUT back with C{+00:00} times (and sorted keys) is answered unchanged,
        with no new revision.
        """
        for path, body in ((CMS, cm("a", {"x": "y"})), (DEPLOYS, deployment("web")), (PODS, pod("p"))):
            obj = self.created(path, body)
            rev = self.revision()
            name = obj["metadata"]["name"]
            self.assertUnchanged(
                obj, rev,
                self.api.put(f"{path}/{name}", offsets(obj), headers={"User-Agent": "OpenAPI-Generator/1.0"}),
            )

    def test_put_back_by_another_manager(self) -> None:
        """
        A different field manager sending the unchanged object takes no fields and writes nothing.
        """
        obj = self.created(DEPLOYS, deployment("web"))
        rev = self.revision()
        self.assertUnchanged(
            obj, rev, self.api.put(f"{DEPLOYS}/web", offsets(obj), headers={"User-Agent": "other/1.0"})
        )

    def test_status_put_back_with_offsets(self) -> None:
        """
        The status subresource: a pod's status with condition times written with offsets.
        """
        obj = self.created(PODS, pod("p"))
        status = {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2024-05-06T07:08:09Z"},
            ],
            "startTime": "2024-05-06T07:08:00Z",
        }
        code, obj, _ = self.api.put(f"{PODS}/p/status", dict(obj, status=status))
        self.assertEqual(code, 200, obj)
        self.assertEqual(obj["status"]["startTime"], "2024-05-06T07:08:00Z")
        self.api.clock.advance(7)
        rev = self.revision()
        self.assertUnchanged(obj, rev, self.api.put(f"{PODS}/p/status", offsets(obj)))

    def test_patches_that_change_nothing(self) -> None:
        """
        Merge and strategic merge patches restating values (a time with an offset among them).
        """
        obj = self.created(DEPLOYS, deployment("web"))
        rev = self.revision()
        created = obj["metadata"]["creationTimestamp"].replace("Z", "+00:00")
        for ptype in (MERGE, SMP):
            self.assertUnchanged(
                obj, rev,
                self.api.patch(
                    f"{DEPLOYS}/web",
                    {"metadata": {"creationTimestamp": created}, "spec": {"replicas": 1}},
                    ptype,
                ),
            )

    def test_apply_again(self) -> None:
        """
        Server-side apply of the same configuration, once with a time written with an offset.
        """
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l"},
            "spec": {"holderIdentity": "me", "renewTime": "2024-05-06T07:08:09.250000Z"},
        }
        code, obj, _ = self.api.patch(f"{LEASES}/l?fieldManager=m", lease, APPLY)
        self.assertEqual(code, 201, obj)
        self.api.clock.advance(7)
        rev = self.revision()
        self.assertUnchanged(obj, rev, self.api.patch(f"{LEASES}/l?fieldManager=m", lease, APPLY))
        lease["spec"]["renewTime"] = "2024-05-06T09:08:09.25+02:00"
        self.assertUnchanged(obj, rev, self.api.patch(f"{LEASES}/l?fieldManager=m", lease, APPLY))

    def test_times_stored_as_kube_encodes_them(self) -> None:
        """
        Times are stored as kube encodes the decoded value: UTC with C{Z}, seconds for
        C{metav1.Time}, six fraction digits for C{metav1.MicroTime}.
        """
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l"},
            "spec": {"acquireTime": "2024-05-06T09:08:09.5+02:00", "renewTime": "2024-05-06T07:08:09Z"},
        }
        code, obj, _ = self.api.post(LEASES, lease)
        self.assertEqual(code, 201, obj)
        self.assertEqual(
            (obj["spec"]["acquireTime"], obj["spec"]["renewTime"]),
            ("2024-05-06T07:08:09.500000Z", "2024-05-06T07:08:09.000000Z"),
        )
        code, obj, _ = self.api.post(PODS, dict(pod("q"), status={"startTime": "2024-05-06T09:08:09.9+02:00"}))
        self.assertEqual(code, 201, obj)
        code, obj, _ = self.api.put(f"{PODS}/q/status", dict(obj, status={"startTime": "2024-05-06T09:08:09.9+02:00"}))
        self.assertEqual(obj["status"]["startTime"], "2024-05-06T07:08:09Z")

    def test_watchers_see_nothing(self) -> None:
        """
        A watch on the object gets no event for the no-op writes (update, status, patch), and one
        for a real change.
        """
        from kapid.storage.interfaces import ListOptions

        obj = self.created(PODS, pod("p"))
        events: list[Any] = []
        watcher = self.api.run(
            self.api.storage.watch(
                self.api.registry.get("", "pods").key("default", "p"), ListOptions(resource_version=obj["metadata"]["resourceVersion"], recursive=False),
                events.append,
            )
        )
        self.addCleanup(watcher.stop)
        self.api.put(f"{PODS}/p", offsets(obj))
        self.api.put(f"{PODS}/p/status", offsets(obj))
        self.api.patch(f"{PODS}/p", {"metadata": {"labels": {"app": "p"}}}, MERGE)
        self.api.clock.advance(1)
        self.api.treq.flush()
        self.assertEqual(events, [])
        self.api.patch(f"{PODS}/p", {"metadata": {"labels": {"app": "q"}}}, MERGE)
        self.api.clock.advance(1)
        self.api.treq.flush()
        self.assertEqual([e.type for e in events], ["MODIFIED"])

    def test_real_change_still_writes(self) -> None:
        """
        A changed value is written (a new resourceVersion), times with offsets or not.
        """
        obj = self.created(CMS, cm("a", {"x": "y"}))
        rev = self.revision()
        body = offsets(obj)
        body["data"]["x"] = "z"
        code, out, _ = self.api.put(f"{CMS}/a", body)
        self.assertEqual(code, 200, out)
        self.assertNotEqual(out["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"])
        self.assertEqual(self.revision(), rev + 1)
