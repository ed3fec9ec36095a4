"""
Tests for L{kapid.apiextensions.crd}: the description and strategy of
C{customresourcedefinitions}, unit by unit and over HTTP (a L{kapid.endpoints.link.ResourceLink}
serving the resource from the memory store).
"""

from __future__ import annotations

import copy

import orjson
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kapid.apiextensions.crd import CLEANUP_FINALIZER, DEFINITION, GROUP, CRDStrategy, crd_resource
from kapid.apiextensions.validation import set_crd_defaults
from kapid.registry.interfaces import IRESTStrategy
from tests.apiextensions.test_crd_validation import certificate_crd, widget_crd
from tests.endpoints.helpers import API

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
KEY = b"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com"


class DescriptionTests(SynchronousTestCase):
    """
    L{crd_resource}.
    """

    def test_description(self) -> None:
        """
        Cluster-scoped, kube's names, short names and category, a status subresource, the v1
        OpenAPI definition, the default table and kube's storage path.
        """
        r = crd_resource()
        self.assertEqual((r.group, r.kind, r.plural, r.singular, r.list_kind),
                         (GROUP, "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition",
                          "CustomResourceDefinitionList"))
        self.assertFalse(r.namespaced)
        self.assertEqual(r.short_names, ("crd", "crds"))
        self.assertEqual(r.categories, ("api-extensions",))
        self.assertEqual([(v.name, v.schema, v.storage) for v in r.versions], [("v1", DEFINITION, True)])
        self.assertEqual([s.name for s in r.subresources], ["status"])
        self.assertEqual(r.table_columns, ())
        self.assertEqual(r.key("", "widgets.example.com"), KEY.decode())
        self.assertTrue(verifyObject(IRESTStrategy, r.strategy))
        self.assertFalse(r.strategy.allow_unconditional_update)
        self.assertFalse(r.strategy.allow_create_on_update)


def stored(crd: dict) -> dict:
    """
    C{crd} defaulted and prepared for create as the Store does, with metadata the Store sets.
    """
    crd = copy.deepcopy(crd)
    set_crd_defaults(crd)
    crd["metadata"].update(uid="u1", resourceVersion="5", creationTimestamp="2023-11-14T22:13:20Z")
    CRDStrategy().prepare_for_create(crd)
    return crd


class StrategyTests(SynchronousTestCase):
    """
    L{CRDStrategy} outside the Store.
    """

    def test_create_resets_status(self) -> None:
        """
        A create starts at generation 1 from kube's empty status, storedVersions the storage version.
        """
        crd = widget_crd()
        crd["status"] = {"acceptedNames": {"plural": "x", "kind": "X"}, "storedVersions": ["v0"],
                         "conditions": [{"type": "Established", "status": "True"}]}
        crd["metadata"]["generation"] = 7
        CRDStrategy().prepare_for_create(crd)
        self.assertEqual(crd["status"], {"conditions": None, "acceptedNames": {"plural": "", "kind": ""},
                                         "storedVersions": ["v1"]})
        self.assertEqual(crd["metadata"]["generation"], 1)

    def test_update_keeps_status_and_bumps_generation_on_spec_change(self) -> None:
        """
        The status stays the old one; the generation moves only when the spec changes.
        """
        old = stored(widget_crd())
        old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
        new = copy.deepcopy(old)
        new["status"] = {"storedVersions": ["v9"]}
        new["metadata"]["labels"] = {"a": "b"}
        CRDStrategy().prepare_for_update(new, old)
        self.assertEqual(new["status"], old["status"])
        self.assertEqual(new["metadata"]["generation"], 1)
        new["spec"]["names"]["shortNames"] = ["wd"]
        CRDStrategy().prepare_for_update(new, old)
        self.assertEqual(new["metadata"]["generation"], 2)

    def test_update_records_new_storage_version(self) -> None:
        """
        A new storage version joins storedVersions (the old status object is not changed).
        """
        old = stored(widget_crd())
        new = copy.deepcopy(old)
        new["spec"]["versions"][0]["storage"] = False
        new["spec"]["versions"].append(dict(new["spec"]["versions"][0], name="v2", storage=True))
        CRDStrategy().prepare_for_update(new, old)
        self.assertEqual(new["status"]["storedVersions"], ["v1", "v2"])
        self.assertEqual(old["status"]["storedVersions"], ["v1"])
        self.assertEqual(CRDStrategy().validate_update(new, old), [])

    def test_status_update_keeps_spec_takes_metadata(self) -> None:
        """
        A status write keeps the old spec and generation but takes the status and metadata (the
        finalizer controller removes its finalizer that way).
        """
        old = stored(widget_crd())
        old["metadata"]["finalizers"] = [CLEANUP_FINALIZER]
        new = copy.deepcopy(old)
        new["spec"]["scope"] = "Namespaced"
        new["metadata"]["generation"] = 9
        del new["metadata"]["finalizers"]
        new["status"]["acceptedNames"] = {"plural": "widgets", "kind": "Widget"}
        CRDStrategy().prepare_for_status_update(new, old)
        self.assertEqual(new["spec"], old["spec"])
        self.assertEqual(new["metadata"]["generation"], 1)
        self.assertNotIn("finalizers", new["metadata"])
        self.assertEqual(new["status"]["acceptedNames"], {"plural": "widgets", "kind": "Widget"})

    def test_defaults_at_decode(self) -> None:
        """
        Decoding defaults the names and conversion, and writes served/storage as Go does.
        """
        crd = widget_crd()
        crd["spec"]["versions"].append({"name": "v2"})
        CRDStrategy().default("v1", crd)
        self.assertEqual(crd["spec"]["versions"][1], {"name": "v2", "served": False, "storage": False})
        self.assertEqual(crd["spec"]["names"]["listKind"], "WidgetList")
        self.assertEqual(crd["spec"]["conversion"], {"strategy": "None"})

    def test_warnings(self) -> None:
        """
        Creates and updates of CRDs, with rules or not, get no warnings (rules are enforced), as in kube.
        """
        crd = widget_crd()
        self.assertEqual(CRDStrategy().warnings_on_create(crd), [])
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [{"rule": "true"}]
        self.assertEqual(CRDStrategy().warnings_on_create(crd), [])
        self.assertEqual(CRDStrategy().warnings_on_update(crd, crd), [])


class HTTPTests(SynchronousTestCase):
    """
    The resource served by a L{kapid.endpoints.link.ResourceLink} over the memory store.
    """

    def setUp(self) -> None:
        self.api = API(self)
        self.api.registry.add(crd_resource())

    def stored_keys(self) -> list[bytes]:
        kvs, _, _, _ = self.api.kv.range_sync(b"/registry/apiextensions.k8s.io/", b"/registry/apiextensions.k8s.io0")
        return [kv.key for kv in kvs]

    def create(self, crd: dict) -> dict:
        code, body, _ = self.api.post(CRDS, crd)
        self.assertEqual(code, 201, body)
        return body

    def test_create_get_list(self) -> None:
        """
        A created CRD comes back defaulted with kube's fresh status and generation 1, is stored
        under kube's key, and lists as a Table with kube's default columns.
        """
        body = self.create(widget_crd())
        self.assertEqual(body["kind"], "CustomResourceDefinition")
        self.assertEqual(body["metadata"]["generation"], 1)
        self.assertEqual(body["spec"]["names"]["singular"], "widget")
        self.assertEqual(body["spec"]["conversion"], {"strategy": "None"})
        self.assertEqual(body["status"], {"conditions": None, "acceptedNames": {"plural": "", "kind": ""},
                                          "storedVersions": ["v1"]})
        self.assertEqual(self.stored_keys(), [KEY])
        code, got, _ = self.api.get(CRDS + "/widgets.example.com")
        self.assertEqual(code, 200)
        self.assertEqual(got, body)
        code, table, _ = self.api.get(CRDS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual(code, 200, table)
        self.assertEqual([c["name"] for c in table["columnDefinitions"]], ["Name", "Created At"])
        self.assertEqual(table["rows"][0]["cells"], ["widgets.example.com", "2023-11-14T22:13:20Z"])

    def test_realistic_crd_strict_field_validation(self) -> None:
        """
        A realistic CRD (nested schemas with defaults, examples, enums, x-kubernetes-*) decodes under
        C{fieldValidation=Strict} with nothing unknown, and keeps its free-form JSON; its rules compile
        and get no warning.
        """
        crd = certificate_crd()
        spec_schema = crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec_schema["example"] = {"secretName": "s", "issuerRef": {"name": "ca"}, "dnsNames": ["a", 1, None]}
        spec_schema["x-kubernetes-validations"] = [{"rule": "has(self.secretName)", "message": "m",
                                                    "reason": "FieldValueInvalid", "fieldPath": ".secretName"}]
        code, body, headers = self.api.post(CRDS + "?fieldValidation=Strict", crd)
        self.assertEqual(code, 201, body)
        got = body["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        self.assertEqual(got, spec_schema)
        self.assertEqual(body["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"], 443)
        self.assertIsNone(headers.getRawHeaders("warning"))
        self.assertEqual(body["status"]["storedVersions"], ["v1"])

    def test_invalid_crd_is_422_and_not_stored(self) -> None:
        """
        A bad CRD gets kube's Invalid Status with one cause per problem, and nothing is stored.
        """
        crd = widget_crd(group="example")
        del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
        code, body, _ = self.api.post(CRDS, crd)
        self.assertEqual(code, 422, body)
        self.assertEqual(body["reason"], "Invalid")
        self.assertEqual(body["details"]["name"], "widgets.example.com")
        self.assertEqual(body["details"]["group"], GROUP)
        self.assertEqual(body["details"]["kind"], "CustomResourceDefinition")
        self.assertEqual(body["details"]["causes"], [
            {"reason": "FieldValueInvalid", "message": 'Invalid value: "widgets.example.com": must be spec.names.plural+"."+spec.group',
             "field": "metadata.name"},
            {"reason": "FieldValueInvalid", "message": 'Invalid value: "example": should be a domain with at least one dot',
             "field": "spec.group"},
            {"reason": "FieldValueRequired", "message": "Required value: must not be empty for specified object fields",
             "field": "spec.validation.openAPIV3Schema.properties[spec].type"},
        ])
        self.assertTrue(body["message"].startswith(
            'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: ['), body["message"])
        self.assertEqual(self.stored_keys(), [])
        code, _, _ = self.api.get(CRDS + "/widgets.example.com")
        self.assertEqual(code, 404)

    def test_update_patch_and_immutability(self) -> None:
        """
        PUT needs a resourceVersion; a spec change bumps the generation and records a new storage
        version; a label patch leaves the generation; the group cannot change.
        """
        body = self.create(widget_crd())
        code, _, _ = self.api.put(CRDS + "/widgets.example.com", widget_crd())
        self.assertEqual(code, 422)
        new = copy.deepcopy(body)
        v2 = copy.deepcopy(new["spec"]["versions"][0])
        v2["name"] = "v2"
        new["spec"]["versions"][0]["storage"] = False
        new["spec"]["versions"].append(v2)
        new["status"] = {"storedVersions": ["v2"]}
        code, updated, _ = self.api.put(CRDS + "/widgets.example.com", new)
        self.assertEqual(code, 200, updated)
        self.assertEqual(updated["metadata"]["generation"], 2)
        self.assertEqual(updated["status"]["storedVersions"], ["v1", "v2"])
        code, patched, _ = self.api.patch(CRDS + "/widgets.example.com", {"metadata": {"labels": {"a": "b"}}},
                                          "application/merge-patch+json")
        self.assertEqual(code, 200, patched)
        self.assertEqual((patched["metadata"]["labels"], patched["metadata"]["generation"]), ({"a": "b"}, 2))
        code, err, _ = self.api.patch(CRDS + "/widgets.example.com", {"spec": {"group": "other.example.com"}},
                                      "application/merge-patch+json")
        self.assertEqual(code, 422, err)
        self.assertIn({"reason": "FieldValueInvalid", "message": 'Invalid value: "other.example.com": field is immutable',
                       "field": "spec.group"}, err["details"]["causes"])

    def test_update_warnings(self) -> None:
        """
        PUT and PATCH of a CRD with rules, and /status writes, answer no warning (rules are enforced).
        """
        body = self.create(widget_crd())
        rules = {"x-kubernetes-validations": [{"rule": "self.metadata.name != ''"}]}
        patch = {"spec": {"versions": [dict(body["spec"]["versions"][0], schema={"openAPIV3Schema": dict(
            body["spec"]["versions"][0]["schema"]["openAPIV3Schema"], **rules)})]}}
        code, out, headers = self.api.patch(CRDS + "/widgets.example.com", patch, "application/merge-patch+json")
        self.assertEqual(code, 200, out)
        self.assertIsNone(headers.getRawHeaders("warning"))
        code, out, headers = self.api.put(CRDS + "/widgets.example.com", out)
        self.assertEqual(code, 200, out)
        self.assertIsNone(headers.getRawHeaders("warning"))
        code, out, headers = self.api.put(CRDS + "/widgets.example.com/status", out)
        self.assertEqual(code, 200, out)
        self.assertIsNone(headers.getRawHeaders("warning"))

    def test_removing_a_stored_version_is_refused(self) -> None:
        """
        A version still in status.storedVersions cannot leave spec.versions.
        """
        body = self.create(widget_crd())
        new = copy.deepcopy(body)
        new["spec"]["versions"][0]["name"] = "v2"
        code, err, _ = self.api.put(CRDS + "/widgets.example.com", new)
        self.assertEqual(code, 422, err)
        self.assertEqual([c["field"] for c in err["details"]["causes"]], ["status.storedVersions[0]"])

    def test_status_subresource(self) -> None:
        """
        /status writes change the status (validated) and not the spec.
        """
        body = self.create(widget_crd())
        new = copy.deepcopy(body)
        new["spec"]["scope"] = "Namespaced"
        new["status"]["acceptedNames"] = {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}
        new["status"]["conditions"] = [{"type": "Established", "status": "True", "lastTransitionTime": "2023-11-14T22:13:20Z",
                                        "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}]
        code, out, _ = self.api.put(CRDS + "/widgets.example.com/status", new)
        self.assertEqual(code, 200, out)
        self.assertEqual(out["spec"]["scope"], "Cluster")
        self.assertEqual(out["status"]["acceptedNames"]["kind"], "Widget")
        self.assertEqual(out["metadata"]["generation"], 1)
        out["status"]["acceptedNames"]["plural"] = "Widgets"
        code, err, _ = self.api.put(CRDS + "/widgets.example.com/status", out)
        self.assertEqual(code, 422, err)
        self.assertEqual([c["field"] for c in err["details"]["causes"]], ["status.acceptedNames.plural"])

    def test_delete_marks_then_finalizer_removal_deletes(self) -> None:
        """
        DELETE marks the CRD (deletionTimestamp, cleanup finalizer, Terminating) and answers it;
        removing the finalizer through /status, as the cleanup controller does, deletes it.
        """
        self.create(widget_crd())
        code, body, _ = self.api.delete(CRDS + "/widgets.example.com")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["kind"], "CustomResourceDefinition")
        self.assertEqual(body["metadata"]["finalizers"], [CLEANUP_FINALIZER])
        self.assertEqual(body["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z")
        self.assertEqual(body["status"]["conditions"], [{
            "type": "Terminating", "status": "True", "lastTransitionTime": "2023-11-14T22:13:20Z",
            "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"}])
        code, again, _ = self.api.delete(CRDS + "/widgets.example.com")
        self.assertEqual((code, again["metadata"]["finalizers"]), (200, [CLEANUP_FINALIZER]))
        done = copy.deepcopy(again)
        del done["metadata"]["finalizers"]
        code, out, _ = self.api.put(CRDS + "/widgets.example.com/status", done)
        self.assertEqual(code, 200, out)
        code, _, _ = self.api.get(CRDS + "/widgets.example.com")
        self.assertEqual(code, 404)
        self.assertEqual(self.stored_keys(), [])

    def test_dry_run_delete_changes_nothing(self) -> None:
        """
        A dry-run DELETE answers the marked CRD and stores nothing.
        """
        self.create(widget_crd())
        code, body, _ = self.api.delete(CRDS + "/widgets.example.com?dryRun=All")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["metadata"]["finalizers"], [CLEANUP_FINALIZER])
        code, got, _ = self.api.get(CRDS + "/widgets.example.com")
        self.assertNotIn("deletionTimestamp", got["metadata"])

    def test_body_is_json(self) -> None:
        """
        The realistic CRD round-trips through the API as the same JSON (no field dropped or added
        inside schemas).
        """
        crd = certificate_crd()
        body = self.create(crd)
        self.assertEqual(orjson.dumps(body["spec"]["versions"]), orjson.dumps(
            [dict(v) for v in crd["spec"]["versions"]]))
