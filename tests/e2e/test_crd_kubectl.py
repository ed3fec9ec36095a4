"""
CustomResourceDefinitions end to end with the real kubectl: one C{twistd kapid} (embedded store) for
the module, driven by C{kubectl.1.33} (and C{kubectl.1.32} where the two differ in what they ask
the server: OpenAPI for explain, discovery, apply), through one broad session: a CRD from YAML, its
establishment, custom resources with every verb kubectl has, server-side apply between two field
managers, explain, printer columns, scale, a watch, discovery, field selectors, bad input, and the
deletion of the CRD with its objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any, Callable, Optional

from twisted.trial.unittest import TestCase

from tests.e2e.helpers import KapidProcess, _kubectl_cmd, _kubectl_env, _sleep, run_kubectl, start_kapid

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
    shortNames: [wd, wdg]
    categories: [all, gadgets]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    selectableFields:
    - jsonPath: .spec.color
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Size, type: string, jsonPath: .spec.size, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a thing with parts.
        properties:
          spec:
            type: object
            description: The desired state of the widget.
            properties:
              color:
                type: string
                description: The color of the widget, as a CSS color name.
                enum: [red, green, blue]
              replicas:
                type: integer
                minimum: 0
                description: How many copies.
              size:
                type: string
                default: medium
              ports:
                type: array
                description: Named ports.
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
"""

WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: %(name)s
spec:
  color: %(color)s
  replicas: 1
"""

#: Two field managers' configurations of one Widget: their C{ports} lists merge by C{name}.
ALICE = """apiVersion: example.com/v1
kind: Widget
metadata: {name: shared}
spec:
  color: red
  ports:
  - {name: http, port: 80}
"""

BOB = """apiVersion: example.com/v1
kind: Widget
metadata: {name: shared}
spec:
  ports:
  - {name: https, port: 443}
"""

BOB_COLOR = """apiVersion: example.com/v1
kind: Widget
metadata: {name: shared}
spec:
  color: blue
  ports:
  - {name: https, port: 443}
"""

#: The group does not match the name and no version is the storage version.
BAD_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
spec:
  group: example.org
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object}
"""

BAD_WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata: {name: bad}
spec:
  color: purple
  replicas: -1
"""

CONFLICT = """error: Apply failed with 1 conflict: conflict with "alice": .spec.color
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
"""

NOT_FOUND = "Error from server (NotFound): the server could not find the requested resource\n"


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


class CRDKubectlTests(TestCase):
    """
    One kubectl session against one kapid.
    """

    timeout = 240
    kubectl = "1.33"

    # -- helpers --------------------------------------------------------------------------------

    def k(self, *args: str, ok: bool = True, version: Optional[str] = None, input: Optional[str] = None) -> Any:
        """
        Run kubectl in this test's namespace (not for cluster-scoped commands that refuse one);
        assert success when C{ok}.
        """
        ns = [] if args[0] in ("api-resources", "explain") or "crd" in args[:2] else ["-n", self.ns]
        result = run_kubectl(
            version or self.kubectl, ns + list(args), server=self.kapid.insecure_url, home=self.home, input=input
        )
        if ok:
            self.assertEqual(
                result.returncode, 0, f"kubectl {' '.join(args)}: {result.stderr}\n{self.kapid.log[-3000:]}"
            )
        return result

    def out(self, *args: str, version: Optional[str] = None) -> str:
        return str(self.k(*args, version=version).stdout)

    def err(self, *args: str) -> str:
        result = self.k(*args, ok=False)
        self.assertNotEqual(result.returncode, 0, f"kubectl {' '.join(args)} succeeded: {result.stdout}")
        return str(result.stderr)

    def json(self, *args: str) -> dict:
        return dict(json.loads(self.out(*args, "-o", "json")))

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.home, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    async def until(self, what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """
        Poll C{check} (bounded) until it returns something true.
        """
        waited, step = 0.0, 0.02
        while waited < timeout:
            value = check()
            if value:
                return value
            await _sleep(step)
            waited += step
            step = min(step * 1.5, 0.25)
        self.fail(f"timed out after {timeout}s waiting for {what}")

    # -- the session ----------------------------------------------------------------------------

    async def test_kubectl_session(self) -> None:
        """
        What a user of CRDs does with kubectl answers as against kube-apiserver.
        """
        self.kapid: KapidProcess = await start_kapid(self)
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.ns = "crd-" + uuid.uuid4().hex[:6]
        self.out("create", "namespace", self.ns)
        await self.define()
        await self.crud()
        await self.server_side_apply()
        await self.explain_and_columns()
        await self.scale_and_watch()
        await self.discovery_and_selectors()
        await self.bad_input()
        await self.delete_crd()

    async def define(self) -> None:
        crd = self.write("crd.yaml", CRD)
        self.assertEqual(
            self.out("create", "-f", crd), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"
        )
        self.assertEqual(
            self.out("wait", "--for", "condition=established", "--timeout=30s", "crd/widgets.example.com"),
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met\n",
        )
        status = self.json("get", "crd", "widgets.example.com")["status"]
        conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
        self.assertEqual(conditions["Established"], ("True", "InitialNamesAccepted"))
        self.assertEqual(conditions["NamesAccepted"], ("True", "NoConflicts"))
        self.assertEqual(status["acceptedNames"]["shortNames"], ["wd", "wdg"])
        self.assertEqual(status["storedVersions"], ["v1"])
        # applying the same file again changes nothing
        self.assertEqual(
            self.out("apply", "-f", crd),
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com configured\n",
        )

    async def crud(self) -> None:
        w1 = self.write("w1.yaml", WIDGET % {"name": "w1", "color": "red"})
        self.assertEqual(self.out("create", "-f", w1), "widget.example.com/w1 created\n")
        self.assertEqual(
            self.err("create", "-f", w1),
            f'Error from server (AlreadyExists): error when creating "{w1}": widgets.example.com "w1" already exists\n',
        )
        self.assertEqual(self.err("get", "widget", "ghost"), 'Error from server (NotFound): widgets.example.com "ghost" not found\n')
        got = self.json("get", "wd", "w1")
        self.assertEqual(got["spec"], {"color": "red", "replicas": 1, "size": "medium"})  # the schema's default
        self.assertEqual((got["apiVersion"], got["kind"], got["metadata"]["generation"]), ("example.com/v1", "Widget", 1))
        # client-side apply of a changed file, then merge and JSON patches; strategic merge is 415
        w2 = self.write("w2.yaml", WIDGET % {"name": "w2", "color": "green"})
        self.assertEqual(self.out("apply", "-f", w2), "widget.example.com/w2 created\n")
        self.assertEqual(self.out("apply", "-f", w2), "widget.example.com/w2 unchanged\n")
        self.assertEqual(self.out("apply", "-f", self.write("w2.yaml", WIDGET % {"name": "w2", "color": "blue"})),
                         "widget.example.com/w2 configured\n")
        self.assertEqual(self.out("patch", "wd", "w2", "--type=merge", "-p", '{"spec":{"replicas":2}}'),
                         "widget.example.com/w2 patched\n")
        self.assertEqual(
            self.out("patch", "wd", "w2", "--type=json", "-p", '[{"op":"replace","path":"/spec/size","value":"large"}]'),
            "widget.example.com/w2 patched\n",
        )
        w = self.json("get", "wd", "w2")
        self.assertEqual(w["spec"], {"color": "blue", "replicas": 2, "size": "large"})
        self.assertEqual(w["metadata"]["generation"], 4)
        self.assertEqual(
            self.err("patch", "wd", "w2", "-p", '{"spec":{"replicas":3}}'),
            "error: application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget: the "
            "body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml\n",
        )
        # status is a subresource: a main-resource write does not change it, --subresource=status does
        self.out("patch", "wd", "w2", "--type=merge", "-p", '{"status":{"replicas":9}}')
        self.assertNotIn("status", self.json("get", "wd", "w2"))
        self.out("patch", "wd", "w2", "--subresource=status", "--type=merge", "-p", '{"status":{"replicas":2}}')
        w = self.json("get", "wd", "w2")
        self.assertEqual((w["status"], w["metadata"]["generation"]), ({"replicas": 2}, 4))
        self.assertEqual(self.out("delete", "wd", "w2"), 'widget.example.com "w2" deleted\n')
        self.assertEqual(self.out("get", "wd", "-o", "name"), "widget.example.com/w1\n")

    async def server_side_apply(self) -> None:
        alice, bob = self.write("alice.yaml", ALICE), self.write("bob.yaml", BOB)
        self.assertEqual(self.out("apply", "--server-side", "--field-manager=alice", "-f", alice),
                         "widget.example.com/shared serverside-applied\n")
        self.assertEqual(self.out("apply", "--server-side", "--field-manager=bob", "-f", bob),
                         "widget.example.com/shared serverside-applied\n")
        shared = self.json("get", "wd", "shared", "--show-managed-fields")
        # the list is a map keyed by name: both managers' entries, each owned by its manager
        self.assertEqual(shared["spec"]["ports"], [{"name": "http", "port": 80}, {"name": "https", "port": 443}])
        managed = {e["manager"]: e["fieldsV1"] for e in shared["metadata"]["managedFields"]}
        self.assertEqual(sorted(managed), ["alice", "bob"])
        self.assertIn('k:{"name":"http"}', managed["alice"]["f:spec"]["f:ports"])
        self.assertEqual(list(managed["bob"]["f:spec"]["f:ports"]), ['k:{"name":"https"}'])
        self.assertIn("f:color", managed["alice"]["f:spec"])
        # bob taking alice's field is a conflict; forced, it is bob's
        bob_color = self.write("bob-color.yaml", BOB_COLOR)
        self.assertEqual(self.err("apply", "--server-side", "--field-manager=bob", "-f", bob_color), CONFLICT)
        self.assertEqual(
            self.out("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", bob_color),
            "widget.example.com/shared serverside-applied\n",
        )
        shared = self.json("get", "wd", "shared", "--show-managed-fields")
        self.assertEqual(shared["spec"]["color"], "blue")
        managed = {e["manager"]: e["fieldsV1"] for e in shared["metadata"]["managedFields"]}
        self.assertNotIn("f:color", managed["alice"]["f:spec"])
        self.assertIn("f:color", managed["bob"]["f:spec"])
        # bob replaces his port with another: his old entry goes, alice's stays
        self.out("apply", "--server-side", "--field-manager=bob", "-f",
                 self.write("bob2.yaml", BOB_COLOR.replace("{name: https, port: 443}", "{name: admin, port: 8443}")))
        self.assertEqual(self.json("get", "wd", "shared")["spec"]["ports"],
                         [{"name": "http", "port": 80}, {"name": "admin", "port": 8443}])
        # bob's configuration without ports at all: his entry goes, alice's stays
        self.out("apply", "--server-side", "--field-manager=bob", "-f",
                 self.write("bob3.yaml", BOB_COLOR.replace("  ports:\n  - {name: https, port: 443}\n", "")))
        self.assertEqual(self.json("get", "wd", "shared")["spec"]["ports"], [{"name": "http", "port": 80}])
        # kubectl 1.32 applies the same way: alice takes the color back
        self.assertEqual(
            self.out("apply", "--server-side", "--field-manager=alice", "--force-conflicts", "-f", alice,
                     version="1.32"),
            "widget.example.com/shared serverside-applied\n",
        )
        self.assertEqual(self.json("get", "wd", "shared")["spec"]["color"], "red")

    async def explain_and_columns(self) -> None:
        for version in ("1.32", "1.33"):
            out = self.out("explain", "widget.spec.color", version=version)
            self.assertIn("KIND:       Widget\nVERSION:    v1\n\nFIELD: color <string>\n", out)
            self.assertIn("DESCRIPTION:\n    The color of the widget, as a CSS color name.\n", out)
            self.assertIn("ENUM:\n    red\n    green\n    blue\n", out)
            out = self.out("explain", "widgets.spec", version=version)
            self.assertIn("    The desired state of the widget.\n", out)
            for name in ("color\t<string>", "ports\t<[]Object>", "replicas\t<integer>", "size\t<string>"):
                self.assertIn(f"  {name}\n", out)
            out = self.out("explain", "widgets", version=version)
            self.assertIn("    A Widget is a thing with parts.\n", out)
        rows = _rows(self.out("get", "widgets"))
        self.assertEqual(rows[0], ["NAME", "COLOR", "REPLICAS", "AGE"])
        # a column whose JSONPath finds nothing is a null cell, which kubectl prints empty
        self.assertEqual([r[:-1] for r in rows[1:]], [["shared", "red"], ["w1", "red", "1"]])
        rows = _rows(self.out("get", "widgets", "-o", "wide"))
        self.assertEqual(rows[0], ["NAME", "COLOR", "REPLICAS", "SIZE", "AGE"])
        self.assertEqual([r[:-1] for r in rows[1:]], [["shared", "red", "medium"], ["w1", "red", "1", "medium"]])
        rows = _rows(self.out("get", "wd", "w1", "-o", "wide", version="1.32"))
        self.assertEqual(rows[0], ["NAME", "COLOR", "REPLICAS", "SIZE", "AGE"])
        self.assertEqual(self.out("get", "wd", "w1", "-o", "custom-columns=N:.metadata.name,S:.spec.size"),
                         "N     S\nw1    medium\n")

    async def scale_and_watch(self) -> None:
        self.assertEqual(self.out("scale", "widget", "w1", "--replicas=3"), "widget.example.com/w1 scaled\n")
        self.assertEqual(self.out("get", "wd", "w1", "-o", "jsonpath={.spec.replicas}"), "3")
        scale = json.loads(self.out("get", "--raw", f"/apis/example.com/v1/namespaces/{self.ns}/widgets/w1/scale"))
        self.assertEqual((scale["apiVersion"], scale["kind"], scale["spec"]), ("autoscaling/v1", "Scale", {"replicas": 3}))
        self.assertEqual(self.err("scale", "widget", "w1", "--replicas=-1"),
                         "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0\n")
        # get -w sees an update made after its list; bounded by --request-timeout and our poll
        path = os.path.join(self.home, "watch.out")
        cmd = _kubectl_cmd(self.kubectl, ["-n", self.ns, "get", "widget", "w1", "-w", "--request-timeout=60s"],
                           None, self.kapid.insecure_url)
        with open(path, "w") as sink:
            watcher = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, text=True,
                                       env=_kubectl_env(self.home))
        self.addCleanup(lambda: watcher.poll() is None and watcher.kill())

        def lines() -> list[list[str]]:
            with open(path) as f:
                return _rows(f.read())

        await self.until("the watch's first row", lambda: len(lines()) >= 2)
        self.assertEqual(lines()[1][:3], ["w1", "red", "3"])
        self.out("patch", "wd", "w1", "--type=merge", "-p", '{"spec":{"color":"green"}}')
        await self.until("the watch's update", lambda: any(r[:3] == ["w1", "green", "3"] for r in lines()))
        watcher.kill()
        watcher.wait(10)

    async def discovery_and_selectors(self) -> None:
        for version in ("1.32", "1.33"):
            rows = _rows(self.out("api-resources", "--api-group=example.com", "-o", "wide", version=version))
            self.assertEqual(rows[0], ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"])
            self.assertEqual(rows[1:], [["widgets", "wd,wdg", "example.com/v1", "true", "Widget",
                                         "delete,deletecollection,get,list,patch,create,update,watch", "all,gadgets"]])
        self.assertIn("example.com/v1\n", self.out("api-versions"))
        every = self.out("get", "all", "-o", "name").splitlines()
        self.assertIn("widget.example.com/w1", every)
        self.assertIn("widget.example.com/shared", every)
        self.assertEqual(self.out("get", "gadgets", "-o", "name"), "widget.example.com/shared\nwidget.example.com/w1\n")
        # selectable fields: spec.color (declared) and metadata.name; others are 400
        self.assertEqual(self.out("get", "wd", "--field-selector", "spec.color=green", "-o", "name"),
                         "widget.example.com/w1\n")
        self.assertEqual(self.out("get", "wd", "--field-selector", "spec.color!=green", "-o", "name"),
                         "widget.example.com/shared\n")
        self.assertEqual(self.out("get", "wd", "--field-selector", "metadata.name=shared", "-o", "name"),
                         "widget.example.com/shared\n")
        self.assertEqual(
            self.err("get", "wd", "--field-selector", "spec.size=medium"),
            'Error from server (BadRequest): Unable to find "example.com/v1, Resource=widgets" that match label '
            'selector "", field selector "spec.size=medium": field label not supported: spec.size\n',
        )

    async def bad_input(self) -> None:
        bad = self.write("bad-crd.yaml", BAD_CRD)
        lines = self.err("create", "-f", bad).splitlines()
        self.assertEqual(lines[0], 'The CustomResourceDefinition "things.example.com" is invalid: ')
        self.assertIn('* metadata.name: Invalid value: "things.example.com": must be spec.names.plural+"."+spec.group',
                      lines)
        self.assertTrue(
            any(line.startswith("* spec.versions: Invalid value: ") and line.endswith(
                "must have exactly one version marked as storage version") for line in lines),
            lines,
        )
        self.assertIn("* status.storedVersions: Invalid value: []string(nil): must have at least one stored version",
                      lines)
        self.assertEqual(self.err("get", "crd", "things.example.com"),
                         'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io '
                         '"things.example.com" not found\n')
        bad = self.write("bad-widget.yaml", BAD_WIDGET)
        self.assertEqual(
            self.err("create", "-f", bad),
            'The Widget "bad" is invalid: \n'
            '* spec.color: Unsupported value: "purple": supported values: "red", "green", "blue"\n'
            "* spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0\n"
            "* .spec.replicas: Invalid value: -1: should be a non-negative integer\n",
        )
        self.assertEqual(
            self.err("create", "-f", self.write("typo.yaml", WIDGET.replace("color:", "colour:") % {"name": "typo", "color": "red"})),
            f'Error from server (BadRequest): error when creating "{self.home}/typo.yaml": Widget in version "v1" '
            'cannot be handled as a Widget: strict decoding error: unknown field "spec.colour"\n',
        )
        self.assertEqual(self.out("get", "wd", "-o", "name"), "widget.example.com/shared\nwidget.example.com/w1\n")
        # an unknown version of a served group
        self.assertEqual(self.err("get", "--raw", f"/apis/example.com/v9/namespaces/{self.ns}/widgets"), NOT_FOUND)
        self.assertEqual(self.err("get", "--raw", "/apis/example.com/v9"), NOT_FOUND)

    async def delete_crd(self) -> None:
        self.assertEqual(self.out("delete", "crd", "widgets.example.com"),
                         'customresourcedefinition.apiextensions.k8s.io "widgets.example.com" deleted\n')
        self.assertEqual(self.err("get", "crd", "widgets.example.com"),
                         'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io '
                         '"widgets.example.com" not found\n')
        self.assertEqual(self.err("get", "--raw", f"/apis/example.com/v1/namespaces/{self.ns}/widgets"), NOT_FOUND)
        self.assertEqual(self.err("get", "--raw", "/apis/example.com"), NOT_FOUND)
        self.assertNotIn("example.com", self.out("api-versions"))
        self.assertNotIn("widgets", self.out("api-resources"))
        # the objects went with it: the same CRD again starts empty
        self.out("create", "-f", os.path.join(self.home, "crd.yaml"))
        self.out("wait", "--for", "condition=established", "--timeout=30s", "crd/widgets.example.com")
        result = self.k("get", "widgets")
        self.assertEqual((result.stdout, result.stderr), ("", f"No resources found in {self.ns} namespace.\n"))
