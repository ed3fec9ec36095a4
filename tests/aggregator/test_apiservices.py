"""
Tests for the C{apiregistration.k8s.io/v1} C{apiservices} resource: CRUD over HTTP, the status
subresource, kube's validation and kube-aggregator's Table.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery.schema import Schema
from kapid.registry.builtin.apiregistration import API_SERVICES
from tests.endpoints.helpers import API

BASE = "/apis/apiregistration.k8s.io/v1/apiservices"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def api_service(name: str = "v1alpha1.wardle.example.com", **spec: Any) -> dict:
    """
    An APIService named C{name} for its group and version, with C{spec} over the defaults.
    """
    version, _, group = name.partition(".")
    body: dict[str, Any] = {
        "group": group, "version": version, "groupPriorityMinimum": 1000, "versionPriority": 15,
        "service": {"namespace": "wardle", "name": "api", "port": 443},
        "insecureSkipTLSVerify": True,
    }
    body.update(spec)
    body = {k: v for k, v in body.items() if v is not None}
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name}, "spec": body}


class DescriptionTests(SynchronousTestCase):
    """The description carries kube's facts."""

    def test_schema_and_scope(self):
        """The v1 schema is kube-aggregator's APIService; cluster-scoped, status subresource, category api-extensions."""
        s = Schema.of(API_SERVICES.versions[0].schema)
        gvks = {(g["group"], g["version"], g["kind"]) for g in s.group_version_kinds}
        self.assertIn(("apiregistration.k8s.io", "v1", "APIService"), gvks)
        self.assertFalse(API_SERVICES.namespaced)
        self.assertIsNotNone(API_SERVICES.subresource("status"))
        self.assertEqual(API_SERVICES.categories, ("api-extensions",))


class APIServiceHTTPTests(SynchronousTestCase):
    """APIServices over HTTP."""

    def setUp(self) -> None:
        self.api = API(self)

    def test_crud(self):
        """Create resets status, get and list return it, delete answers Success."""
        obj = api_service()
        obj["status"] = {"conditions": [{"type": "Available", "status": "True"}]}
        code, body, _ = self.api.post(BASE, obj)
        self.assertEqual(code, 201, body)
        self.assertEqual(body["status"], {})
        code, body, _ = self.api.get(f"{BASE}/v1alpha1.wardle.example.com")
        self.assertEqual((code, body["spec"]["service"]["name"]), (200, "api"))
        code, body, _ = self.api.get(BASE)
        self.assertEqual([o["metadata"]["name"] for o in body["items"]], ["v1alpha1.wardle.example.com"])
        code, body, _ = self.api.delete(f"{BASE}/v1alpha1.wardle.example.com")
        self.assertEqual(code, 200, body)

    def test_status_subresource(self):
        """Spec writes keep the status; status writes change only it and check condition statuses."""
        self.api.post(BASE, api_service())
        code, obj, _ = self.api.get(f"{BASE}/v1alpha1.wardle.example.com")
        obj["status"] = {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints", "message": "x"}]}
        obj["spec"]["versionPriority"] = 20
        code, body, _ = self.api.put(f"{BASE}/v1alpha1.wardle.example.com/status", obj)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"]["conditions"][0]["reason"], "MissingEndpoints")
        self.assertEqual(body["spec"]["versionPriority"], 15)
        body["status"]["conditions"][0]["status"] = "Maybe"
        code, err, _ = self.api.put(f"{BASE}/v1alpha1.wardle.example.com/status", body)
        self.assertEqual(code, 422, err)
        self.assertEqual(
            err["details"]["causes"],
            [{"reason": "FieldValueNotSupported", "field": "status.conditions[0].status",
              "message": 'Unsupported value: "Maybe": supported values: "True", "False", "Unknown"'}],
        )
        code, cur, _ = self.api.get(f"{BASE}/v1alpha1.wardle.example.com")
        cur["status"] = {}
        code, body, _ = self.api.put(f"{BASE}/v1alpha1.wardle.example.com", cur)
        self.assertEqual(code, 200, body)
        self.assertEqual(body["status"]["conditions"][0]["reason"], "MissingEndpoints")

    def causes(self, obj: dict) -> list[tuple[str, str]]:
        """The (field, message) of each cause of creating C{obj}, which must be refused with 422."""
        code, err, _ = self.api.post(BASE, obj)
        self.assertEqual(code, 422, err)
        self.assertEqual(err["reason"], "Invalid")
        return [(c["field"], c["message"]) for c in err["details"]["causes"]]

    def test_name_must_be_version_group(self):
        """The name must be spec.version + "." + spec.group, with kube's message."""
        obj = api_service()
        obj["metadata"]["name"] = "wardle"
        self.assertEqual(
            self.causes(obj),
            [("metadata.name", 'Invalid value: "wardle": must be `spec.version+"."+spec.group`: "v1alpha1.wardle.example.com"')],
        )
        code, err, _ = self.api.post(BASE, obj)
        self.assertEqual(err["message"].split(":")[0], 'APIService.apiregistration.k8s.io "wardle" is invalid')

    def test_priorities(self):
        """Both priorities must be positive and bounded."""
        obj = api_service(groupPriorityMinimum=0, versionPriority=1001)
        self.assertEqual(
            self.causes(obj),
            [
                ("spec.groupPriorityMinimum", "Invalid value: 0: must be positive and less than 20000"),
                ("spec.versionPriority", "Invalid value: 1001: must be positive and less than 1000"),
            ],
        )

    def test_group_and_version(self):
        """Only v1 may have the empty group; the group is a DNS subdomain, the version a DNS-1035 label."""
        obj = api_service("v2.", service=None, insecureSkipTLSVerify=None)
        self.assertEqual(
            self.causes(obj),
            [("spec.group", "Required value: only v1 may have an empty group and it better be legacy kube")],
        )
        obj = api_service("1x.Bad_Group", service=None, insecureSkipTLSVerify=None)
        fields = [f for f, _ in self.causes(obj)]
        self.assertEqual(fields, ["spec.group", "spec.version"])

    def test_local_may_not_have_tls_settings(self):
        """A local APIService (no service) has neither caBundle nor insecureSkipTLSVerify."""
        obj = api_service(service=None, caBundle="YWJj")
        self.assertEqual(
            self.causes(obj),
            [
                ("spec.caBundle", 'Invalid value: "3 bytes": local APIServices may not have a caBundle'),
                ("spec.insecureSkipTLSVerify", "Invalid value: true: local APIServices may not have insecureSkipTLSVerify"),
            ],
        )

    def test_service_reference(self):
        """A service reference needs namespace and name; insecureSkipTLSVerify excludes caBundle."""
        obj = api_service(service={"port": 443}, caBundle="YWJj")
        self.assertEqual(
            self.causes(obj),
            [
                ("spec.service.namespace", "Required value"),
                ("spec.service.name", "Required value"),
                ("spec.insecureSkipTLSVerify", "Invalid value: true: may not be true if caBundle is present"),
            ],
        )

    def test_service_port(self):
        """The port defaults to 443 and must be a valid port number."""
        code, body, _ = self.api.post(BASE, api_service(service={"namespace": "w", "name": "api"}))
        self.assertEqual((code, body["spec"]["service"]["port"]), (201, 443))
        obj = api_service("v1.other.example.com", service={"namespace": "w", "name": "api", "port": 70000})
        self.assertEqual(
            self.causes(obj),
            [("spec.service.port", "Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive")],
        )

    def test_update_validated(self):
        """Updates are validated as creates are."""
        self.api.post(BASE, api_service())
        code, obj, _ = self.api.get(f"{BASE}/v1alpha1.wardle.example.com")
        obj["spec"]["group"] = "other.example.com"
        code, err, _ = self.api.put(f"{BASE}/v1alpha1.wardle.example.com", obj)
        self.assertEqual(code, 422, err)
        self.assertEqual(err["details"]["causes"][0]["field"], "metadata.name")

    def test_table(self):
        """kubectl's columns: NAME SERVICE AVAILABLE AGE; Local, namespace/name; True or status (reason)."""
        self.api.post(BASE, api_service())
        self.api.post(BASE, api_service("v1.local.example.com", service=None, insecureSkipTLSVerify=None))
        code, obj, _ = self.api.get(f"{BASE}/v1alpha1.wardle.example.com")
        obj["status"] = {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}
        self.api.put(f"{BASE}/v1alpha1.wardle.example.com/status", obj)
        code, obj, _ = self.api.get(f"{BASE}/v1.local.example.com")
        obj["status"] = {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}
        self.api.put(f"{BASE}/v1.local.example.com/status", obj)
        code, table, _ = self.api.get(BASE, headers={"Accept": TABLE})
        self.assertEqual(code, 200, table)
        self.assertEqual([c["name"] for c in table["columnDefinitions"]], ["Name", "Service", "Available", "Age"])
        self.assertEqual(
            [r["cells"][:3] for r in table["rows"]],
            [["v1.local.example.com", "Local", "True"], ["v1alpha1.wardle.example.com", "wardle/api", "False (MissingEndpoints)"]],
        )
