"""
Tests for L{kapid.apimachinery.omitempty}: kube's C{omitempty} encoding from the message
descriptions, checked against the JSON real kubectl (Go's encoder) writes for every kind captured in
C{tests/fixtures/protobuf}, and through the API: what kapid answers and stores is encoded as kube
encodes it, and a write differing only by empty fields writes nothing (issue 18, items 3 and 4).
"""

from __future__ import annotations

import copy
import glob
import json
import os
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import protodesc
from kapid.apimachinery.omitempty import message_of, omit_empty, omit_empty_message
from tests.endpoints.helpers import API

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "protobuf")

_EMPTY = {"string": "", "bytes": "", "bool": False}


def fixtures() -> list[tuple[str, dict]]:
    """
    (name, object) of every JSON object captured from kubectl (Go's encoding), both versions.
    """
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*", "*.json"))):
        with open(path) as f:
            out.append((os.path.relpath(path, FIXTURES), json.load(f)))
    return out


def pollute(message: str, value: dict) -> list[str]:
    """
    Add, in place, an empty value for every absent C{omitempty} field kube would leave out (at
    every depth of C{value}); returns the paths added.
    """
    added: list[str] = []
    for json_name, typ, cardinality, flags in protodesc.MESSAGES.get(message, {}).values():
        if protodesc.INLINE in flags:
            added += pollute(typ, value)
            continue
        if json_name not in value:
            if protodesc.OMITEMPTY not in flags:
                continue
            if cardinality == protodesc.REPEATED:
                value[json_name] = []
            elif cardinality == protodesc.MAP:
                value[json_name] = {}
            elif protodesc.POINTER in flags:
                value[json_name] = None
            elif typ in protodesc.MESSAGES or typ in protodesc.SPECIAL:
                continue
            else:
                value[json_name] = _EMPTY.get(typ, 0)
            added.append(json_name)
            continue
        v = value[json_name]
        if cardinality == protodesc.ONE and isinstance(v, dict):
            added += [f"{json_name}.{p}" for p in pollute(typ, v)]
        elif cardinality == protodesc.REPEATED and isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, dict):
                    added += [f"{json_name}[{i}].{p}" for p in pollute(typ, item)]
        elif cardinality == protodesc.MAP and isinstance(v, dict) and typ[1] in protodesc.MESSAGES:
            for k, item in v.items():
                added += [f"{json_name}[{k}].{p}" for p in pollute(typ[1], item)]
    return added


class RulesTests(SynchronousTestCase):
    """
    Go's C{omitempty}: empty scalars, lists and maps go; pointers only when null; structs stay.
    """

    def test_role_binding_service_account_subject(self) -> None:
        rb = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb", "labels": {}, "annotations": None, "finalizers": []},
            "subjects": [{"kind": "ServiceAccount", "apiGroup": "", "name": "default", "namespace": "ns"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        }
        self.assertEqual(omit_empty(rb), {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "ns"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        })

    def test_pointers_structs_and_own_forms(self) -> None:
        """
        C{replicas: 0} (a pointer) stays, C{paused: false} goes, C{status: {}} (a struct) stays,
        a null C{creationTimestamp} (a Time) stays, C{maxSurge: 0} (an IntOrString) stays.
        """
        d = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "generation": 0},
            "spec": {
                "replicas": 0,
                "paused": False,
                "progressDeadlineSeconds": None,
                "selector": {"matchLabels": {}},
                "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": []}},
                "strategy": {"rollingUpdate": {"maxSurge": 0}},
            },
            "status": {},
        }
        omit_empty(d)
        self.assertEqual(d["metadata"], {"name": "d"})
        self.assertEqual(d["spec"], {
            "replicas": 0,
            "selector": {},
            "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": []}},
            "strategy": {"rollingUpdate": {"maxSurge": 0}},
        })
        self.assertEqual(d["status"], {})

    def test_undescribed_kinds_unchanged(self) -> None:
        obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"x": ""}}
        self.assertIsNone(message_of(obj))
        self.assertEqual(omit_empty(copy.deepcopy(obj)), obj)


class FixtureTests(SynchronousTestCase):
    """
    Against Go's own encoding: every kind kubectl's fixtures hold.
    """

    def test_go_encoding_is_a_fixed_point(self) -> None:
        """
        What Go encoded loses nothing.
        """
        checked = 0
        for name, obj in fixtures():
            if message_of(obj) is None:
                continue
            self.assertEqual(omit_empty(copy.deepcopy(obj)), obj, name)
            checked += 1
        self.assertGreater(checked, 20)

    def test_empties_added_are_left_out(self) -> None:
        """
        Every empty C{omitempty} field added anywhere in each object is left out again.
        """
        for name, obj in fixtures():
            message = message_of(obj)
            if message is None:
                continue
            polluted = copy.deepcopy(obj)
            added = pollute(message, polluted)
            self.assertTrue(added, name)
            omit_empty_message(message, polluted)
            self.assertEqual(polluted, obj, name)


class APITests(SynchronousTestCase):
    """
    Through the API: responses and stored objects are encoded as kube encodes them.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def revision(self) -> int:
        return int(self.api.run(self.api.storage.current_resource_version()))

    def path(self, obj: dict) -> str:
        group, _, _ = obj["apiVersion"].rpartition("/")
        resource = next(r for r in self.api.registry.all() if r.group == group and r.kind == obj["kind"])
        version = obj["apiVersion"].rpartition("/")[2]
        base = f"/api/{version}" if not resource.group else f"/apis/{resource.group}/{version}"
        if resource.namespaced:
            base += "/namespaces/default"
        return f"{base}/{resource.plural}"

    def test_role_binding_round_trip(self) -> None:
        """
        The Helm case: a ServiceAccount subject sent with C{apiGroup: ""} comes back without it,
        and sending the object back with it writes nothing.
        """
        path = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb"},
            "subjects": [{"kind": "ServiceAccount", "apiGroup": "", "name": "default", "namespace": "default"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        }
        code, obj, _ = self.api.post(path, body)
        self.assertEqual(code, 201, obj)
        self.assertEqual(obj["subjects"], [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}])
        self.api.clock.advance(5)  # a rewrite would now change the managedFields time
        rev = self.revision()
        code, out, _ = self.api.put(path + "/rb", copy.deepcopy(obj), headers={"User-Agent": "helm/4"})
        self.assertEqual((code, out), (200, obj))  # defaulting's apiGroup "" is no change either
        again = copy.deepcopy(obj)
        again["subjects"][0]["apiGroup"] = ""
        again["metadata"]["labels"] = {}
        code, out, _ = self.api.put(path + "/rb", again)
        self.assertEqual((code, out), (200, obj))
        self.assertEqual(self.revision(), rev)
        code, out, _ = self.api.patch(path + "/rb", {"metadata": {"annotations": {}}}, "application/merge-patch+json")
        self.assertEqual((code, out), (200, obj))
        self.assertEqual(self.revision(), rev)

    def test_every_captured_kind(self) -> None:
        """
        Each kind of the fixtures, created with empty values in every C{omitempty} field, is
        answered and stored without them (and without any kapid's defaulting would add).
        """
        created = 0
        for name, obj in fixtures():
            message = message_of(obj)
            if message is None or not name.startswith("1.33"):
                continue
            body = copy.deepcopy(obj)
            body["metadata"].pop("creationTimestamp", None)
            body["metadata"]["name"] = f"{body['metadata']['name']}-{created}"
            body["metadata"].pop("namespace", None)
            pollute(message, body)
            code, out, _ = self.api.post(self.path(obj), body)
            self.assertEqual(code, 201, (name, out))
            self.assertEqual(omit_empty(copy.deepcopy(out)), out, name)
            created += 1
        self.assertGreater(created, 15)

    def test_empty_fields_patched_in_write_nothing(self) -> None:
        """
        A patch adding only empty fields (C{labels: {}}, an empty subject apiGroup) changes nothing:
        no managedFields entry for them either, as kube's field manager sees the decoded object.
        """
        path = "/api/v1/namespaces/default/pods"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        code, obj, _ = self.api.post(path, pod, headers={"User-Agent": "client/1"})
        self.assertEqual(code, 201, obj)
        self.api.clock.advance(5)
        rev = self.revision()
        for ptype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            code, out, _ = self.api.patch(
                path + "/p", {"metadata": {"labels": {}, "finalizers": []}, "spec": {"hostname": ""}}, ptype,
                headers={"User-Agent": "other/1"},
            )
            self.assertEqual((code, out), (200, obj))
        self.assertEqual(self.revision(), rev)
