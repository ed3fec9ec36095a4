"""
Conformance audit with the official C{kubernetes} Python client (37.x): CRUD, the three patch
types, pagination, watch replay, kube's exceptions and delete return types, against a real
C{twistd kapid} on its embedded store.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from tests.e2e.helpers import start_kapid


def _status_body(message: str, reason: str, details: str, code: int) -> str:
    return (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":' + message
        + ',"reason":"' + reason + '","details":' + details + ',"code":' + str(code) + "}\n"
    )


def _session(url: str) -> dict[str, Any]:
    """
    The client session (blocking; run in a thread). Returns what the assertions compare.
    """
    from kubernetes import client, watch

    api = client.ApiClient(client.Configuration(host=url))
    v1, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    out: dict[str, Any] = {}
    ns = "py-" + uuid.uuid4().hex[:6]
    out["namespace"] = type(v1.create_namespace({"metadata": {"name": ns}})).__name__

    def error(call: Any) -> tuple[int, str, str]:
        try:
            call()
        except client.ApiException as e:
            return e.status, e.reason, e.body.decode() if isinstance(e.body, bytes) else e.body
        raise AssertionError("no ApiException")

    # CRUD and patches on configmaps
    rv0 = v1.list_namespaced_config_map(ns).metadata.resource_version
    created = v1.create_namespaced_config_map(ns, {"metadata": {"name": "p1", "labels": {"x": "1"}}, "data": {"a": "1"}})
    out["created"] = (created.metadata.name, created.metadata.namespace, bool(created.metadata.uid))
    v1.patch_namespaced_config_map("p1", ns, {"data": {"b": "2"}})
    v1.patch_namespaced_config_map("p1", ns, [{"op": "add", "path": "/data/c", "value": "3"}])
    cm = v1.read_namespaced_config_map("p1", ns)
    out["patched"] = dict(cm.data)
    cm.data["d"] = "4"
    out["replaced"] = v1.replace_namespaced_config_map("p1", ns, cm).data
    stale = cm
    out["stale"] = error(lambda: v1.replace_namespaced_config_map("p1", ns, stale))
    out["deleted_cm"] = v1.delete_namespaced_config_map("p1", ns)
    out["watch"] = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version=rv0, timeout_seconds=2)
    ]

    # server-side apply through the client's _content_type
    def apply(manager: str, value: str, force: bool = False) -> Any:
        return v1.patch_namespaced_config_map(
            "ssa", ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": value}},
            field_manager=manager, force=force, _content_type="application/apply-patch+yaml")

    apply("py", "1")
    out["ssa_conflict"] = error(lambda: apply("other", "2"))
    forced = apply("other", "2", force=True)
    out["ssa_forced"] = (forced.data, [(m.manager, m.operation, m.fields_v1) for m in forced.metadata.managed_fields])
    v1.delete_namespaced_config_map("ssa", ns)

    # pagination
    for i in range(5):
        v1.create_namespaced_config_map(ns, {"metadata": {"name": f"pg{i}", "labels": {"pg": "y"}}})
    pages, token = [], None
    while True:
        page = v1.list_namespaced_config_map(ns, limit=2, _continue=token)
        pages.append([i.metadata.name for i in page.items])
        token = page.metadata._continue
        if not token:
            out["last_remaining"] = page.metadata.remaining_item_count
            break
    out["pages"] = pages
    out["first_remaining"] = v1.list_namespaced_config_map(ns, limit=2).metadata.remaining_item_count
    out["selected"] = [i.metadata.name for i in v1.list_namespaced_config_map(ns, label_selector="pg in (y)").items]

    # errors
    out["exists"] = error(lambda: v1.create_namespaced_config_map(ns, {"metadata": {"name": "pg0"}}))
    out["missing"] = error(lambda: v1.read_namespaced_config_map("nope", ns))
    out["missing_deploy"] = error(lambda: apps.read_namespaced_deployment("nope", ns))
    out["invalid"] = error(lambda: v1.create_namespaced_config_map(ns, {"metadata": {"name": "Bad_Name"}}))
    out["no_ns"] = error(lambda: v1.create_namespaced_config_map("ghost", {"metadata": {"name": "x"}}))

    # pods: defaults and delete returning the Pod
    pod = v1.create_namespaced_pod(ns, {"metadata": {"name": "pp"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    c = pod.spec.containers[0]
    out["pod"] = (c.image_pull_policy, c.termination_message_path, c.termination_message_policy,
                  pod.spec.restart_policy, pod.spec.dns_policy, pod.spec.scheduler_name,
                  pod.spec.termination_grace_period_seconds, pod.status.phase, pod.status.qos_class)
    deleted = v1.delete_namespaced_pod("pp", ns)
    out["deleted_pod"] = (type(deleted).__name__, deleted.metadata.name)
    v1.create_namespaced_pod(ns, {"metadata": {"name": "sched"},
                                  "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx:1.2"}]}})
    graceful = v1.delete_namespaced_pod("sched", ns)
    out["graceful"] = (type(graceful).__name__, graceful.metadata.deletion_grace_period_seconds,
                       v1.read_namespaced_pod("sched", ns).metadata.deletion_timestamp is not None)
    out["forced"] = type(v1.delete_namespaced_pod("sched", ns, grace_period_seconds=0)).__name__
    out["forced_gone"] = error(lambda: v1.read_namespaced_pod("sched", ns))[0]

    # services and deployments (with the scale subresource)
    svc = v1.create_namespaced_service(ns, {"metadata": {"name": "ps"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}})
    out["service"] = (svc.spec.type, svc.spec.session_affinity, svc.spec.ports[0].target_port,
                      svc.spec.ports[0].protocol, svc.spec.ip_families, svc.spec.internal_traffic_policy)
    out["deleted_svc"] = type(v1.delete_namespaced_service("ps", ns)).__name__
    dep = apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "pd"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    })
    out["deploy_defaults"] = (dep.spec.replicas, dep.spec.revision_history_limit, dep.spec.progress_deadline_seconds,
                              dep.spec.strategy.type, dep.metadata.generation)
    dep.spec.replicas = 4
    dep = apps.replace_namespaced_deployment("pd", ns, dep)
    out["deploy_replaced"] = (dep.spec.replicas, dep.metadata.generation)
    apps.patch_namespaced_deployment("pd", ns, {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}})
    out["deploy_smp"] = [c.name for c in apps.read_namespaced_deployment("pd", ns).spec.template.spec.containers]
    out["scale"] = apps.read_namespaced_deployment_scale("pd", ns).spec.replicas
    apps.patch_namespaced_deployment_scale("pd", ns, {"spec": {"replicas": 2}})
    out["scaled"] = apps.read_namespaced_deployment("pd", ns).spec.replicas
    out["deploy_invalid"] = error(lambda: apps.patch_namespaced_deployment("pd", ns, {"spec": {"replicas": -1}}))[:2]
    out["json_test"] = error(lambda: apps.patch_namespaced_deployment(
        "pd", ns, [{"op": "test", "path": "/spec/replicas", "value": 9}]))
    out["deleted_deploy"] = apps.delete_namespaced_deployment("pd", ns)
    out["dry_run"] = v1.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All").metadata.name
    out["dry_run_stored"] = error(lambda: v1.read_namespaced_config_map("dry", ns))[0]

    # no Server header (kube-apiserver sends none)
    import urllib.request

    with urllib.request.urlopen(url + "/version") as response:
        out["server_header"] = response.headers.get("Server")

    # tokenreviews: a service account token authenticates as its account
    v1.create_namespaced_service_account(ns, {"metadata": {"name": "tr"}})
    token = v1.create_namespaced_service_account_token("tr", ns, {"spec": {"audiences": []}}).status.token
    review = client.AuthenticationV1Api(api).create_token_review({"spec": {"token": token}})
    out["token_review"] = (review.status.authenticated, review.status.user.username, review.status.user.groups)
    out["ns"] = ns
    return out


class PythonConformanceTests(TestCase):
    """
    The C{kubernetes} Python client against kapid on its embedded store.
    """

    timeout = 120

    async def test_python_client_session(self) -> None:
        """
        The client's CRUD, patch, pagination, watch, error and delete calls behave as against
        kube-apiserver.
        """
        # the session pages through exact ConfigMaps: without the root CA publisher's kube-root-ca.crt
        kapid = await start_kapid(self, "--controllers=*,-root-ca-cert-publisher")
        out = await deferToThread(_session, kapid.insecure_url)
        ns = out["ns"]
        self.assertEqual(out["namespace"], "V1Namespace")
        self.assertEqual(out["created"], ("p1", ns, True))
        self.assertEqual(out["patched"], {"a": "1", "b": "2", "c": "3"})
        self.assertEqual(out["replaced"], {"a": "1", "b": "2", "c": "3", "d": "4"})
        self.assertEqual(out["stale"][0], 409)
        self.assertEqual(
            out["stale"][2],
            _status_body('"Operation cannot be fulfilled on configmaps \\"p1\\": the object has been modified; '
                         'please apply your changes to the latest version and try again"',
                         "Conflict", '{"name":"p1","kind":"configmaps"}', 409),
        )
        deleted = out["deleted_cm"]
        self.assertEqual(
            (deleted["kind"], deleted["status"], deleted["details"]["name"], deleted["details"]["kind"]),
            ("Status", "Success", "p1", "configmaps"),
        )
        self.assertNotIn("group", deleted["details"])
        self.assertEqual(out["watch"], [("ADDED", "p1"), ("MODIFIED", "p1"), ("MODIFIED", "p1"),
                                        ("MODIFIED", "p1"), ("DELETED", "p1")])
        self.assertEqual(out["ssa_conflict"][2], (
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 '
            'conflict: conflict with \\"py\\": .data.a","reason":"Conflict","details":{"causes":[{"reason":'
            '"FieldManagerConflict","message":"conflict with \\"py\\"","field":".data.a"}]},"code":409}\n'))
        # (their order depends on the seconds of their times: compared by manager)
        self.assertEqual(out["ssa_forced"][0], {"a": "2"})
        self.assertEqual(sorted(out["ssa_forced"][1]), [
            ("other", "Apply", {"f:data": {".": {}, "f:a": {}}}),
            ("py", "Apply", {"f:data": {}}),
        ])
        self.assertEqual(out["pages"], [["pg0", "pg1"], ["pg2", "pg3"], ["pg4"]])
        self.assertEqual((out["first_remaining"], out["last_remaining"]), (3, None))
        self.assertEqual(out["selected"], ["pg0", "pg1", "pg2", "pg3", "pg4"])
        self.assertEqual(out["exists"][:2], (409, "Conflict"))
        self.assertEqual(out["exists"][2], _status_body('"configmaps \\"pg0\\" already exists"', "AlreadyExists",
                                                        '{"name":"pg0","kind":"configmaps"}', 409))
        self.assertEqual(out["missing"][2], _status_body('"configmaps \\"nope\\" not found"', "NotFound",
                                                         '{"name":"nope","kind":"configmaps"}', 404))
        self.assertEqual(out["missing_deploy"][2], _status_body(
            '"deployments.apps \\"nope\\" not found"', "NotFound",
            '{"name":"nope","group":"apps","kind":"deployments"}', 404))
        self.assertEqual(out["invalid"][:2], (422, "Unprocessable Entity"))
        self.assertIn('"reason":"Invalid","details":{"name":"Bad_Name","kind":"ConfigMap","causes":'
                      '[{"reason":"FieldValueInvalid","message":"Invalid value: \\"Bad_Name\\": a lowercase RFC 1123 '
                      'subdomain', out["invalid"][2])
        self.assertEqual(out["no_ns"][2], _status_body('"namespaces \\"ghost\\" not found"', "NotFound",
                                                       '{"name":"ghost","kind":"namespaces"}', 404))
        self.assertEqual(out["pod"], ("Always", "/dev/termination-log", "File", "Always", "ClusterFirst",
                                      "default-scheduler", 30, "Pending", "BestEffort"))
        self.assertEqual(out["deleted_pod"], ("V1Pod", "pp"))
        self.assertEqual(out["graceful"], ("V1Pod", 30, True))
        self.assertEqual((out["forced"], out["forced_gone"]), ("V1Pod", 404))
        self.assertEqual(out["service"], ("ClusterIP", "None", 80, "TCP", ["IPv4"], "Cluster"))
        self.assertEqual(out["deleted_svc"], "V1Service")
        self.assertEqual(out["deploy_defaults"], (1, 10, 600, "RollingUpdate", 1))
        self.assertEqual(out["deploy_replaced"], (4, 2))
        self.assertEqual(out["deploy_smp"], ["c", "side"])
        self.assertEqual((out["scale"], out["scaled"]), (4, 2))
        self.assertEqual(out["deploy_invalid"][0], 422)
        self.assertEqual(out["json_test"][0], 422)
        self.assertEqual(
            out["json_test"][2],
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our '
            'request due to an error in our request","reason":"Invalid","details":{"causes":[{"reason":'
            '"UnexpectedServerResponse","message":"testing value /spec/replicas failed: test failed"}]},"code":422}\n',
        )
        deleted = out["deleted_deploy"]
        self.assertEqual((deleted["status"], deleted["details"]["group"], deleted["details"]["kind"]),
                         ("Success", "apps", "deployments"))
        self.assertEqual((out["dry_run"], out["dry_run_stored"]), ("dry", 404))
        self.assertIsNone(out["server_header"])
        self.assertEqual(out["token_review"], (True, f"system:serviceaccount:{ns}:tr",
                                               ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                                "system:authenticated"]))
