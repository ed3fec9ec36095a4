"""
End to end: the parts of the API surface that need the running server, with real kubectl 1.32 and
1.33 against a real C{twistd kapid}: C{auth can-i} and C{auth whoami} (SelfSubjectAccessReview and
SelfSubjectReview, sent as protobuf), C{create token} (serviceaccounts/token with the C{default}
ServiceAccount the controller creates), and Service allocation (C{create service}, the
C{kubernetes} Service).
"""

from __future__ import annotations

import ipaddress
import json

import jwt
from twisted.trial.unittest import TestCase

from tests.e2e.helpers import run_kubectl_async, start_kapid

VERSIONS = ("1.32", "1.33")


class _Kubectl:
    """
    kubectl of one version with its own HOME, against one server.
    """

    def __init__(self, testcase: TestCase, version: str, kubeconfig: str = "", server: str = "") -> None:
        self.version = version
        self.kubeconfig = kubeconfig or None
        self.server = server or None
        self.home = testcase.mktemp()

    async def __call__(self, *args: str):
        return await run_kubectl_async(self.version, list(args), kubeconfig=self.kubeconfig,
                                       server=self.server, home=self.home)


class AlwaysAllowSurfaceTests(TestCase):
    """
    The default authorizer (AlwaysAllow), over the secure port with the admin kubeconfig and over
    the insecure port.
    """

    async def test_auth_token_and_services(self) -> None:
        """
        can-i says yes, whoami names the user of each port, create token prints a token for the
        default ServiceAccount, created Services get a cluster IP (and a node port) from the
        ranges, and the kubernetes Service has the range's first address; a restart keeps the
        allocations and the signing key.
        """
        kapid = await start_kapid(self)
        for version in VERSIONS:
            admin = _Kubectl(self, version, kubeconfig=kapid.kubeconfig)
            insecure = _Kubectl(self, version, server=kapid.insecure_url)

            r = await admin("auth", "can-i", "get", "pods")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "yes"), r.stderr)
            r = await admin("auth", "whoami", "-o", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["status"]["userInfo"]["username"], "system:admin")
            r = await insecure("auth", "whoami")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("system:unsecured", r.stdout)
            self.assertIn("system:masters", r.stdout)

            r = await admin("create", "token", "default")
            self.assertEqual(r.returncode, 0, r.stderr)
            claims = jwt.decode(r.stdout.strip(), options={"verify_signature": False})
            self.assertEqual(claims["sub"], "system:serviceaccount:default:default")
            self.assertEqual(claims["aud"], ["https://kubernetes.default.svc.cluster.local"])
            self.assertEqual(claims["exp"] - claims["iat"], 3600)
            r = await admin("create", "token", "nosuch")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('serviceaccounts "nosuch" not found', r.stderr)

            name = "s" + version.replace(".", "")
            r = await admin("create", "service", "clusterip", name, "--tcp=80:8080")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = await admin("create", "service", "nodeport", "np" + name[1:], "--tcp=80:8080")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = await admin("get", "svc")
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
            self.assertEqual(r.stdout.split()[:6], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
            self.assertIn(ipaddress.ip_address(rows[name][2]), ipaddress.ip_network("10.0.0.0/24"))
            node_port = int(rows["np" + name[1:]][4].split(":")[1].split("/")[0])
            self.assertTrue(30000 <= node_port <= 32767, node_port)
            self.assertNotEqual(rows[name][2], rows["np" + name[1:]][2])
            r = await admin("get", "svc", "kubernetes")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.splitlines()[1].split()[:3], ["kubernetes", "ClusterIP", "10.0.0.1"])

        r = await admin("create", "service", "clusterip", "taken", "--tcp=80:80", f"--clusterip={rows[name][2]}")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("provided IP is already allocated", r.stderr)
        r = await admin("get", "--raw", "/apis/authorization.k8s.io/v1")
        self.assertIn("selfsubjectaccessreviews", r.stdout)
        r = await admin("get", "--raw", "/apis/authentication.k8s.io/v1")
        self.assertIn("selfsubjectreviews", r.stdout)
        before = (await admin("get", "svc", "-o", "json")).stdout
        kid = jwt.get_unverified_header((await admin("create", "token", "default")).stdout.strip())["kid"]

        # a restart over the same data dir keeps the allocations and the signing key
        self.assertEqual(await kapid.stop(), 0)
        kapid = await start_kapid(self, data_dir=kapid.data_dir)
        admin = _Kubectl(self, "1.33", kubeconfig=kapid.kubeconfig)
        after = (await admin("get", "svc", "-o", "json")).stdout
        ips = lambda text: {  # noqa: E731
            i["metadata"]["name"]: (i["spec"]["clusterIP"], [p.get("nodePort") for p in i["spec"]["ports"]])
            for i in json.loads(text)["items"]
        }
        self.assertEqual(ips(after), ips(before))
        r = await admin("create", "service", "clusterip", "taken", "--tcp=80:80", f"--clusterip={rows[name][2]}")
        self.assertIn("provided IP is already allocated", r.stderr)
        token = (await admin("create", "token", "default")).stdout.strip()
        self.assertEqual(jwt.get_unverified_header(token)["kid"], kid)


class AlwaysDenySurfaceTests(TestCase):
    """
    C{--authorization-mode=AlwaysDeny}: reviews ask that authorizer.
    """

    async def test_can_i_follows_authorizer(self) -> None:
        """
        The admin (system:masters, allowed whatever the modes, as in kube) is told yes; a user it
        impersonates may not even ask (kube's 403 on the review itself).
        """
        kapid = await start_kapid(self, "--authorization-mode=AlwaysDeny")
        for version in VERSIONS:
            admin = _Kubectl(self, version, kubeconfig=kapid.kubeconfig)
            r = await admin("auth", "can-i", "get", "pods")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "yes"), r.stderr)
            r = await admin("auth", "can-i", "get", "pods", "--as=alice")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(
                'User "alice" cannot create resource "selfsubjectaccessreviews" in API group '
                '"authorization.k8s.io" at the cluster scope: Everything is forbidden.',
                r.stderr,
            )
            r = await admin("auth", "whoami", "-o", "json")
            self.assertEqual(json.loads(r.stdout)["status"]["userInfo"]["username"], "system:admin", r.stderr)
