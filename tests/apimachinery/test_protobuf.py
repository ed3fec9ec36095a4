"""
Tests for L{kapid.apimachinery.protobuf}: decoding the protobuf bodies real kubectl sends.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from twisted.trial.unittest import SynchronousTestCase

from kapid.apimachinery import protodesc
from kapid.apimachinery.protobuf import (
    ACCEPTED_MEDIA_TYPES,
    decode,
    decode_message,
    envelope,
    go_duration,
    is_protobuf,
)
from kapid.apimachinery.status import StatusError

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "protobuf")
VERSIONS = ("1.32", "1.33")

#: Fixtures without a C{--dry-run=client -o json} twin, with the JSON those objects have.
NO_DRY_RUN: dict[str, dict[str, Any]] = {
    "token": {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"audiences": ["a", "b"], "expirationSeconds": 3600, "boundObjectRef": None},
        "status": {"token": "", "expirationTimestamp": None},
    },
    "can-i": {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {
            "resourceAttributes": {
                "namespace": "ns1",
                "verb": "get",
                "resource": "pods",
                "subresource": "log",
            }
        },
        "status": {"allowed": False},
    },
    "can-i-nonresource": {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"nonResourceAttributes": {"path": "/logs", "verb": "get"}},
        "status": {"allowed": False},
    },
    "whoami": {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {}},
    },
}

#: Every kind kubectl's generators send, with the fixture that carries it.
KIND_FIXTURES = {
    "Namespace": "namespace",
    "ConfigMap": "configmap",
    "Secret": "secret-generic",
    "Service": "service-clusterip",
    "ServiceAccount": "serviceaccount",
    "Deployment": "deployment",
    "Job": "job",
    "CronJob": "cronjob",
    "Role": "role",
    "RoleBinding": "rolebinding",
    "ClusterRole": "clusterrole",
    "ClusterRoleBinding": "clusterrolebinding",
    "Ingress": "ingress",
    "PodDisruptionBudget": "poddisruptionbudget",
    "PriorityClass": "priorityclass",
    "ResourceQuota": "quota",
    "TokenRequest": "token",
    "SelfSubjectAccessReview": "can-i",
    "SelfSubjectReview": "whoami",
    "Pod": "debug-node",
    "CertificateSigningRequest": "certificate-approve",
    "HorizontalPodAutoscaler": "autoscale",
}

#: Fixtures checked field by field (their objects carry generated names and times).
CHECKED_BY_FIELD = ("debug-node", "certificate-approve")


def _read(version: str, name: str) -> bytes:
    with open(os.path.join(FIXTURES, version, name), "rb") as f:
        return f.read()


def _fixture_names(version: str) -> list[str]:
    return sorted(n[:-4] for n in os.listdir(os.path.join(FIXTURES, version)) if n.endswith(".bin"))


# A small protobuf writer for hand-made messages.


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _vfield(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _lfield(number: int, value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _body(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _lfield(1, api_version) + _lfield(2, kind)
    return b"k8s\x00" + _lfield(1, type_meta) + _lfield(2, raw) + _lfield(3, "") + _lfield(4, "")


class FixtureTests(SynchronousTestCase):
    """
    The bodies kubectl 1.32 and 1.33 really sent decode to the JSON the same kubectl produces.
    """

    def test_every_kind_captured(self) -> None:
        """
        Each kind the generators send has a fixture for both kubectl versions, naming that kind.
        """
        for version in VERSIONS:
            for kind, name in KIND_FIXTURES.items():
                _, got_kind, _ = envelope(_read(version, name + ".bin"))
                self.assertEqual(got_kind, kind, f"{version}/{name}")

    def test_matches_client_json(self) -> None:
        """
        Every fixture with a C{--dry-run=client -o json} twin decodes to exactly that object.
        """
        compared = 0
        for version in VERSIONS:
            for name in _fixture_names(version):
                if name in NO_DRY_RUN or name in CHECKED_BY_FIELD:
                    continue
                expected = orjson.loads(_read(version, name + ".json"))
                self.assertEqual(decode(_read(version, name + ".bin")), expected, f"{version}/{name}")
                compared += 1
        self.assertGreaterEqual(compared, 2 * 25)

    def test_without_client_json(self) -> None:
        """
        Token requests, access reviews and self reviews decode to their JSON form.
        """
        for version in VERSIONS:
            for name, expected in NO_DRY_RUN.items():
                self.assertEqual(decode(_read(version, name + ".bin")), expected, f"{version}/{name}")

    def test_debug_pod(self) -> None:
        """
        The node debugging pod of C{kubectl debug node/...} decodes with its host namespaces,
        volumes and tolerations.
        """
        for version in VERSIONS:
            pod = decode(_read(version, "debug-node.bin"))
            self.assertTrue(pod["metadata"]["name"].startswith("node-debugger-node1-"))
            spec = pod["spec"]
            self.assertEqual(spec["nodeName"], "node1")
            self.assertEqual(spec["volumes"], [{"name": "host-root", "hostPath": {"path": "/"}}])
            self.assertEqual(spec["tolerations"], [{"operator": "Exists"}])
            self.assertEqual(
                spec["containers"][0]["volumeMounts"], [{"name": "host-root", "mountPath": "/host"}]
            )
            self.assertIs(spec["hostPID"], True)

    def test_certificate_approval(self) -> None:
        """
        The CSR that C{kubectl certificate approve} PUTs carries its Approved condition.
        """
        for version in VERSIONS:
            csr = decode(_read(version, "certificate-approve.bin"))
            self.assertEqual(csr["spec"]["usages"], ["client auth"])
            self.assertEqual(csr["spec"]["request"], "aGk=")
            condition = csr["status"]["conditions"][0]
            self.assertEqual(
                (condition["type"], condition["status"], condition["reason"]),
                ("Approved", "True", "KubectlApprove"),
            )
            self.assertRegex(condition["lastUpdateTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_autoscale_versions(self) -> None:
        """
        kubectl 1.32 autoscales with an autoscaling/v1 HPA, 1.33 with autoscaling/v2.
        """
        self.assertEqual(decode(_read("1.32", "autoscale.bin"))["spec"]["targetCPUUtilizationPercentage"], 60)
        self.assertEqual(
            decode(_read("1.33", "autoscale.bin"))["spec"]["metrics"][0]["resource"]["target"],
            {"type": "Utilization", "averageUtilization": 60},
        )

    def test_pointer_zero_kept(self) -> None:
        """
        A pointer field set to zero (C{--replicas=0}) stays in the JSON, so defaulting does not
        replace it.
        """
        obj = decode(_read("1.33", "deployment-zero.bin"))
        self.assertEqual(obj["spec"]["replicas"], 0)

    def test_int_or_string_and_quantity(self) -> None:
        """
        C{IntOrString} becomes a JSON number or string, C{Quantity} its string.
        """
        svc = decode(_read("1.33", "service-nodeport.bin"))
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "http")
        pdb = decode(_read("1.33", "poddisruptionbudget-percent.bin"))
        self.assertEqual(pdb["spec"]["maxUnavailable"], "50%")
        quota = decode(_read("1.33", "quota.bin"))
        self.assertEqual(quota["spec"]["hard"], {"cpu": "1", "memory": "1Gi", "pods": "3"})

    def test_bytes_base64(self) -> None:
        """
        C{Secret.data} values (C{bytes}) come out base64-encoded.
        """
        secret = decode(_read("1.32", "secret-generic.bin"))
        self.assertEqual(secret["data"], {"a": "Yg=="})


class MessageTests(SynchronousTestCase):
    """
    Hand-made messages exercise the types the captured bodies do not.
    """

    def test_time(self) -> None:
        """
        C{metav1.Time} becomes RFC 3339 at second precision; the zero time is C{null}.
        """
        meta = _lfield(1, "x") + _lfield(8, _vfield(1, 1700000000) + _vfield(2, 5))
        self.assertEqual(
            decode_message("ObjectMeta", meta),
            {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z"},
        )
        self.assertEqual(decode_message("ObjectMeta", _lfield(8, b"")), {"creationTimestamp": None})

    def test_owner_references_and_finalizers(self) -> None:
        """
        Repeated messages, maps and pointer booleans of C{ObjectMeta} keep kube's JSON names.
        """
        owner = (
            _lfield(1, "ReplicaSet")
            + _lfield(3, "rs")
            + _lfield(4, "u1")
            + _lfield(5, "apps/v1")
            + _vfield(6, 1)
            + _vfield(7, 0)
        )
        meta = (
            _lfield(13, owner)
            + _lfield(14, "a/b")
            + _lfield(14, "c")
            + _lfield(12, _lfield(1, "k") + _lfield(2, "v"))
            + _vfield(7, 3)
        )
        self.assertEqual(
            decode_message("ObjectMeta", meta),
            {
                "generation": 3,
                "annotations": {"k": "v"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "rs",
                        "uid": "u1",
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
                "finalizers": ["a/b", "c"],
            },
        )

    def test_inline_and_negative(self) -> None:
        """
        Embedded structs (C{Volume.volumeSource}) are inlined; negative int32 varints decode signed.
        """
        volume = _lfield(1, "v") + _lfield(2, _lfield(2, _lfield(1, "Memory")))
        self.assertEqual(
            decode_message("Volume", volume), {"name": "v", "emptyDir": {"medium": "Memory"}}
        )
        port = _lfield(1, "p") + _vfield(3, -1) + _lfield(4, _vfield(1, 0) + _vfield(2, 8080))
        self.assertEqual(
            decode_message("ServicePort", port), {"name": "p", "port": -1, "targetPort": 8080}
        )

    def test_unknown_fields_skipped(self) -> None:
        """
        Fields a newer client adds are skipped, as Go's decoder skips them.
        """
        self.assertEqual(
            decode_message("LocalObjectReference", _lfield(1, "n") + _vfield(99, 7)),
            {"name": "n"},
        )

    def test_packed_repeated(self) -> None:
        """
        Packed repeated scalars decode the same as unpacked ones.
        """
        self.assertIn(
            "int32", protodesc.PACKABLE, "packed scalars are described in the message tables"
        )
        table = {1: ("xs", "int32", protodesc.REPEATED, "o")}
        protodesc.MESSAGES["_TestPacked"] = table
        self.addCleanup(protodesc.MESSAGES.pop, "_TestPacked")
        packed = _lfield(1, _varint(1) + _varint(300) + _varint(2))
        self.assertEqual(decode_message("_TestPacked", packed), {"xs": [1, 300, 2]})
        self.assertEqual(decode_message("_TestPacked", _vfield(1, 4) + _vfield(1, 5)), {"xs": [4, 5]})

    def test_go_duration(self) -> None:
        """
        C{metav1.Duration} uses Go's duration format.
        """
        self.assertEqual(go_duration(0), "0s")
        self.assertEqual(go_duration(3600 * 10**9), "1h0m0s")
        self.assertEqual(go_duration(90 * 10**9 + 5 * 10**8), "1m30.5s")
        self.assertEqual(go_duration(300 * 10**6), "300ms")

    def test_content_type(self) -> None:
        """
        The protobuf media type is recognised with or without parameters.
        """
        self.assertTrue(is_protobuf("application/vnd.kubernetes.protobuf"))
        self.assertTrue(is_protobuf("application/vnd.kubernetes.protobuf; charset=utf-8"))
        self.assertFalse(is_protobuf("application/json"))


class ErrorTests(SynchronousTestCase):
    """
    Bodies kapid cannot decode are answered the way kube-apiserver answers them.
    """

    def _error(self, body: bytes, expected_kind: str = "") -> StatusError:
        return self.assertRaises(StatusError, decode, body, expected_kind)

    def test_unknown_kind(self) -> None:
        """
        A kind without a message table is a 415 listing kube's media types for built-ins (or the
        types the caller names, as for custom resources).
        """
        err = self._error(_body("v1", "Event", _lfield(1, _lfield(1, "e"))))
        self.assertEqual(err.code, 415)
        self.assertEqual(err.reason, "UnsupportedMediaType")
        self.assertEqual(
            err.message,
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        )
        self.assertEqual(
            ACCEPTED_MEDIA_TYPES,
            ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf"),
        )
        err = self.assertRaises(
            StatusError,
            decode,
            _body("example.com/v1", "Widget", b""),
            accepted=("application/json", "application/yaml"),
        )
        self.assertTrue(err.message.endswith("include: application/json, application/yaml"))

    def test_truncated(self) -> None:
        """
        A truncated message is a 400 naming the kind and version.
        """
        body = _read("1.33", "configmap.bin")
        _, _, raw = envelope(body)
        err = self._error(_body("v1", "ConfigMap", raw[:-3]), "ConfigMap")
        self.assertEqual(err.code, 400)
        self.assertEqual(err.reason, "BadRequest")
        self.assertEqual(
            err.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: unexpected EOF'
        )

    def test_wrong_wire_type(self) -> None:
        """
        A field sent with the wrong wire type is a 400 in Go's words.
        """
        err = self._error(_body("v1", "Namespace", _lfield(1, _vfield(1, 5))))
        self.assertEqual(err.code, 400)
        self.assertEqual(
            err.message,
            'Namespace in version "v1" cannot be handled as a Namespace: '
            "proto: wrong wireType = 0 for field Name",
        )

    def test_no_magic(self) -> None:
        """
        A body without the C{k8s\\x00} prefix is a 400 quoting the start of the body.
        """
        err = self._error(b"\x0a\x02hi", "Namespace")
        self.assertEqual(err.code, 400)
        self.assertEqual(
            err.message,
            "the object provided is unrecognized (must be of type Namespace): provided data does "
            "not appear to be a protobuf message, expected prefix [107 56 115 0] (0a026869)",
        )

    def test_bad_envelope(self) -> None:
        """
        A broken envelope is a 400, with a long body summarised to 30 bytes.
        """
        err = self._error(b"k8s\x00" + b"\x0a\xff" + b"x" * 40)
        self.assertEqual(err.code, 400)
        self.assertTrue(err.message.endswith(" ...)"), err.message)
        self.assertIn("unexpected EOF", err.message)


class CaptureServerTests(SynchronousTestCase):
    """
    The capture server used to record the fixtures answers discovery and echoes bodies as JSON.
    """

    def test_discovery_and_echo(self) -> None:
        """
        Legacy discovery is served, and a protobuf POST is recorded and echoed as a JSON 201.
        """
        from treq.testing import StubTreq

        from kapid.testing.capture import CaptureResource

        resource = CaptureResource(decode=decode)
        client = StubTreq(resource)
        response = self.successResultOf(client.get("http://x/apis/apps/v1"))
        self.assertEqual(response.code, 200)
        listing = orjson.loads(self.successResultOf(response.content()))
        self.assertEqual(listing["resources"][0]["kind"], "Deployment")
        body = _read("1.33", "namespace.bin")
        response = self.successResultOf(
            client.post(
                "http://x/api/v1/namespaces",
                data=body,
                headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
            )
        )
        self.assertEqual(response.code, 201)
        echoed = orjson.loads(self.successResultOf(response.content()))
        self.assertEqual(echoed["metadata"]["name"], "demo")
        self.assertEqual(resource.requests[-1].body, body)
        self.assertEqual(resource.requests[-1].path, "/api/v1/namespaces")

    def test_objects_kept(self) -> None:
        """
        Created objects can be read back, listed across namespaces, replaced and evicted.
        """
        from treq.testing import StubTreq

        from kapid.testing.capture import CaptureResource

        resource = CaptureResource()
        client = StubTreq(resource)
        pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p1", "namespace": "default"}}
        response = self.successResultOf(
            client.post(
                "http://x/api/v1/namespaces/default/pods",
                data=orjson.dumps(pod),
                headers={"Content-Type": "application/json"},
            )
        )
        self.assertEqual(response.code, 201)
        response = self.successResultOf(client.get("http://x/api/v1/pods?fieldSelector=x"))
        listing = orjson.loads(self.successResultOf(response.content()))
        self.assertEqual((listing["kind"], listing["items"]), ("PodList", [pod]))
        response = self.successResultOf(client.get("http://x/api/v1/namespaces/default/pods/p1"))
        self.assertEqual(orjson.loads(self.successResultOf(response.content())), pod)
        response = self.successResultOf(
            client.post(
                "http://x/api/v1/namespaces/default/pods/p1/eviction",
                data=b'{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"p1"}}',
                headers={"Content-Type": "application/json"},
            )
        )
        self.assertEqual(response.code, 201)
        response = self.successResultOf(client.get("http://x/api/v1/namespaces/default/pods/p1"))
        self.assertEqual(response.code, 404)
