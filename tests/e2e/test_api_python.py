"""
End-to-end tests of the resource API with the official C{kubernetes} Python client against a real
C{twistd kapid}, on the embedded store and on a real etcd.
"""

from __future__ import annotations

import uuid

from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from kapid.testing.etcd import shared_etcd
from tests.e2e.helpers import start_kapid


def _session(url: str) -> dict:
    """
    The whole client session (blocking; run in a thread). Returns what the test checks.
    """
    cfg = client.Configuration()
    cfg.host = url
    api = client.ApiClient(cfg)
    v1 = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    out: dict = {}
    ns = "py"
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    # CRUD and errors
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c0", labels={"app": "x"}), data={"a": "1"})
    created = v1.create_namespaced_config_map(ns, cm)
    out["created_rv"] = created.metadata.resource_version
    try:
        v1.create_namespaced_config_map(ns, cm)
    except ApiException as e:
        out["conflict"] = (e.status, e.body)
    try:
        v1.read_namespaced_config_map("nope", ns)
    except ApiException as e:
        out["missing"] = e.status
    try:
        v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name")))
    except ApiException as e:
        out["invalid"] = e.status
    got = v1.read_namespaced_config_map("c0", ns)
    got.data["b"] = "2"
    out["replaced"] = v1.replace_namespaced_config_map("c0", ns, got).data
    try:
        v1.replace_namespaced_config_map("c0", ns, got)
    except ApiException as e:
        out["stale"] = e.status

    # patch types: strategic (dict), JSON patch (list)
    out["smp"] = v1.patch_namespaced_config_map("c0", ns, {"data": {"c": "3"}}).data
    out["jsonpatch"] = v1.patch_namespaced_config_map("c0", ns, [{"op": "remove", "path": "/data/a"}]).data

    # pagination
    for i in range(5):
        v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"p{i}")))
    names, token = [], None
    while True:
        page = v1.list_namespaced_config_map(ns, limit=2, _continue=token)
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    out["pages"] = names

    # watch replay from a resourceVersion (the official e2e's order: changes first, then watch)
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
    v1.patch_namespaced_config_map("w1", ns, {"data": {"k": "v"}})
    v1.delete_namespaced_config_map("w1", ns)
    v1.delete_namespaced_config_map("p0", ns)
    events = watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=2)
    out["watch"] = [(e["type"], e["object"].metadata.name) for e in events]

    # deployments: scale, deleted pods come back as objects
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
            ),
        ),
    )
    apps.create_namespaced_deployment(ns, dep)
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    out["scaled"] = apps.read_namespaced_deployment("web", ns).spec.replicas
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="p"), spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
    v1.create_namespaced_pod(ns, pod)
    out["deleted_pod"] = type(v1.delete_namespaced_pod("p", ns)).__name__
    status = v1.delete_namespaced_config_map("c0", ns, propagation_policy="Background")
    out["delete_cm"] = status["status"] if isinstance(status, dict) else status.status
    return out


class PythonClientMixin:
    """
    One broad client session; subclasses say which store kapid runs on.
    """

    timeout = 180

    async def test_python_client_session(self) -> None:
        """
        CRUD, 409/404/422 exceptions, strategic and JSON patches, pagination, watch replay, scale
        and deletion behave as against kube-apiserver.
        """
        kapid = await self.start()
        out = await deferToThread(_session, kapid.insecure_url)
        self.assertEqual(out["conflict"][0], 409)
        self.assertEqual(
            out["conflict"][1],
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \\"c0\\" already exists","reason":"AlreadyExists","details":{"name":"c0","kind":"configmaps"},"code":409}\n',
        )
        self.assertEqual(out["missing"], 404)
        self.assertEqual(out["invalid"], 422)
        self.assertEqual(out["replaced"], {"a": "1", "b": "2"})
        self.assertEqual(out["stale"], 409)
        self.assertEqual(out["smp"], {"a": "1", "b": "2", "c": "3"})
        self.assertEqual(out["jsonpatch"], {"b": "2", "c": "3"})
        # (kube-root-ca.crt is the root CA publisher's, in every namespace as in kube)
        self.assertEqual([n for n in out["pages"] if n != "kube-root-ca.crt"], ["c0", "p0", "p1", "p2", "p3", "p4"])
        self.assertEqual(out["watch"], [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1"), ("DELETED", "p0")])
        self.assertEqual(out["scaled"], 4)
        self.assertEqual(out["deleted_pod"], "V1Pod")
        self.assertEqual(out["delete_cm"], "Success")


class EmbeddedPythonTests(PythonClientMixin, TestCase):
    """
    The Python client against kapid on its embedded store.
    """

    async def start(self):  # type: ignore[no-untyped-def]
        return await start_kapid(self)


class EtcdPythonTests(PythonClientMixin, TestCase):
    """
    The Python client against kapid on a real etcd.
    """

    async def start(self):  # type: ignore[no-untyped-def]
        etcd = await shared_etcd(__name__)
        prefix = "/kapid-" + uuid.uuid4().hex[:8]
        return await start_kapid(self, f"--etcd-servers={etcd.client_url}", f"--etcd-prefix={prefix}")
