"""
Tests for L{kapid.admission.plugins.podsecurity}: Pod Security Standards levels from namespace
labels, enforced, warned and audited with kube's exact texts.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.plugins.podsecurity import evaluate, forbidden_detail, policy_for, DEFAULT_POLICY
from tests.admission.helpers import api_with

NS = "/api/v1/namespaces"

RESTRICTED_NGINX = (
    'allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
)


def pod(name: str = "p", **spec: object) -> dict:
    s: dict = {"containers": [{"name": "nginx", "image": "nginx"}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}


def compliant() -> dict:
    return pod(securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
               containers=[{"name": "nginx", "image": "nginx", "securityContext": {
                   "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}])


class ChecksTests(SynchronousTestCase):
    """
    The checks' texts.
    """

    def test_restricted_plain_pod(self) -> None:
        """
        A plain pod fails restricted with kube's four reasons in kube's order.
        """
        p = pod()
        self.assertEqual(forbidden_detail(evaluate("restricted", p["metadata"], p["spec"])), RESTRICTED_NGINX)
        self.assertEqual(evaluate("baseline", p["metadata"], p["spec"]), [])
        self.assertEqual(evaluate("privileged", p["metadata"], p["spec"]), [])

    def test_baseline_host_things(self) -> None:
        """
        Host namespaces, hostPath volumes and host ports, as kube words them, in its order.
        """
        p = pod(hostNetwork=True, hostPID=True, volumes=[{"name": "proc", "hostPath": {"path": "/proc"}},
                                                         {"name": "sys", "hostPath": {"path": "/sys"}}],
                containers=[{"name": "node-exporter", "image": "x", "ports": [{"containerPort": 9100, "hostPort": 9100}]}])
        self.assertEqual(
            forbidden_detail(evaluate("baseline", p["metadata"], p["spec"])),
            'host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volumes "proc", "sys"), '
            'hostPort (container "node-exporter" uses hostPort 9100)',
        )

    def test_restricted_volumes_replace_host_path(self) -> None:
        """
        Under restricted, a hostPath volume is a restricted volume type (not also a hostPath one).
        """
        p = compliant()
        p["spec"]["volumes"] = [{"name": "host-root", "hostPath": {"path": "/"}}, {"name": "host-etc", "hostPath": {"path": "/etc"}}]
        self.assertEqual(
            forbidden_detail(evaluate("restricted", p["metadata"], p["spec"])),
            'restricted volume types (volumes "host-root", "host-etc" use restricted volume type "hostPath")',
        )

    def test_privileged_capabilities_user(self) -> None:
        """
        privileged, added capabilities and runAsUser=0.
        """
        p = compliant()
        c = p["spec"]["containers"][0]
        c["securityContext"].update({"privileged": True, "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN", "KILL"]}})
        self.assertEqual(
            forbidden_detail(evaluate("baseline", p["metadata"], p["spec"])),
            'non-default capabilities (container "nginx" must not include "SYS_ADMIN" in securityContext.capabilities.add), '
            'privileged (container "nginx" must not set securityContext.privileged=true)',
        )
        self.assertEqual(
            forbidden_detail(evaluate("restricted", p["metadata"], p["spec"])),
            'privileged (container "nginx" must not set securityContext.privileged=true), '
            'unrestricted capabilities (container "nginx" must not include "KILL", "SYS_ADMIN" in securityContext.capabilities.add), '
            'runAsUser=0 (container "nginx" must not set runAsUser=0)',
        )

    def test_policy_labels(self) -> None:
        """
        Levels and versions from labels; an invalid level is restricted.
        """
        policy, errs = policy_for({"pod-security.kubernetes.io/enforce": "baseline",
                                   "pod-security.kubernetes.io/warn": "restricted",
                                   "pod-security.kubernetes.io/warn-version": "v1.25",
                                   "pod-security.kubernetes.io/audit": "bogus"}, DEFAULT_POLICY)
        self.assertEqual((str(policy.enforce), str(policy.warn), str(policy.audit)),
                         ("baseline:latest", "restricted:v1.25", "restricted:latest"))
        self.assertEqual(len(errs), 1)


class AdmissionTests(SynchronousTestCase):
    """
    Through the REST handlers.
    """

    def setUp(self) -> None:
        self.api = api_with(self, names=["PodSecurity"])

    def namespace(self, name: str, **labels: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name, "labels": {f"pod-security.kubernetes.io/{k.replace('_', '-')}": v for k, v in labels.items()}}}
        self.assertEqual(self.api.post(NS, body)[0], 201)

    def test_enforce(self) -> None:
        """
        A pod that violates the enforced level is 403 with kube's message; nothing is stored.
        """
        self.namespace("r", enforce="restricted")
        code, body, _ = self.api.post(NS + "/r/pods", pod())
        self.assertEqual(code, 403)
        self.assertEqual(body["message"], f'pods "p" is forbidden: violates PodSecurity "restricted:latest": {RESTRICTED_NGINX}')
        self.assertEqual(body["reason"], "Forbidden")
        self.assertEqual(self.api.get(NS + "/r/pods/p")[0], 404)
        code, body, _ = self.api.post(NS + "/r/pods", compliant())
        self.assertEqual(code, 201, body)

    def test_warn_with_version(self) -> None:
        """
        The warn level is a Warning naming its version; the pod is stored.
        """
        self.namespace("w", warn="restricted", warn_version="v1.28")
        code, body, headers = self.api.post(NS + "/w/pods", pod())
        self.assertEqual(code, 201, body)
        self.assertEqual(
            headers.getRawHeaders("warning"),
            ['299 - "would violate PodSecurity \\"restricted:v1.28\\": ' + RESTRICTED_NGINX.replace('"', '\\"') + '"'],
        )

    def test_workloads_warned_not_enforced(self) -> None:
        """
        A Deployment's template is warned about, never refused.
        """
        self.namespace("d", enforce="restricted", warn="baseline")
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                "hostNetwork": True, "containers": [{"name": "c", "image": "i"}]}}}}
        code, body, headers = self.api.post("/apis/apps/v1/namespaces/d/deployments", dep)
        self.assertEqual(code, 201, body)
        self.assertEqual(headers.getRawHeaders("warning"),
                         ['299 - "would violate PodSecurity \\"baseline:latest\\": host namespaces (hostNetwork=true)"'])

    def test_privileged_default_and_metadata_updates(self) -> None:
        """
        Without labels nothing is checked; a label-only update of a violating pod is not judged.
        """
        code, _, headers = self.api.post(NS + "/default/pods", pod(hostNetwork=True))
        self.assertEqual(code, 201)
        self.assertIsNone(headers.getRawHeaders("warning"))
        self.namespace("u", warn="baseline")
        self.api.post(NS + "/u/pods", pod(hostNetwork=True))
        code, _, headers = self.api.request("PATCH", NS + "/u/pods/p", {"metadata": {"labels": {"x": "y"}}},
                                            content_type="application/merge-patch+json")
        self.assertEqual(code, 200)
        self.assertIsNone(headers.getRawHeaders("warning"))

    def test_exemptions(self) -> None:
        """
        An exempt namespace is not checked.
        """
        api = api_with(self, names=["PodSecurity"], config={"PodSecurity": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "restricted"}, "exemptions": {"namespaces": ["default"]}}})
        self.assertEqual(api.post(NS + "/default/pods", pod())[0], 201)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
        api.post(NS, body)
        code, out, _ = api.post(NS + "/other/pods", pod())
        self.assertEqual(code, 403, out)

    def test_namespace_label_warns_about_pods(self) -> None:
        """
        Labelling a namespace with a stricter enforce level warns about its pods, those with the
        same reasons in one line, as kube does.
        """
        self.namespace("lab")
        for name in ("b", "a", "c"):
            self.api.post(NS + "/lab/pods", pod(name))
        self.api.post(NS + "/lab/pods", pod("h", hostNetwork=True))
        code, _, headers = self.api.request(
            "PATCH", NS + "/lab", {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
            content_type="application/merge-patch+json")
        self.assertEqual(code, 200)
        self.assertEqual(headers.getRawHeaders("warning"), [
            '299 - "existing pods in namespace \\"lab\\" violate the new PodSecurity enforce level \\"restricted:latest\\""',
            '299 - "a (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"',
            '299 - "h: host namespaces, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"',
        ])
