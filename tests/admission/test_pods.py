"""
Tests for L{kapid.admission.plugins.pods}: ServiceAccount, DefaultTolerationSeconds and Priority
through the REST handlers, with kube's messages.
"""

from __future__ import annotations

import random

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.plugins.pods import ServiceAccount, ensure_system_priority_classes
from tests.admission.helpers import api_with

PODS = "/api/v1/namespaces/default/pods"
SAS = "/api/v1/namespaces/default/serviceaccounts"
PCS = "/apis/scheduling.k8s.io/v1/priorityclasses"


def pod(name: str, **spec: object) -> dict:
    s: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}


def sa(name: str, **fields: object) -> dict:
    out: dict = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    out.update(fields)
    return out


class ServiceAccountTests(SynchronousTestCase):
    """
    The ServiceAccount plugin.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["ServiceAccount"])

    def test_missing_default_service_account(self) -> None:
        """
        Without the default service account (after kube's ten lookups), a pod is 403 with kube's
        message.
        """
        d = self.api.treq.request("POST", "http://kapid" + PODS, json=pod("p"))
        self.api.treq.flush()
        for _ in range(10):
            self.api.clock.advance(0.2)
            self.api.treq.flush()
        resp = self.successResultOf(d)
        self.assertEqual(resp.code, 403)
        cd = resp.json()
        self.api.treq.flush()
        body = self.successResultOf(cd)
        self.assertEqual(
            body["message"],
            'pods "p" is forbidden: error looking up service account default/default: serviceaccount "default" not found',
        )

    def test_default_service_account_and_token_volume(self) -> None:
        """
        A pod gets serviceAccountName default and the projected kube-api-access volume mounted
        read-only at kube's path in every container; the account's image pull secrets are copied.
        """
        self.api.post(SAS, sa("default", imagePullSecrets=[{"name": "reg"}]))
        code, body, _ = self.api.post(PODS, pod("p", initContainers=[{"name": "i", "image": "busybox"}]))
        self.assertEqual(code, 201, body)
        spec = body["spec"]
        self.assertEqual(spec["serviceAccountName"], "default")
        self.assertEqual(spec["serviceAccount"], "default")
        self.assertEqual(spec["imagePullSecrets"], [{"name": "reg"}])
        (volume,) = spec["volumes"]
        self.assertRegex(volume["name"], r"^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$")
        self.assertEqual(volume["projected"], {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        })
        mount = {"name": volume["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
        self.assertEqual(spec["containers"][0]["volumeMounts"], [mount])
        self.assertEqual(spec["initContainers"][0]["volumeMounts"], [mount])

    def test_automount_off(self) -> None:
        """
        automountServiceAccountToken false on the pod (or, unless the pod says, the account)
        means no volume.
        """
        self.api.post(SAS, sa("default"))
        self.api.post(SAS, sa("quiet", automountServiceAccountToken=False))
        _, body, _ = self.api.post(PODS, pod("a", automountServiceAccountToken=False))
        self.assertNotIn("volumes", body["spec"])
        _, body, _ = self.api.post(PODS, pod("b", serviceAccountName="quiet"))
        self.assertNotIn("volumes", body["spec"])
        _, body, _ = self.api.post(PODS, pod("c", serviceAccountName="quiet", automountServiceAccountToken=True))
        self.assertEqual(len(body["spec"]["volumes"]), 1)

    def test_named_missing_account(self) -> None:
        """
        A named account that does not exist is 403 at once.
        """
        code, body, _ = self.api.post(PODS, pod("p", serviceAccountName="ghost"))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "p" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
        )

    def test_enforce_mountable_secrets(self) -> None:
        """
        An account annotated kubernetes.io/enforce-mountable-secrets allows only its secrets.
        """
        self.api.post(SAS, sa("strict", metadata={"name": "strict", "annotations": {
            "kubernetes.io/enforce-mountable-secrets": "true"}}, secrets=[{"name": "ok"}]))
        code, body, _ = self.api.post(PODS, pod("p", serviceAccountName="strict", volumes=[
            {"name": "v", "secret": {"secretName": "other"}}]))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "p" is forbidden: volume with secret.secretName="other" is not allowed because service account '
            "strict does not reference that secret",
        )
        code, body, _ = self.api.post(PODS, pod("q", serviceAccountName="strict", volumes=[
            {"name": "v", "secret": {"secretName": "ok"}}]))
        self.assertEqual(code, 201, body)

    def test_mirror_pod(self) -> None:
        """
        A mirror pod is left alone but may not name a service account.
        """
        mirror = pod("m", serviceAccountName="x")
        mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
        code, body, _ = self.api.post(PODS, mirror)
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "m" is forbidden: a mirror pod may not reference service accounts')

    def test_existing_mount_path_kept(self) -> None:
        """
        A container that already mounts something at the token path gets no second mount.
        """
        self.api.post(SAS, sa("default"))
        p = pod("p", volumes=[{"name": "mine", "emptyDir": {}}])
        p["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
        _, body, _ = self.api.post(PODS, p)
        self.assertEqual([v["name"] for v in body["spec"]["volumes"]], ["mine"])

    def test_generated_name_is_kube_alphabet(self) -> None:
        """
        The plugin's volume names come from kube's name generator alphabet.
        """
        plugin = ServiceAccount(self.api.context, random.Random(1))
        spec = {"containers": [{"name": "c"}]}
        plugin.mount_token(spec)
        self.assertTrue(spec["volumes"][0]["name"].startswith("kube-api-access-"))


class DefaultTolerationSecondsTests(SynchronousTestCase):
    """
    The DefaultTolerationSeconds plugin.
    """

    def test_tolerations_added(self) -> None:
        """
        A pod gets kube's two NoExecute tolerations of 300 seconds, after its own.
        """
        api = api_with(self, names=["DefaultTolerationSeconds"])
        own = {"key": "a", "operator": "Equal", "value": "b", "effect": "NoSchedule"}
        code, body, _ = api.post(PODS, pod("p", tolerations=[own]))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["tolerations"], [
            own,
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])

    def test_wildcard_toleration(self) -> None:
        """
        A toleration with no key and no effect tolerates both; nothing is added.
        """
        api = api_with(self, names=["DefaultTolerationSeconds"])
        code, body, _ = api.post(PODS, pod("p", tolerations=[{"operator": "Exists"}]))
        self.assertEqual(body["spec"]["tolerations"], [{"operator": "Exists"}])


class PriorityTests(SynchronousTestCase):
    """
    The Priority plugin and kube's system PriorityClasses.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["Priority"])
        self.api.run(Deferred.fromCoroutine(ensure_system_priority_classes(self.api.link)))

    def test_system_classes(self) -> None:
        """
        system-node-critical and system-cluster-critical exist with kube's values.
        """
        _, body, _ = self.api.get(PCS + "/system-node-critical")
        self.assertEqual(body["value"], 2000001000)
        self.assertNotIn("globalDefault", body)  # false, so left out as kube's omitempty does
        _, body, _ = self.api.get(PCS + "/system-cluster-critical")
        self.assertEqual(body["value"], 2000000000)

    def test_default_priority_zero(self) -> None:
        """
        Without a global default, a pod gets priority 0 and PreemptLowerPriority.
        """
        code, body, _ = self.api.post(PODS, pod("p"))
        self.assertEqual(code, 201, body)
        self.assertEqual(body["spec"]["priority"], 0)
        self.assertEqual(body["spec"]["preemptionPolicy"], "PreemptLowerPriority")
        self.assertNotIn("priorityClassName", body["spec"])

    def test_class_resolved_and_errors(self) -> None:
        """
        A named class gives its value; an unknown one or a mismatching priority is kube's 403.
        """
        _, body, _ = self.api.post(PODS, pod("p", priorityClassName="system-cluster-critical"))
        self.assertEqual(body["spec"]["priority"], 2000000000)
        code, body, _ = self.api.post(PODS, pod("q", priorityClassName="nope"))
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], 'pods "q" is forbidden: no PriorityClass with name nope was found')
        code, body, _ = self.api.post(PODS, pod("r", priorityClassName="system-cluster-critical", priority=5))
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'pods "r" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority '
            "admission controller computed 2000000000 from the given PriorityClass name",
        )

    def test_global_default(self) -> None:
        """
        A global default class applies to pods without one; a second global default is 403.
        """
        pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "low"},
              "value": 10, "globalDefault": True}
        self.assertEqual(self.api.post(PCS, pc)[0], 201)
        _, body, _ = self.api.post(PODS, pod("p"))
        self.assertEqual((body["spec"]["priorityClassName"], body["spec"]["priority"]), ("low", 10))
        pc2 = dict(pc, metadata={"name": "other"})
        code, body, _ = self.api.post(PCS, pc2)
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass low is already marked as '
            "default. Only one default can exist",
        )

    def test_update_keeps_priority(self) -> None:
        """
        An update cannot change the priority the plugin set.
        """
        self.api.post(PODS, pod("p"))
        code, body, _ = self.api.request(
            "PATCH", PODS + "/p", {"metadata": {"labels": {"a": "b"}}}, content_type="application/merge-patch+json")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["spec"]["priority"], 0)
