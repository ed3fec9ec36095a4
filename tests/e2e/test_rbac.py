"""
End to end: RBAC and service account tokens with the real kubectl against a real C{twistd kapid}
(RBAC is the default mode): the default policy as on a new cluster, a ServiceAccount bound to a Role
doing exactly what the Role grants with a token from C{kubectl create token}, C{kubectl auth can-i
[--list] [--as]}, escalation refused, the token refused once its bound Pod is deleted, anonymous
requests limited to the public info, the issuer discovery documents, and a legacy token Secret.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import jwt
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

try:  # the helpers are moving to kapid.testing.process
    from kapid.testing.process import run_kubectl_async, start_kapid  # type: ignore[attr-defined]
except ImportError:
    from tests.e2e.helpers import run_kubectl_async, start_kapid

VERSION = "1.33"


def _anonymous_get(url: str) -> tuple[int, Any]:
    """
    GET C{url} without credentials (blocking; run in a thread): the status code and the JSON body.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class RBACTests(TestCase):
    """
    One kapid, several users.
    """

    async def kubectl(self, *args: str, token: str = "", version: str = VERSION) -> Any:
        if not hasattr(self, "home"):
            self.home = self.mktemp()
        if token:
            extra = ["--insecure-skip-tls-verify", f"--token={token}"]
            return await run_kubectl_async(version, extra + list(args), server=self.kapid.secure_url, home=self.home)
        return await run_kubectl_async(version, list(args), kubeconfig=self.kapid.kubeconfig, home=self.home)

    async def ok(self, *args: str, **kw: Any) -> str:
        r = await self.kubectl(*args, **kw)
        self.assertEqual(r.returncode, 0, f"kubectl {' '.join(args)}: {r.stderr}")
        return r.stdout

    async def eventually_ok(self, *args: str, **kw: Any) -> str:
        """
        L{ok}, tried again for a few seconds: a new binding reaches the authorizer through a watch,
        a moment after the write (as in kube).
        """
        for _ in range(30):
            r = await self.kubectl(*args, **kw)
            if r.returncode == 0 and r.stdout.strip() != "no":
                return r.stdout
            await deferLater(reactor, 0.1, lambda: None)
        return await self.ok(*args, **kw)

    async def fails(self, *args: str, **kw: Any) -> str:
        r = await self.kubectl(*args, **kw)
        self.assertNotEqual(r.returncode, 0, f"kubectl {' '.join(args)} succeeded: {r.stdout}")
        return r.stderr

    async def test_rbac_and_service_account_tokens(self) -> None:
        """
        The whole story, in one server.
        """
        self.kapid = await start_kapid(self)

        # the default policy, aggregated
        names = (await self.ok("get", "clusterroles", "-o", "name")).split()
        for name in ("cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
                     "system:public-info-viewer", "system:aggregate-to-view", "system:kube-scheduler"):
            self.assertIn(f"clusterrole.rbac.authorization.k8s.io/{name}", names)
        bindings = (await self.ok("get", "clusterrolebindings", "-o", "name")).split()
        self.assertIn("clusterrolebinding.rbac.authorization.k8s.io/cluster-admin", bindings)
        view = json.loads(await self.ok("get", "clusterrole", "view", "-o", "json"))
        self.assertTrue(any("pods" in r.get("resources", []) for r in view["rules"]), view)

        # a ServiceAccount with a Role in its namespace, a Pod to bind its token to
        await self.ok("create", "namespace", "team")
        await self.ok("-n", "team", "create", "serviceaccount", "bot")
        await self.ok("-n", "team", "create", "role", "worker", "--verb=get,list,watch,create,patch",
                      "--resource=pods,configmaps")
        await self.ok("-n", "team", "create", "role", "logs", "--verb=get", "--resource=pods/log")
        await self.ok("-n", "team", "create", "rolebinding", "bot-worker", "--role=worker", "--serviceaccount=team:bot")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team"},
               "spec": {"serviceAccountName": "bot", "containers": [{"name": "c", "image": "nginx"}]}}
        path = self.mktemp()
        with open(path, "w") as f:
            json.dump(pod, f)
        await self.ok("create", "-f", path)
        token = (await self.ok("-n", "team", "create", "token", "bot", "--bound-object-kind=Pod",
                               "--bound-object-name=web")).strip()
        self.assertEqual(jwt.decode(token, options={"verify_signature": False})["kubernetes.io"]["pod"]["name"], "web")

        # what the Role grants, in its namespace only
        out = await self.ok("-n", "team", "get", "pods", token=token)
        self.assertIn("web", out)
        await self.ok("-n", "team", "create", "configmap", "cfg", "--from-literal=a=b", token=token)
        await self.ok("-n", "team", "patch", "configmap", "cfg", "-p", '{"data":{"a":"c"}}', token=token)
        err = await self.fails("-n", "team", "delete", "configmap", "cfg", token=token)
        self.assertIn('configmaps "cfg" is forbidden: User "system:serviceaccount:team:bot" cannot delete resource '
                      '"configmaps" in API group "" in the namespace "team"', err)
        err = await self.fails("-n", "default", "get", "pods", token=token)
        self.assertIn('pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" in API '
                      'group "" in the namespace "default"', err)
        err = await self.fails("get", "nodes", token=token)
        self.assertIn('cannot list resource "nodes" in API group "" at the cluster scope', err)
        err = await self.fails("-n", "team", "get", "--raw", "/api/v1/namespaces/team/pods/web/log", token=token)
        self.assertIn('cannot get resource "pods/log"', err)
        await self.ok("-n", "team", "create", "rolebinding", "bot-logs", "--role=logs", "--serviceaccount=team:bot")
        self.assertEqual((await self.eventually_ok("-n", "team", "auth", "can-i", "get", "pods/log", token=token)).strip(),
                         "yes")
        await self.ok("get", "--raw", "/apis", token=token)  # system:discovery
        err = await self.fails("get", "--raw", "/metrics", token=token)
        self.assertIn("Forbidden", err)

        # can-i, as the account and for it
        self.assertEqual((await self.ok("-n", "team", "auth", "can-i", "list", "pods", token=token)).strip(), "yes")
        r = await self.kubectl("-n", "team", "auth", "can-i", "delete", "pods", token=token)
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "no"))
        for version in ("1.32", "1.33"):
            r = await self.kubectl("-n", "team", "auth", "can-i", "watch", "pods", "--as=system:serviceaccount:team:bot",
                                   version=version)
            self.assertEqual(r.stdout.strip(), "yes", r.stderr)
            r = await self.kubectl("-n", "default", "auth", "can-i", "watch", "pods",
                                   "--as=system:serviceaccount:team:bot", version=version)
            self.assertEqual(r.stdout.strip(), "no", r.stderr)
        listing = await self.ok("-n", "team", "auth", "can-i", "--list", token=token)
        rows = {line.split()[0]: line for line in listing.splitlines()[1:] if line.strip() and not line.startswith(" ")}
        self.assertIn("[get list watch create patch]", rows["pods"])
        self.assertIn("[get]", rows["pods/log"])
        self.assertNotIn("secrets", rows)
        whoami = json.loads(await self.ok("auth", "whoami", "-o", "json", token=token))
        self.assertEqual(whoami["status"]["userInfo"]["groups"],
                         ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"])
        # impersonation needs the impersonate verb
        err = await self.fails("-n", "team", "get", "pods", "--as=alice", token=token)
        self.assertIn('users "alice" is forbidden: User "system:serviceaccount:team:bot" cannot impersonate resource '
                      '"users" in API group "" at the cluster scope', err)

        # escalation: the account may write roles and bindings, but not grant more than it holds
        await self.ok("-n", "team", "create", "role", "rbac-writer", "--verb=get,create,update,patch",
                      "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io")
        await self.ok("-n", "team", "create", "rolebinding", "bot-rbac", "--role=rbac-writer",
                      "--serviceaccount=team:bot")
        await self.eventually_ok("-n", "team", "create", "role", "small", "--verb=get", "--resource=pods", token=token)
        err = await self.fails("-n", "team", "create", "role", "big", "--verb=get,delete", "--resource=secrets",
                               token=token)
        self.assertIn('roles.rbac.authorization.k8s.io "big" is forbidden: user "system:serviceaccount:team:bot" '
                      '(groups=["system:serviceaccounts" "system:serviceaccounts:team" "system:authenticated"]) is '
                      "attempting to grant RBAC permissions not currently held:\n"
                      '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}', err)
        await self.ok("-n", "team", "create", "rolebinding", "friend", "--role=worker", "--user=alice", token=token)
        err = await self.fails("-n", "team", "create", "rolebinding", "root", "--clusterrole=cluster-admin",
                               "--user=alice", token=token)
        self.assertIn('rolebindings.rbac.authorization.k8s.io "root" is forbidden: user '
                      '"system:serviceaccount:team:bot"', err)
        err = await self.fails("-n", "team", "patch", "role", "small", "--type=json",
                               "-p", '[{"op":"add","path":"/rules/0/verbs/-","value":"delete"}]', token=token)
        self.assertIn("attempting to grant RBAC permissions not currently held", err)

        # anonymous: the public info only (kubectl would prompt for a password: plain HTTPS here), and an
        # unknown token is 401
        code, body = await deferToThread(_anonymous_get, self.kapid.secure_url + "/version")
        self.assertEqual((code, body["major"]), (200, "1"))
        code, body = await deferToThread(_anonymous_get, self.kapid.secure_url + "/api/v1/namespaces/team/pods")
        self.assertEqual((code, body["reason"]), (403, "Forbidden"))
        self.assertEqual(body["message"], 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in '
                                          'API group "" in the namespace "team"')
        err = await self.fails("get", "pods", token=token[:-4] + "AAAA")
        self.assertIn("Unauthorized", err)

        # issuer discovery, for service accounts
        config = json.loads(await self.ok("get", "--raw", "/.well-known/openid-configuration", token=token))
        jwks_path = "/" + config["jwks_uri"].split("://", 1)[1].split("/", 1)[1]
        jwks = json.loads(await self.ok("get", "--raw", jwks_path, token=token))
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=config["issuer"], issuer=config["issuer"])
        self.assertEqual(claims["sub"], "system:serviceaccount:team:bot")

        # a legacy token Secret, filled by the tokens controller, works while the Secret exists
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                  "metadata": {"name": "bot-token", "namespace": "team",
                               "annotations": {"kubernetes.io/service-account.name": "bot"}}}
        with open(path, "w") as f:
            json.dump(secret, f)
        await self.ok("create", "-f", path)
        legacy = ""
        for _ in range(50):
            data = json.loads(await self.ok("-n", "team", "get", "secret", "bot-token", "-o", "json")).get("data") or {}
            if data.get("token"):
                legacy = base64.b64decode(data["token"]).decode()
                break
            await deferLater(reactor, 0.1, lambda: None)
        self.assertTrue(legacy)
        self.assertIn("web", await self.ok("-n", "team", "get", "pods", token=legacy))
        await self.ok("-n", "team", "delete", "secret", "bot-token")
        self.assertIn("Unauthorized", await self.fails("-n", "team", "get", "pods", token=legacy))

        # the token dies with its Pod
        await self.ok("-n", "team", "delete", "pod", "web", "--grace-period=0", "--force")
        err = await self.fails("-n", "team", "get", "configmaps", token=token)
        self.assertIn("Unauthorized", err)
