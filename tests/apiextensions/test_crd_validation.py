"""
Tests for L{kapid.apiextensions.validation}: kube's v1 defaults and validation of
CustomResourceDefinitions, with kube's field paths and messages.
"""

from __future__ import annotations

import copy
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.apiextensions.validation import (
    crd_warnings,
    set_crd_defaults,
    structural_errors,
    validate_crd,
    validate_crd_status,
    validate_crd_update,
)

_DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def certificate_crd() -> dict:
    """
    A cert-manager style CRD: two versions with their own schemas, status subresource, printer
    columns, a conversion webhook through a service, int-or-string, maps and a list-map.
    """

    def schema(extra: dict) -> dict:
        spec_props = {
            "secretName": {"type": "string", "description": "Name of the Secret."},
            "dnsNames": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "duration": {"type": "string", "format": "duration"},
            "port": {"x-kubernetes-int-or-string": True,
                     "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": "^[0-9]+$"},
            "secretTemplate": {
                "type": "object",
                "properties": {
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"},
                               "x-kubernetes-map-type": "granular"},
                },
            },
            "issuerRef": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}, "kind": {"type": "string", "default": "Issuer"},
                               "group": {"type": "string"}},
                "x-kubernetes-map-type": "atomic",
            },
            "usages": {"type": "array", "items": {"type": "string", "enum": ["signing", "digital signature"]}},
            "privateKey": {
                "type": "object",
                "properties": {"rotationPolicy": {"type": "string", "enum": ["Never", "Always"], "default": "Never"},
                               "size": {"type": "integer", "minimum": 0, "maximum": 8192}},
            },
            "keystores": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "podTemplate": {"type": "object", "x-kubernetes-embedded-resource": True,
                            "x-kubernetes-preserve-unknown-fields": True},
        }
        spec_props.update(extra)
        return {
            "openAPIV3Schema": {
                "description": "A Certificate resource.",
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"type": "object", "required": ["issuerRef", "secretName"], "properties": spec_props},
                    "status": {
                        "type": "object",
                        "properties": {
                            "conditions": {
                                "type": "array",
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["type"],
                                "items": {
                                    "type": "object", "required": ["status", "type"],
                                    "properties": {
                                        "type": {"type": "string"},
                                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                                        "observedGeneration": {"type": "integer", "format": "int64"},
                                    },
                                },
                            },
                            "notAfter": {"type": "string", "format": "date-time"},
                            "revision": {"type": "integer"},
                        },
                    },
                },
            }
        }

    columns = [
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io", "labels": {"app": "cert-manager"}},
        "spec": {
            "group": "cert-manager.io",
            "names": {"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates",
                      "singular": "certificate", "shortNames": ["cert", "certs"], "categories": ["cert-manager"]},
            "scope": "Namespaced",
            "conversion": {
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1", "v1beta1"],
                    "clientConfig": {"service": {"namespace": "cert-manager", "name": "cert-manager-webhook",
                                                 "path": "/convert"}},
                },
            },
            "versions": [
                {"name": "v1alpha2", "served": True, "storage": False, "deprecated": True,
                 "deprecationWarning": "cert-manager.io/v1alpha2 Certificate is deprecated",
                 "schema": schema({"keyAlgorithm": {"type": "string"}}),
                 "subresources": {"status": {}}, "additionalPrinterColumns": columns},
                {"name": "v1", "served": True, "storage": True, "schema": schema({}),
                 "subresources": {"status": {}}, "additionalPrinterColumns": columns,
                 "selectableFields": [{"jsonPath": ".spec.secretName"}]},
            ],
        },
    }


def widget_crd(schema: Any = None, **spec: Any) -> dict:
    """
    A one-version cluster-scoped CRD; C{schema} replaces its openAPIV3Schema, C{spec} its spec keys.
    """
    if schema is None:
        schema = {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer", "default": 1},
                    "size": {"x-kubernetes-int-or-string": True},
                    "selector": {"type": "string"},
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "required": ["port"], "properties": {
                                  "port": {"type": "integer"},
                                  "protocol": {"type": "string", "default": "TCP"}}}},
                }},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
            },
        }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }
    crd["spec"].update(spec)
    return crd


def errors(crd: dict) -> list[str]:
    """
    The causes of a create of C{crd} (defaulted and prepared as the strategy does), as text.
    """
    crd = copy.deepcopy(crd)
    set_crd_defaults(crd)
    return [str(e) for e in validate_crd(crd)]


def schema_errors(schema: dict, **spec: Any) -> list[str]:
    """
    The causes of a one-version CRD with C{schema}.
    """
    return errors(widget_crd(schema, **spec))


def obj_schema(**props: Any) -> dict:
    """
    A root schema whose C{spec} has C{props}.
    """
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}


ROOT = "spec.validation.openAPIV3Schema"
SPEC = ROOT + ".properties[spec]"


class DefaultsTests(SynchronousTestCase):
    """
    L{set_crd_defaults}: kube's C{SetDefaults} for v1 CRDs.
    """

    def test_names_conversion_stored_versions(self) -> None:
        """
        Singular is the lower-cased kind, listKind the kind and C{List}, conversion C{None}, and
        storedVersions the storage version.
        """
        crd = widget_crd()
        set_crd_defaults(crd)
        self.assertEqual(crd["spec"]["names"], {"plural": "widgets", "kind": "Widget", "singular": "widget",
                                                "listKind": "WidgetList"})
        self.assertEqual(crd["spec"]["conversion"], {"strategy": "None"})
        self.assertEqual(crd["status"], {"storedVersions": ["v1"]})

    def test_given_values_kept_and_service_port(self) -> None:
        """
        Values already set stay; a webhook service gets port 443.
        """
        crd = certificate_crd()
        crd["status"] = {"storedVersions": ["v1alpha2", "v1"]}
        set_crd_defaults(crd)
        self.assertEqual(crd["spec"]["names"]["listKind"], "CertificateList")
        self.assertEqual(crd["spec"]["conversion"]["strategy"], "Webhook")
        self.assertEqual(crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"], 443)
        self.assertEqual(crd["status"]["storedVersions"], ["v1alpha2", "v1"])

    def test_no_kind_no_list_kind(self) -> None:
        """
        Without a kind, listKind stays unset (singular becomes empty, as kube's lower-casing of "").
        """
        crd = widget_crd()
        del crd["spec"]["names"]["kind"]
        set_crd_defaults(crd)
        self.assertNotIn("listKind", crd["spec"]["names"])
        self.assertEqual(crd["spec"]["names"]["singular"], "")


class ValidCRDTests(SynchronousTestCase):
    """
    Realistic CRDs pass without a single error.
    """

    def test_cert_manager_style(self) -> None:
        """
        Two versions, webhook conversion, status, columns, selectable fields, int-or-string, maps,
        a list-map, an embedded resource, preserve-unknown-fields and defaults.
        """
        self.assertEqual(errors(certificate_crd()), [])

    def test_widget(self) -> None:
        """
        One version with defaults, int-or-string, a map and a two-key list-map.
        """
        self.assertEqual(errors(widget_crd()), [])

    def test_url_webhook(self) -> None:
        """
        A webhook by https URL.
        """
        crd = certificate_crd()
        crd["spec"]["conversion"]["webhook"]["clientConfig"] = {"url": "https://conv.example.com:8443/convert"}
        self.assertEqual(errors(crd), [])

    def test_preserve_unknown_root(self) -> None:
        """
        A schema that keeps everything (C{x-kubernetes-preserve-unknown-fields} at the root).
        """
        self.assertEqual(schema_errors({"type": "object", "x-kubernetes-preserve-unknown-fields": True}), [])


class NameAndGroupTests(SynchronousTestCase):
    """
    metadata.name, spec.group and spec.scope.
    """

    def test_name_must_be_plural_dot_group(self) -> None:
        """
        The name is C{<plural>.<group>}.
        """
        crd = widget_crd()
        crd["metadata"]["name"] = "widget.example.com"
        self.assertEqual(errors(crd), [
            'metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group',
        ])

    def test_group_rules(self) -> None:
        """
        The group is required, a DNS subdomain, with at least one dot.
        """
        crd = widget_crd(group="example")
        crd["metadata"]["name"] = "widgets.example"
        self.assertEqual(errors(crd), ['spec.group: Invalid value: "example": should be a domain with at least one dot'])
        crd = widget_crd(group="")
        crd["metadata"]["name"] = "widgets."
        self.assertIn("spec.group: Required value", errors(crd))
        crd = widget_crd(group="Example.com")
        crd["metadata"]["name"] = "widgets.Example.com"
        self.assertIn(
            "spec.group: Invalid value: \"Example.com\": a lowercase RFC 1123 subdomain must consist of lower "
            "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            errors(crd),
        )

    def test_scope(self) -> None:
        """
        The scope is Cluster or Namespaced.
        """
        self.assertEqual(errors(widget_crd(scope="Global")), [
            'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'])
        self.assertEqual(errors(widget_crd(scope="")), ["spec.scope: Required value"])


class NamesTests(SynchronousTestCase):
    """
    spec.names.
    """

    def test_required(self) -> None:
        """
        Plural and kind are required (singular and listKind come from the kind).
        """
        crd = widget_crd()
        crd["spec"]["names"] = {}
        crd["metadata"]["name"] = ".example.com"
        self.assertEqual(errors(crd)[-4:], [
            "spec.names.plural: Required value",
            "spec.names.singular: Required value",
            "spec.names.kind: Required value",
            "spec.names.listKind: Required value",
        ])

    def test_dns_rules(self) -> None:
        """
        Plural, singular, short names and categories are DNS-1035 labels; kind and listKind may have
        mixed case; kind and listKind differ.
        """
        crd = widget_crd()
        crd["spec"]["names"] = {"plural": "widgets", "singular": "Widget", "kind": "Wid_get", "listKind": "Wid_get",
                                "shortNames": ["w", "1w"], "categories": ["all", "My"]}
        self.assertEqual(errors(crd), [
            f'spec.names.singular: Invalid value: "Widget": {_DNS1035}',
            f'spec.names.kind: Invalid value: "Wid_get": may have mixed case, but should otherwise match: {_DNS1035}',
            f'spec.names.listKind: Invalid value: "Wid_get": may have mixed case, but should otherwise match: {_DNS1035}',
            f'spec.names.shortNames[1]: Invalid value: "1w": {_DNS1035}',
            'spec.names.listKind: Invalid value: "Wid_get": kind and listKind may not be the same',
            f'spec.names.categories[1]: Invalid value: "My": {_DNS1035}',
        ])


class VersionsTests(SynchronousTestCase):
    """
    spec.versions.
    """

    def test_exactly_one_storage_version(self) -> None:
        """
        No storage version: kube's message with the versions printed as Go does, and no stored version.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["storage"] = False
        self.assertEqual(errors(crd), [
            'spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{'
            'apiextensions.CustomResourceDefinitionVersion{Name:"v1", Served:true, Storage:false, Deprecated:false, '
            'DeprecationWarning:(*string)(nil), Schema:(*apiextensions.CustomResourceValidation)(nil), '
            'Subresources:(*apiextensions.CustomResourceSubresources)(nil), '
            'AdditionalPrinterColumns:[]apiextensions.CustomResourceColumnDefinition(nil), '
            'SelectableFields:[]apiextensions.SelectableField(nil)}}: '
            'must have exactly one version marked as storage version',
            "status.storedVersions: Invalid value: []string(nil): must have at least one stored version",
        ])

    def test_two_storage_versions_and_duplicates(self) -> None:
        """
        Two storage versions and a repeated name.
        """
        crd = certificate_crd()
        crd["spec"]["versions"][0]["storage"] = True
        crd["spec"]["versions"][0]["name"] = "v1"
        msgs = [e.rsplit(": ", 1)[-1] for e in errors(crd) if e.startswith("spec.versions: ")]
        self.assertEqual(msgs, ["must contain unique version names",
                                "must have exactly one version marked as storage version"])

    def test_version_name_dns1035(self) -> None:
        """
        A bad first version name is reported for the version and, as kube does, for C{spec.version}.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["name"] = "V1"
        self.assertEqual(errors(crd), [
            f'spec.versions[0].name: Invalid value: "V1": {_DNS1035}',
            f'spec.version: Invalid value: "V1": {_DNS1035}',
        ])

    def test_schema_required(self) -> None:
        """
        Every version needs a schema.
        """
        crd = certificate_crd()
        del crd["spec"]["versions"][1]["schema"]
        # kube then also refuses the version's selectable fields, with its (inverted) wording
        self.assertEqual(errors(crd), [
            "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
            'spec.versions[1].selectableFields: Invalid value: "": selectableFields may only be set when '
            "version.schema.openAPIV3Schema is not included",
        ])

    def test_deprecation_warning(self) -> None:
        """
        A deprecation warning needs C{deprecated}, is not empty, at most 256 bytes, printable.
        """
        crd = widget_crd()
        v = crd["spec"]["versions"][0]
        v["deprecationWarning"] = "x"
        self.assertEqual(errors(crd), ['spec.versions[0].deprecationWarning: Invalid value: "x": can only be set for deprecated versions'])
        v["deprecated"] = True
        v["deprecationWarning"] = ""
        self.assertEqual(errors(crd), ['spec.versions[0].deprecationWarning: Invalid value: "": must not be an empty string'])
        v["deprecationWarning"] = "é" * 129
        self.assertEqual(errors(crd)[0].rsplit(": ", 1)[-1], "must be <= 256 characters long")
        v["deprecationWarning"] = "ok\tno"
        self.assertEqual(errors(crd), [
            'spec.versions[0].deprecationWarning: Invalid value: "ok\\tno": must only contain printable UTF-8 '
            "characters; non-printable character found at index 2"])

    def test_lifting_follows_go_equality(self) -> None:
        """
        Versions whose schemas differ only in what Go decodes alike (an empty description, an
        empty required list) share one schema; an empty subresources object is not an absent one.
        """
        crd = widget_crd()
        v2 = copy.deepcopy(crd["spec"]["versions"][0])
        v2.update(name="v2", storage=False)
        v2["schema"]["openAPIV3Schema"]["description"] = ""
        v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] = []
        del v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
        crd["spec"]["versions"].append(v2)
        del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
        crd["spec"]["versions"][0]["subresources"] = {}
        crd["spec"]["versions"][0]["additionalPrinterColumns"] = [{"name": "A", "type": "map", "jsonPath": ".a"}]
        self.assertEqual(errors(crd), [
            'spec.versions[0].additionalPrinterColumns[0].type: Invalid value: "map": must be one of '
            "boolean,date,integer,number,string",
            f"{SPEC}.type: Required value: must not be empty for specified object fields",
        ])

    def test_per_version_paths(self) -> None:
        """
        Versions with different schemas are reported per version; shared ones at C{spec.validation}.
        """
        crd = certificate_crd()
        del crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
        self.assertEqual(errors(crd), [
            "spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: "
            "must not be empty for specified object fields"])
        crd = widget_crd()
        del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
        self.assertEqual(errors(crd), [f"{SPEC}.type: Required value: must not be empty for specified object fields"])


class StructuralTests(SynchronousTestCase):
    """
    A structural schema is required, with the causes kube reports.
    """

    def test_missing_types_sorted(self) -> None:
        """
        Missing types at the root, in fields and in items, sorted by their text as kube sorts them.
        """
        schema = {"properties": {"spec": {"properties": {"b": {}, "a": {"type": "array", "items": {}}}}}}
        self.assertEqual(schema_errors(schema), [
            f"{ROOT}.properties[spec].properties[a].items.type: Required value: must not be empty for specified array items",
            f"{ROOT}.properties[spec].properties[b].type: Required value: must not be empty for specified object fields",
            f"{ROOT}.properties[spec].type: Required value: must not be empty for specified object fields",
            f"{ROOT}.type: Required value: must not be empty at the root",
        ])

    def test_root_rules(self) -> None:
        """
        The root is an object without additionalProperties.
        """
        self.assertEqual(schema_errors({"type": "string"}), [f'{ROOT}.type: Invalid value: "string": must be object at the root'])
        self.assertEqual(schema_errors({"type": "object", "additionalProperties": {"type": "string"}}),
                         [f"{ROOT}.additionalProperties: Forbidden: must not be used at the root"])

    def test_array_needs_items(self) -> None:
        """
        An array needs items.
        """
        self.assertEqual(schema_errors(obj_schema(list={"type": "array"})),
                         [f"{SPEC}.properties[list].items: Required value: must be specified"])

    def test_metadata_restrictions(self) -> None:
        """
        At the root, metadata may only constrain name and generateName; kind and apiVersion are
        strings; nested metadata is forbidden in value validations.
        """
        schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}
        self.assertEqual(schema_errors(schema), [
            f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
            "but metadata is implicitly specified"])
        schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 20}}}}}
        self.assertEqual(schema_errors(schema), [])
        schema = {"type": "object", "properties": {"kind": {"type": "integer"}, "metadata": {"type": "string"}}}
        self.assertEqual(schema_errors(schema), [
            f'{ROOT}.properties[kind].type: Invalid value: "integer": must be string',
            f'{ROOT}.properties[metadata].type: Invalid value: "string": must be object',
        ])

    def test_value_validations_must_not_specify_structure(self) -> None:
        """
        allOf/anyOf/oneOf/not may not set types, descriptions, defaults, extensions, and may only
        name properties the structure specifies.
        """
        schema = obj_schema(a={"type": "string", "anyOf": [{"type": "string", "description": "d"}],
                               "not": {"nullable": True, "x-kubernetes-list-type": "atomic"}})
        self.assertEqual(schema_errors(schema), [
            f"{SPEC}.properties[a].anyOf[0].description: Forbidden: must be empty to be structural",
            f"{SPEC}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
            f"{SPEC}.properties[a].not.nullable: Forbidden: must be false to be structural",
            f"{SPEC}.properties[a].not.x-kubernetes-list-type: Forbidden: must be undefined to be structural",
            f"{SPEC}.properties[a].not.type: Required value: must be array if x-kubernetes-list-type is specified",
        ])
        schema = {"type": "object", "properties": {"spec": {"type": "object"}},
                  "oneOf": [{"properties": {"spec": {"properties": {"x": {"minLength": 1}}}}},
                            {"properties": {"other": {}, "metadata": {}}}]}
        self.assertEqual(schema_errors(schema), [
            f"{ROOT}.oneOf[1].properties[metadata]: Forbidden: must not be specified in a nested context",
            f"{ROOT}.properties[metadata]: Required value: because it is defined in {ROOT}.oneOf[1].properties[metadata]",
            f"{ROOT}.properties[other]: Required value: because it is defined in {ROOT}.oneOf[1].properties[other]",
            f"{ROOT}.properties[spec].properties[x]: Required value: because it is defined in "
            f"{ROOT}.oneOf[0].properties[spec].properties[x]",
        ])

    def test_int_or_string_patterns(self) -> None:
        """
        The int-or-string anyOf (and allOf[0].anyOf) shapes are allowed; other types in anyOf are not.
        """
        schema = obj_schema(
            a={"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            b={"x-kubernetes-int-or-string": True, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]},
                                                             {"pattern": "^x"}]},
            c={"x-kubernetes-int-or-string": True, "anyOf": [{"type": "string"}, {"type": "integer"}]},
        )
        self.assertEqual(schema_errors(schema), [
            f"{SPEC}.properties[c].anyOf[0].type: Forbidden: must be empty to be structural",
            f"{SPEC}.properties[c].anyOf[1].type: Forbidden: must be empty to be structural",
        ])

    def test_patterns(self) -> None:
        """
        Patterns are Go regular expressions: RE2 classes pass, broken ones are reported in Go's words.
        """
        for ok in ("^\\p{L}[[:alnum:]]*\\z", "(?<year>[0-9]{4})", "^[a-z*+]+$", "a\\\\1"):
            self.assertEqual(schema_errors(obj_schema(a={"type": "string", "pattern": ok})), [], ok)
        for bad, why in (("a*+", "invalid nested repetition operator: `*+`"), ("(a)\\1", "invalid escape sequence: `\\1`"),
                         ("(?>a)", "invalid or unsupported Perl syntax: `(?>`")):
            self.assertEqual([e.rsplit("error parsing regexp: ", 1)[-1] for e in
                              schema_errors(obj_schema(a={"type": "string", "pattern": bad}))], [why], bad)
        self.assertEqual(schema_errors(obj_schema(a={"type": "string", "pattern": "^(a"},
                                                  b={"type": "string", "pattern": "(?=x)y"})), [
            f'{SPEC}.properties[a].pattern: Invalid value: "^(a": must be a valid regular expression, '
            "but isn't: error parsing regexp: missing closing ): `^(a`",
            f'{SPEC}.properties[b].pattern: Invalid value: "(?=x)y": must be a valid regular expression, '
            "but isn't: error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
        ])

    def test_structural_errors_alone(self) -> None:
        """
        L{structural_errors} reports at the given path; kube's NewStructural failures come as one error.
        """
        self.assertEqual([str(e) for e in structural_errors({"type": "object"}, "x")], [])
        self.assertEqual([str(e) for e in structural_errors({"properties": {"a": {"type": "string"}}}, "s")],
                         ["s.type: Required value: must not be empty at the root"])
        self.assertEqual([str(e) for e in structural_errors({"type": "object", "definitions": {"a": {}}}, "s")],
                         ["s: Invalid value: \"\": OpenAPIV3Schema 'definitions' is not supported"])


class ForbiddenKeywordTests(SynchronousTestCase):
    """
    Keywords kube does not support.
    """

    def test_each_keyword(self) -> None:
        """
        $ref, id, additionalItems, patternProperties, definitions, dependencies, uniqueItems, null
        type, array items.
        """
        cases = {
            "$ref": ({"$ref": "#/x"}, "$ref: Forbidden: $ref is not supported"),
            "id": ({"type": "string", "id": "x"}, "id: Forbidden: id is not supported"),
            "additionalItems": ({"type": "array", "items": {"type": "string"}, "additionalItems": False},
                                "additionalItems: Forbidden: additionalItems is not supported"),
            "patternProperties": ({"type": "object", "patternProperties": {"^a": {"type": "string"}}},
                                  "patternProperties: Forbidden: patternProperties is not supported"),
            "definitions": ({"type": "object", "definitions": {"a": {"type": "string"}}},
                            "definitions: Forbidden: definitions is not supported"),
            "dependencies": ({"type": "object", "dependencies": {"a": ["b"]}},
                             "dependencies: Forbidden: dependencies is not supported"),
            "uniqueItems": ({"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                            "uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
            "items": ({"type": "array", "items": [{"type": "string"}]},
                      "items: Forbidden: items must be a schema object and not an array"),
        }
        for name, (sub, message) in cases.items():
            got = schema_errors(obj_schema(x=sub))
            self.assertIn(f"{SPEC}.properties[x].{message}", got, name)
        self.assertEqual(schema_errors(obj_schema(x={"type": "null"})), [
            f'{SPEC}.properties[x].type: Unsupported value: "null": supported values: "array", "boolean", '
            '"integer", "number", "object", "string"',
            f"{SPEC}.properties[x].type: Forbidden: type cannot be set to null, use nullable as an alternative",
        ])

    def test_schema_keyword_only_structural(self) -> None:
        """
        C{$schema} has no rule of its own: kube reports the structural-schema failure.
        """
        self.assertEqual(schema_errors(obj_schema(x={"type": "string", "$schema": "http://json-schema.org"})), [
            f"{ROOT}: Invalid value: \"\": OpenAPIV3Schema 'schema' is not supported"])

    def test_nullable_root_and_properties_with_additional(self) -> None:
        """
        nullable cannot be true at the root; properties and additionalProperties exclude each other.
        """
        self.assertEqual(schema_errors({"type": "object", "nullable": True}),
                         [f"{ROOT}.nullable: Forbidden: nullable cannot be true at the root"])
        self.assertEqual(schema_errors(obj_schema(m={"type": "object", "properties": {"a": {"type": "string"}},
                                                     "additionalProperties": {"type": "string"}})),
                         [f"{SPEC}.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"])
        self.assertEqual(schema_errors(obj_schema(m={"type": "object", "properties": {"a": {"type": "string"}},
                                                     "additionalProperties": True})), [])


class ExtensionTests(SynchronousTestCase):
    """
    x-kubernetes-* rules.
    """

    def test_preserve_unknown_and_int_or_string(self) -> None:
        """
        preserve-unknown-fields is true or absent; int-or-string excludes it and embedded-resource.
        """
        self.assertEqual(schema_errors(obj_schema(x={"type": "object", "x-kubernetes-preserve-unknown-fields": False})), [
            f"{SPEC}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"])
        self.assertEqual(schema_errors(obj_schema(x={"x-kubernetes-int-or-string": True,
                                                     "x-kubernetes-preserve-unknown-fields": True,
                                                     "x-kubernetes-embedded-resource": True})), [
            f"{SPEC}.properties[x].type: Required value: must be object if x-kubernetes-embedded-resource is true",
            f"{SPEC}.properties[x].x-kubernetes-embedded-resource: Invalid value: true: must be false if "
            "x-kubernetes-int-or-string is true",
            f"{SPEC}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
            "x-kubernetes-int-or-string is true",
        ])

    def test_embedded_resource(self) -> None:
        """
        An embedded resource is an object with properties (or preserve-unknown-fields), no
        additionalProperties, and not inside resource metadata.
        """
        self.assertEqual(schema_errors(obj_schema(x={"type": "object", "x-kubernetes-embedded-resource": True})), [
            f"{SPEC}.properties[x].properties: Required value: must not be empty if x-kubernetes-embedded-resource "
            "is true without x-kubernetes-preserve-unknown-fields"])
        self.assertEqual(schema_errors(obj_schema(x={"type": "object", "x-kubernetes-embedded-resource": True,
                                                     "x-kubernetes-preserve-unknown-fields": True,
                                                     "additionalProperties": {"type": "string"}})),
                         [f"{SPEC}.properties[x].additionalProperties: Forbidden: must not be used if "
                          "x-kubernetes-embedded-resource is set"])

    def test_list_and_map_types(self) -> None:
        """
        list-type on arrays only, one of atomic/set/map; map-type on objects, atomic/granular;
        list-map-keys need list-type map.
        """
        got = schema_errors(obj_schema(
            a={"type": "string", "x-kubernetes-list-type": "set"},
            b={"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"},
            c={"type": "string", "x-kubernetes-map-type": "atomic"},
            d={"type": "object", "x-kubernetes-map-type": "fine"},
            e={"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
               "x-kubernetes-list-map-keys": ["k"]},
            f={"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
               "x-kubernetes-list-type": "set", "x-kubernetes-list-map-keys": ["k"]},
        ))
        self.assertEqual(got, [
            f'{SPEC}.properties[a].type: Invalid value: "string": must be array if x-kubernetes-list-type is specified',
            f'{SPEC}.properties[b].x-kubernetes-list-type: Unsupported value: "bag": supported values: "atomic", "set", "map"',
            f'{SPEC}.properties[c].type: Invalid value: "string": must be object if x-kubernetes-map-type is specified',
            f'{SPEC}.properties[d].x-kubernetes-map-type: Unsupported value: "fine": supported values: "atomic", "granular"',
            f"{SPEC}.properties[e].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty",
            # kube reports the item's (absent) list type as the bad value
            f'{SPEC}.properties[f].items.x-kubernetes-map-type: Invalid value: "null": must be atomic as item of a list with x-kubernetes-list-type=set',
            f'{SPEC}.properties[f].x-kubernetes-list-type: Invalid value: "set": must be map if x-kubernetes-list-map-keys is non-empty',
        ])

    def test_list_map_keys(self) -> None:
        """
        A map list needs keys that are scalar, unique item properties that are required or defaulted.
        """
        got = schema_errors(obj_schema(
            a={"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "string"}},
            b={"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "o", "z", "k"],
               "items": {"type": "object", "required": ["o"], "properties": {
                   "k": {"type": "string"}, "o": {"type": "object"}}}},
        ))
        self.assertEqual(got, [
            f"{SPEC}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map",
            f'{SPEC}.properties[a].items.type: Invalid value: "string": must be object if parent array\'s x-kubernetes-list-type is map',
            f'{SPEC}.properties[b].items.properties[o].type: Invalid value: "object": must be a scalar type if parent array\'s x-kubernetes-list-type is map',
            f'{SPEC}.properties[b].x-kubernetes-list-map-keys: Invalid value: []string{{"k", "o", "z", "k"}}: entries must all be names of item properties',
            f'{SPEC}.properties[b].x-kubernetes-list-map-keys: Invalid value: []string{{"k", "o", "z", "k"}}: must not contain duplicate entries',
            f"{SPEC}.properties[b].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            f"{SPEC}.properties[b].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
        ])


class DefaultValueTests(SynchronousTestCase):
    """
    C{default}s validate against and survive pruning by their schema; none in top-level metadata.
    """

    def test_default_must_be_pruned_and_valid(self) -> None:
        """
        Unknown fields and wrong types in a default.
        """
        got = schema_errors(obj_schema(
            a={"type": "object", "properties": {"x": {"type": "string"}}, "default": {"x": "1", "y": 2}},
            b={"type": "integer", "default": "one"},
            c={"type": "string", "enum": ["p", "q"], "default": "r"},
        ))
        self.assertEqual(got, [
            f'{SPEC}.properties[a].default: Invalid value: map[string]interface {{}}{{"x":"1", "y":2}}: must not have unknown fields',
            f'{SPEC}.properties[b].default: Invalid value: "string": {SPEC}.properties[b].default in body must be of type integer: "string"',
            f'{SPEC}.properties[c].default: Unsupported value: "r": supported values: "p", "q"',
        ])

    def test_embedded_resource_defaults(self) -> None:
        """
        A default holding an embedded resource needs its apiVersion and kind, and valid metadata.
        """
        pod = {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
        got = schema_errors(obj_schema(
            a=dict(pod, default={}),
            b=dict(pod, default={"apiVersion": "a/b/c", "kind": "Pod_", "metadata": {"labels": {"-x": "y"}}}),
            c=dict(pod, default={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}),
        ))
        self.assertEqual(got, [
            f"{SPEC}.properties[a].default.apiVersion: Required value: must not be empty",
            f"{SPEC}.properties[a].default.kind: Required value: must not be empty",
            f'{SPEC}.properties[b].default.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c',
            f'{SPEC}.properties[b].default.kind: Invalid value: "Pod_": may have mixed case, but should otherwise match: {_DNS1035}',
        ] + [e for e in got if ".properties[b].default.metadata.labels" in e])
        self.assertEqual(len(got), 5, got)

    def test_no_defaults_in_top_level_metadata(self) -> None:
        """
        Defaults are forbidden in top-level metadata, apiVersion and kind.
        """
        schema = {"type": "object", "properties": {"apiVersion": {"type": "string", "default": "v"},
                                                   "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}}}}
        self.assertEqual(schema_errors(schema), [
            f"{ROOT}.properties[apiVersion].default: Forbidden: must not be set in top-level apiVersion",
            f"{ROOT}.properties[metadata].properties[name].default: Forbidden: must not be set in top-level metadata",
        ])

    def test_preserve_unknown_fields_true(self) -> None:
        """
        C{preserveUnknownFields: true} is refused in v1 (and with defaults, for them too).
        """
        self.assertEqual(errors(widget_crd(preserveUnknownFields=True)), [
            "spec.preserveUnknownFields: Invalid value: true: must be false in order to use defaults in the schema",
            "spec.preserveUnknownFields: Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields "
            "to true in spec.versions[*].schema instead",
        ])


class SubresourceAndColumnTests(SynchronousTestCase):
    """
    Status and scale subresources, printer columns, selectable fields.
    """

    def test_status_root_restrictions(self) -> None:
        """
        With the status subresource the root may only use some keywords.
        """
        crd = widget_crd({"type": "object", "minProperties": 1})
        crd["spec"]["versions"][0]["subresources"] = {"status": {}}
        got = errors(crd)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(
            f'{ROOT}: Invalid value: apiextensions.JSONSchemaProps{{ID:"", Schema:"", Ref:(*string)(nil), '
            'Description:"", Type:"object", Nullable:false, '), got)
        self.assertIn(", MinProperties:(*int64)(0xc000000000), Required:[]string(nil), ", got[0])
        self.assertTrue(got[0].endswith(
            ": only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength "
            "MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs "
            "Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the "
            "status subresource is enabled"), got)

    def test_scale_paths(self) -> None:
        """
        Scale paths are simple JSON paths under .spec / .status.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["subresources"] = {"scale": {
            "specReplicasPath": ".status.replicas", "statusReplicasPath": "status.replicas",
            "labelSelectorPath": ".metadata.labels"}}
        self.assertEqual(errors(crd), [
            'spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec',
            'spec.subresources.scale.statusReplicasPath: Invalid value: "status.replicas": must be a simple json path starting with .',
            'spec.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status',
        ])
        crd["spec"]["versions"][0]["subresources"] = {"scale": {}}
        self.assertEqual(errors(crd), ["spec.subresources.scale.specReplicasPath: Required value",
                                       "spec.subresources.scale.statusReplicasPath: Required value"])

    def test_printer_columns(self) -> None:
        """
        Columns have a name, a known type and format, and a JSONPath.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
            {"name": "", "type": "map", "format": "uuid", "jsonPath": "spec.x"},
            {"name": "B", "jsonPath": ""},
        ]
        self.assertEqual(errors(crd), [
            "spec.additionalPrinterColumns[0].name: Required value",
            'spec.additionalPrinterColumns[0].type: Invalid value: "map": must be one of boolean,date,integer,number,string',
            'spec.additionalPrinterColumns[0].format: Invalid value: "uuid": must be one of byte,date,date-time,double,float,int32,int64,password',
            'spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with .',
            "spec.additionalPrinterColumns[1].type: Required value: must be one of boolean,date,integer,number,string",
            "spec.additionalPrinterColumns[1].JSONPath: Required value",
        ])

    def test_selectable_fields(self) -> None:
        """
        Selectable fields point to existing string/boolean/integer fields outside metadata, once each.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["selectableFields"] = [
            {"jsonPath": ".spec.replicas"}, {"jsonPath": ".spec.nope"}, {"jsonPath": ".spec.tags"},
            {"jsonPath": ".spec['replicas']"}, {"jsonPath": ".spec.replicas"}, {"jsonPath": ""},
        ]
        self.assertEqual(errors(crd), [
            'spec.selectableFields[1].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field',
            'spec.selectableFields[2].jsonPath: Invalid value: ".spec.tags": must point to a field of type string, '
            "boolean or integer. Enum string fields and strings with formats are allowed.",
            "spec.selectableFields[3].jsonPath: Invalid value: \".spec['replicas']\": is an invalid path: array notation is not allowed",
            'spec.selectableFields[4].jsonPath: Duplicate value: ".spec.replicas"',
            "spec.selectableFields[5].jsonPath: Required value",
        ])


class ConversionTests(SynchronousTestCase):
    """
    spec.conversion, reported at kube's internal paths (C{webhookClientConfig}).
    """

    def test_strategy(self) -> None:
        """
        None or Webhook.
        """
        self.assertEqual(errors(widget_crd(conversion={"strategy": "Magic"})), [
            'spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook"'])

    def test_webhook_needs_client_config_and_review_versions(self) -> None:
        """
        Webhook requires a client config and review versions naming v1 or v1beta1.
        """
        self.assertEqual(errors(widget_crd(conversion={"strategy": "Webhook"})), [
            "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
            "spec.conversion.conversionReviewVersions: Required value",
        ])
        self.assertEqual(errors(widget_crd(conversion={"strategy": "Webhook", "webhook": {
            "clientConfig": {}, "conversionReviewVersions": ["v2", "v2", "V3"]}})), [
            "spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required",
            'spec.conversion.conversionReviewVersions[1]: Invalid value: "v2": duplicate version',
            f'spec.conversion.conversionReviewVersions[2]: Invalid value: "V3": {_DNS1035}',
            'spec.conversion.conversionReviewVersions: Invalid value: []string{"v2", "v2", "V3"}: must include at least one of v1, v1beta1',
        ])

    def test_url_rules(self) -> None:
        """
        https only, with a host, no user, query or fragment.
        """
        crd = widget_crd(conversion={"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "http://me@/x?y=1#z"}, "conversionReviewVersions": ["v1"]}})
        form = "; desired format: https://host[/path]"
        self.assertEqual(errors(crd), [
            f"spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme{form}",
            f'spec.conversion.webhookClientConfig.url: Invalid value: "": host must be specified{form}',
            'spec.conversion.webhookClientConfig.url: Invalid value: "me": user information is not permitted in the URL',
            'spec.conversion.webhookClientConfig.url: Invalid value: "z": fragments are not permitted in the URL',
            'spec.conversion.webhookClientConfig.url: Invalid value: "y=1": query parameters are not permitted in the URL',
        ])

    def test_service_rules(self) -> None:
        """
        A service has a name, a namespace, a port in range and a path of DNS subdomain segments.
        """
        crd = widget_crd(conversion={"strategy": "Webhook", "webhook": {
            "clientConfig": {"service": {"port": 70000, "path": "/a//B_"}}, "conversionReviewVersions": ["v1"]}})
        self.assertEqual(errors(crd)[:4], [
            "spec.conversion.webhookClientConfig.service.name: Required value: service name is required",
            "spec.conversion.webhookClientConfig.service.namespace: Required value: service namespace is required",
            "spec.conversion.webhookClientConfig.service.port: Invalid value: 70000: port is not valid: must be between 1 and 65535, inclusive",
            'spec.conversion.webhookClientConfig.service.path: Invalid value: "/a//B_": segment[1] may not be empty',
        ])
        self.assertTrue(errors(crd)[4].startswith(
            'spec.conversion.webhookClientConfig.service.path: Invalid value: "/a//B_": segment[2]: a lowercase RFC 1123 subdomain'))

    def test_none_forbids_webhook(self) -> None:
        """
        Strategy None takes no webhook settings.
        """
        crd = widget_crd(conversion={"strategy": "None", "webhook": {
            "clientConfig": {"url": "https://x"}, "conversionReviewVersions": ["v1"]}})
        self.assertEqual(errors(crd), [
            "spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
            "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook",
        ])


class ApprovalTests(SynchronousTestCase):
    """
    The C{api-approved.kubernetes.io} annotation for protected groups.
    """

    def crd(self, annotation: Any = None) -> dict:
        crd = widget_crd(group="widgets.k8s.io")
        crd["metadata"]["name"] = "widgets.widgets.k8s.io"
        if annotation is not None:
            crd["metadata"]["annotations"] = {"api-approved.kubernetes.io": annotation}
        return crd

    def test_missing_and_invalid(self) -> None:
        """
        Missing: Required; neither URL nor C{unapproved...}: Invalid.
        """
        self.assertEqual(errors(self.crd()), [
            'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval '
            'annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111'])
        self.assertEqual(errors(self.crd("yes")), [
            'metadata.annotations[api-approved.kubernetes.io]: Invalid value: "yes": protected groups must have '
            'approval annotation "api-approved.kubernetes.io" with either a URL or a reason starting with '
            '"unapproved", see https://github.com/kubernetes/enhancements/pull/1111'])

    def test_approved_or_bypassed(self) -> None:
        """
        A URL or a reason starting with C{unapproved} passes; other groups need nothing.
        """
        self.assertEqual(errors(self.crd("https://github.com/kubernetes/kubernetes/pull/78458")), [])
        self.assertEqual(errors(self.crd("unapproved, experimental")), [])

    def test_update_with_unchanged_state(self) -> None:
        """
        An update keeping the old approval state is not checked again.
        """
        old = self.crd("yes")
        set_crd_defaults(old)
        new = copy.deepcopy(old)
        new["metadata"]["annotations"]["api-approved.kubernetes.io"] = "still no"
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [])


class RuleTests(SynchronousTestCase):
    """
    x-kubernetes-validations: the static checks; no warning.
    """

    def test_static_checks(self) -> None:
        """
        A rule is not empty; messages have no line breaks; reasons are kube's.
        """
        got = schema_errors(obj_schema(a={"type": "string", "x-kubernetes-validations": [
            {"rule": " "}, {"rule": "self.size() > 1", "message": "a\nb"},
            {"rule": "self\n.size() > 1"}, {"rule": "true", "reason": "Nope", "messageExpression": " "}]}))
        path = f"{SPEC}.properties[a].x-kubernetes-validations"
        self.assertEqual(got, [
            f"{path}[0].rule: Required value: rule is not specified",
            f'{path}[1].message: Invalid value: "a\\nb": message must not contain line breaks',
            f"{path}[2].message: Required value: message must be specified if rule contains line breaks",
            f"{path}[3].messageExpression: Required value: messageExpression must be non-empty if specified",
            f'{path}[3].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", '
            '"FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"',
        ])

    def test_no_warning(self) -> None:
        """
        Rules are enforced (L{kapid.cel.crd}): a CRD with rules gets no warning, as in kube.
        """
        crd = widget_crd()
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [{"rule": "true"}]
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["ports"]["items"][
            "x-kubernetes-validations"] = [{"rule": "self.port > 0"}]
        self.assertEqual(errors(crd), [])
        self.assertEqual(crd_warnings(crd), [])


class UpdateTests(SynchronousTestCase):
    """
    L{validate_crd_update}.
    """

    def pair(self) -> tuple[dict, dict]:
        old = certificate_crd()
        set_crd_defaults(old)
        old["status"]["storedVersions"] = ["v1"]
        return copy.deepcopy(old), old

    def test_group_and_plural_immutable(self) -> None:
        """
        spec.group and spec.names.plural never change.
        """
        new, old = self.pair()
        new["spec"]["group"] = "cert-manager.example.com"
        new["spec"]["names"]["plural"] = "certs"
        got = [str(e) for e in validate_crd_update(new, old)]
        self.assertIn('spec.group: Invalid value: "cert-manager.example.com": field is immutable', got)
        self.assertIn('spec.names.plural: Invalid value: "certs": field is immutable', got)

    def test_scope_and_kind_immutable_once_established(self) -> None:
        """
        scope and kind may change until the CRD is established.
        """
        new, old = self.pair()
        new["spec"]["scope"] = "Cluster"
        new["spec"]["names"]["kind"] = "Cert"
        new["spec"]["names"]["listKind"] = "CertList"
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [])
        old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [
            'spec.scope: Invalid value: "Cluster": field is immutable',
            'spec.names.kind: Invalid value: "Cert": field is immutable',
        ])

    def test_stored_versions_stay_in_spec(self) -> None:
        """
        A stored version cannot leave spec.versions; the storage version must be stored.
        """
        new, old = self.pair()
        new["status"]["storedVersions"] = ["v1alpha2", "v1"]
        new["spec"]["versions"] = new["spec"]["versions"][1:]
        del new["spec"]["versions"][0]["selectableFields"]
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [
            'status.storedVersions[0]: Invalid value: "v1alpha2": missing from spec.versions; v1alpha2 was previously '
            "a storage version, and must remain in spec.versions until a storage migration ensures no data remains "
            "persisted in v1alpha2 and removes v1alpha2 from status.storedVersions"])
        new, old = self.pair()
        new["status"]["storedVersions"] = ["v1alpha2"]
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [
            'status.storedVersions: Invalid value: []string{"v1alpha2"}: must have the storage version v1'])

    def test_ca_bundle_checked_once_established(self) -> None:
        """
        A bad caBundle passes while the CRD is not established; afterwards it must hold PEM
        certificates (unless the old one was bad too).
        """
        import base64

        new, old = self.pair()
        cc = new["spec"]["conversion"]["webhook"]["clientConfig"]
        cc["caBundle"] = base64.b64encode(b"no").decode()
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [])
        old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [
            "spec.conversion.webhookClientConfig.caBundle: Invalid value: []byte{0x6e, 0x6f}: unable to load root "
            "certificates: unable to parse bytes as PEM block"])
        cc["caBundle"] = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [])
        old["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] = base64.b64encode(b"bad").decode()
        cc["caBundle"] = base64.b64encode(b"no").decode()
        self.assertEqual([str(e) for e in validate_crd_update(new, old)], [])

    def test_status_accepted_names(self) -> None:
        """
        The status' accepted names follow the names' rules.
        """
        crd = widget_crd()
        crd["status"] = {"acceptedNames": {"plural": "Widgets", "kind": "Widget", "listKind": "Widget"}}
        self.assertEqual([str(e) for e in validate_crd_status(crd)], [
            f'status.acceptedNames.plural: Invalid value: "Widgets": {_DNS1035}',
            'status.acceptedNames.listKind: Invalid value: "Widget": kind and listKind may not be the same',
        ])
